/**
 * `metaflow-cdk sfn compile` through the real binary: valid JSON on stdout and exit 0 for an
 * example; one line on stderr and exit 2 for each kind of bad input. No AWS endpoint is set:
 * compiling calls none.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliCaseResult, runCliCases } from '../../support/cli-cases';
import { PROCESS_GUARD_MS } from '../../support/guards';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: () => string };

const ROOT = join(__dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'metaflow-cdk.js');
const ENV = {
  PATH: process.env.PATH,
  METAFLOW_HOME: mkdtempSync(join(tmpdir(), 'mf-sfn-compile-')),
  METAFLOW_BATCH_JOB_QUEUE: 'mf-queue',
  METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-bucket/metaflow',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
};

const cli = (args: string[], env: Record<string, string | undefined> = ENV) => spawnSync(process.execPath, [BIN, 'sfn', 'compile', ...args], { cwd: ROOT, env, encoding: 'utf8' });

/** Bad input: what, the `sfn compile` arguments, the whole environment, the one line expected. */
const BAD_INPUT: Array<[string, string[], Record<string, string | undefined>, string]> = [
    ['a fair-share queue without a team', ['examples/hello.ts', '--queue', 'tq', '--fair-share-queue', 'tq'], ENV,
      'metaflow-cdk: flow "HelloFlow" cannot run on Step Functions: job queue "tq" has a fair-share scheduling policy and takes only jobs with a team: name one with --team <name>, METAFLOW_TEAM in the Metaflow config or the flow\'s team field\n'],
    ['a --team that is no team name', ['examples/hello.ts', '--team', 'ML'], ENV,
      'metaflow-cdk: --team: expected a team name (lowercase letters and digits, starting with a letter, at most 32), got "ML"\n'],
    [
      'a SERVICE_INTERNAL_URL without a scheme',
      ['examples/hello.ts'],
      { ...ENV, METAFLOW_SERVICE_URL: 'https://api.example.com/prod', METAFLOW_SERVICE_INTERNAL_URL: 'internal-nlb:8080' },
      'metaflow-cdk: METAFLOW_SERVICE_INTERNAL_URL (from the environment) must be an http:// or https:// URL, got "internal-nlb:8080"\n',
    ],
    ['a step Batch cannot run', ['examples/resilient.ts'], ENV, 'metaflow-cdk: flow "ResilientFlow" cannot run on Step Functions: step "hung": timeout on Batch must be at least 60 s, got 1 s\n'],
    ['fractional cpu on an EC2 queue', ['examples/fanout.ts'], ENV, 'metaflow-cdk: flow "FanoutFlow" cannot run on Step Functions: step "square": resources.cpu must be a whole number of vCPUs on EC2 (fractions only on Fargate), got 0.25\n'],
    ['a bad --param', ['examples/hello.ts', '--param', 'name'], ENV, 'metaflow-cdk: --param "name": expected name=value\n'],
    ['an unknown --with policy', ['examples/hello.ts', '--with', 'retyr'], ENV, 'metaflow-cdk: --with "retyr": unknown policy (available: retry)\n'],
    ['an unknown parameter', ['examples/hello.ts', '--param', 'nope=1'], ENV, 'metaflow-cdk: --param nope: flow "HelloFlow" has no parameter "nope" (did you mean "name"?)\n'],
    ['no such flow file', ['examples/nope.ts'], ENV, 'metaflow-cdk: flow file not found: examples/nope.ts\n'],
    [
      'no queue configured',
      ['examples/hello.ts'],
      { ...ENV, METAFLOW_BATCH_JOB_QUEUE: undefined },
      `metaflow-cdk: missing Metaflow config key METAFLOW_BATCH_JOB_QUEUE: set it in ${join(ENV.METAFLOW_HOME, 'config.json')} or the environment, or pass --queue (metaflow-cdk configure writes it from the stack)\n`,
    ],
];

// The table's cases in one CLI process (test/support/cli-cases.ts): a process each cost ~1 s of CPU to print one line.
let badInputResults: CliCaseResult[] = [];
beforeAll(() => {
  badInputResults = runCliCases(BAD_INPUT.map(([, args, env]) => ({ args: ['sfn', 'compile', ...args], env, cwd: ROOT, replaceEnv: true })));
}, PROCESS_GUARD_MS);

describe('metaflow-cdk sfn compile', () => {
  test('examples/hello.ts: the definition as JSON on stdout, valid ASL, exit 0', () => {
    const res = cli(['examples/hello.ts', '--param', 'name=mars']);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const definition = JSON.parse(res.stdout);
    expect(aslValidator(definition).isValid).toBe(true);
    expect(definition.States['Parameters.compiled'].Result).toEqual({ name: 'mars' });
    expect(definition.States['Run.steps'].Branches[0].States.start.Parameters.JobQueue).toBe('mf-queue');
  });

  test('--fargate-queue and --job-definitions: Fargate job definitions printed beside the definition', () => {
    const res = cli(['examples/fanout.ts', '--queue', 'fq', '--fargate-queue', 'fq', '--execution-role', 'arn:aws:iam::123456789012:role/exec', '--job-definitions']);
    expect(res.status).toBe(0);
    const { definition, jobDefinitions } = JSON.parse(res.stdout);
    expect(definition.StartAt).toBe('Parameters.compiled');
    expect(jobDefinitions.map((d: { platformCapabilities: string[] }) => d.platformCapabilities)).toEqual([['FARGATE'], ['FARGATE'], ['FARGATE'], ['FARGATE']]);
  });

  test('--fair-share-queue with --team (or METAFLOW_TEAM): every SubmitJob state on that queue carries the share', () => {
    for (const [args, env] of [[['--team', 'ml'], ENV], [[], { ...ENV, METAFLOW_TEAM: 'ml' }]] as const) {
      const res = cli(['examples/hello.ts', '--queue', 'tq', '--fair-share-queue', 'tq', ...args], env);
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      const states = JSON.parse(res.stdout).States['Run.steps'].Branches[0].States as Record<string, { Parameters?: Record<string, unknown> }>;
      const jobs = Object.values(states).filter((st) => st.Parameters?.JobQueue !== undefined);
      expect(jobs.length).toBe(3);
      for (const job of jobs) expect([job.Parameters!.ShareIdentifier, job.Parameters!.SchedulingPriorityOverride]).toEqual(['ml', 0]);
    }
  });

  test('a team profile (configure --team): its team queue is fair-share without --fair-share-queue', () => {
    const res = cli(['examples/hello.ts'], { ...ENV, METAFLOW_TEAM: 'ml', METAFLOW_BATCH_TEAM_JOB_QUEUE: 'ml-fair' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const start = JSON.parse(res.stdout).States['Run.steps'].Branches[0].States.start.Parameters;
    expect([start.JobQueue, start.ShareIdentifier]).toEqual(['ml-fair', 'ml']);
  });

  test('a metadata service in the config: every job registers itself with the internal URL, the key and the user (SERVICE_INTERNAL_URL as Metaflow\'s @batch passes it)', () => {
    const env = { ...ENV, METAFLOW_SERVICE_URL: 'https://api.example.com/prod/', METAFLOW_SERVICE_INTERNAL_URL: 'http://internal-nlb:8080', METAFLOW_SERVICE_AUTH_KEY: 'k3y', METAFLOW_USER: 'ada' };
    const res = cli(['examples/hello.ts', '--param', 'name=mars'], env);
    expect(res.stderr).toBe('');
    const states = JSON.parse(res.stdout).States['Run.steps'].Branches[0].States as Record<string, { Parameters: { ContainerOverrides: { Environment: { Name: string; Value: string }[] } } }>;
    for (const step of ['start', 'hello', 'end']) {
      const environment = Object.fromEntries(states[step].Parameters.ContainerOverrides.Environment.map((e) => [e.Name, e.Value]));
      expect(environment).toMatchObject({ MF_METADATA_REGISTER: '1', METAFLOW_SERVICE_URL: 'http://internal-nlb:8080', METAFLOW_SERVICE_AUTH_KEY: 'k3y', METAFLOW_USER: 'ada' });
    }
    // Without a service in the config, the jobs carry none of it.
    expect(cli(['examples/hello.ts', '--param', 'name=mars']).stdout).not.toContain('MF_METADATA_REGISTER');
  });

  test.each(BAD_INPUT.map(([what], i) => [what, i] as const))('%s: one line, exit 2', (_what, i) => {
    const res = badInputResults[i];
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(BAD_INPUT[i][3]);
    expect(res.code).toBe(2);
  });
});

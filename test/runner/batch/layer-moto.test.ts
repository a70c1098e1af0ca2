/**
 * The Batch layer against moto_server's Batch on 127.0.0.1 (`use_docker: false`: jobs succeed
 * without running anything), on the S3 datastore in the same moto: the real CLI runs
 * examples/hello.ts and examples/pyscripts/flow.ts with `--compute batch`, and the test checks
 * what reached AWS — the code package in the bucket, the job definitions moto registered, the
 * overrides of every job it was given; `jobs list|kill`, `logs`, `show`, `watch` and `resume`
 * on those runs; examples/sweep.ts (a 100-way foreach → one array job) through the layer; and a
 * moto whose jobs all fail (MOTO_SIMPLE_BATCH_FAIL_AFTER=0): a user retry as a new plain job,
 * then catch. Nothing runs, so these flows' control must not depend on what tasks write.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { DescribeJobDefinitionsCommand, DescribeJobsCommand, JobDetail, ListJobsCommand, RegisterJobDefinitionCommandInput, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { AwsClients } from '../../../runner/aws/clients';
import { loaderCommand, stage0Program } from '../../../runner/batch/job-shape';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { LocalDatastore } from '../../../runner/datastore/local';
import { RunSummary } from '../../../runner/datastore/types';
import { defineFlow } from '../../../runner/flow/model';
import hello from '../../../examples/hello';
import pyscripts from '../../../examples/pyscripts/flow';
import sweep from '../../../examples/sweep';
import { resolveParameters } from '../../../runner/flow/parameters';
import { FlowGraph, validateFlow } from '../../../runner/flow/validate';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { createMotoQueue } from './moto-queue';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, MotoServer, startMoto, workerMoto } from '../../support/moto';
import { fakeClock, tempDir } from '../support/harness';
import { expectPortableJobs, motoDatastore, storeTestCodePackage } from './code-package-fixture';
import { PROCESS_GUARD_MS } from '../../support/guards';
import { CliCaseResult, runCliCases } from '../../support/cli-cases';

const settings: BatchSettings = { queue: 'mf-queue', gpuQueue: 'mf-queue', datastoreRoot: { bucket: 'mf-data', prefix: 'metaflow', url: 's3://mf-data/metaflow' } };

async function motoWithQueue(env: Record<string, string> = {}): Promise<{ moto: MotoServer; aws: AwsClients }> {
  const moto = Object.keys(env).length ? await startMoto(env) : await workerMoto();
  await moto.configure({ batch: { use_docker: false } });
  const aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 2 });
  await createMotoQueue(moto.endpoint, aws.batch);
  await aws.s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
  return { moto, aws };
}

async function runOnMoto(moto: MotoServer, aws: AwsClients, graph: FlowGraph, params: string[] = []) {
  const notices: string[] = [];
  const datastore = motoDatastore(moto.endpoint, 'mf-data', 'metaflow');
  const codePackageUrl = await storeTestCodePackage(datastore, graph.flow.name);
  const layer = new BatchComputeLayer({ settings, codePackageUrl, batch: aws.batch, logs: aws.logs, logMode: 'failed', watcher: { minIntervalMs: 200, maxIntervalMs: 1000 }, notice: (l) => notices.push(l) });
  await layer.lookUp(graph);
  expect(layer.check(graph)).toEqual([]);
  const record = await runFlow({ graph, layer, datastore, parameters: resolveParameters(graph.flow, params).values, clock: fakeClock() });
  return { record, layer, notices };
}

function validGraph(flow: Parameters<typeof validateFlow>[0]): FlowGraph {
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  return v.graph;
}

const BIN = path.join(__dirname, '../../../bin/metaflow-cdk.js');
const EXAMPLES_DIR = path.join(__dirname, '../../../examples');

/** The real CLI, as a process; `env` on top of a clean Metaflow home and moto's credentials. */
function cli(args: string[], env: Record<string, string> = {}) {
  const home = tempDir('mfcdk-home-');
  const res = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: PROCESS_GUARD_MS,
    env: { ...process.env, CI: 'true', METAFLOW_HOME: home, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ...env },
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Bad `run --compute batch` flags: the flags, the line expected. */
const BAD_BATCH_FLAGS: Array<[string[], RegExp]> = [
    [['--compute', 'batch'], /^metaflow-cdk: missing Metaflow config key METAFLOW_BATCH_JOB_QUEUE: set it in .* or pass --queue/],
    [['--compute', 'batch', '--queue', 'q', '--logs', 'some'], /^metaflow-cdk: --logs must be one of all, failed, none, got "some"/],
    [['--queue', 'q'], /^metaflow-cdk: --queue only applies to --compute batch/],
    [['--logs', 'none'], /^metaflow-cdk: --logs only applies to --compute batch/],
    [['--compute', 'batch', '--queue', 'q', '--poll-interval', '0'], /^metaflow-cdk: --poll-interval must be a number of seconds from 0.1 to 120, got "0"$/m],
];

describe('metaflow-cdk run --compute batch: bad input is one line, exit 2, nothing runs', () => {
  // In one CLI process (test/support/cli-cases.ts): a process each cost ~1 s of CPU to print one line.
  const roots = BAD_BATCH_FLAGS.map(() => tempDir('mfcdk-root-'));
  let results: CliCaseResult[] = [];
  beforeAll(() => {
    results = runCliCases(BAD_BATCH_FLAGS.map(([args], i) => ({
      args: ['run', path.join(EXAMPLES_DIR, 'hello.ts'), '--root', roots[i], ...args],
      env: { CI: 'true', METAFLOW_HOME: tempDir('mfcdk-home-'), AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' },
    })));
  }, PROCESS_GUARD_MS);

  test.each(BAD_BATCH_FLAGS.map(([args], i) => [args, i] as const))('%j', (_args, i) => {
    expect(results[i].code).toBe(2);
    expect(results[i].stderr).toMatch(BAD_BATCH_FLAGS[i][1]);
    expect(fs.readdirSync(roots[i])).toEqual([]);
  });
});

/** A run record in a local datastore, as a runner leaves it: `running` with an owner, or ended. */
async function storedRun(root: string, summary: Partial<RunSummary>): Promise<string> {
  const datastore = new LocalDatastore(root);
  const runId = datastore.newRunId();
  await datastore.writeTaskChunk('HelloFlow', runId, 0, []);
  await datastore.writeRunSummary({ flow: 'HelloFlow', runId, status: 'running', startedAt: new Date().toISOString(), parameters: {}, withRetry: false, compute: 'batch', taskCount: 0, ...summary }, true);
  return runId;
}

describe('metaflow-cdk watch <run-id>: a run that cannot be watched is one line, exit 2', () => {
  const root = tempDir('mfcdk-root-');
  const deadPid = spawnSync('true').pid!;
  const owner = (pid: number) => ({ pid, host: os.hostname(), heartbeatAt: new Date().toISOString() });
  test.each<[string, Partial<RunSummary> | undefined, RegExp]>([
    ['an unknown run', undefined, /^metaflow-cdk: unknown run id "nosuch" in .* \(see `metaflow-cdk runs`\)\n$/],
    ['a live run', { owner: owner(process.pid) }, /^metaflow-cdk: run \S+ is still running \(pid \d+ on .*\); its runner is watching it\n$/],
    ['a finished run', { status: 'succeeded', owner: owner(deadPid) }, /^metaflow-cdk: run \S+ has already ended \(succeeded\); nothing to watch \(see `metaflow-cdk show \S+ --root \S+`\)\n$/],
    ['a dead local run', { compute: 'local', owner: owner(deadPid) }, /^metaflow-cdk: run \S+ ran on the local compute layer, whose tasks died with their runner; `metaflow-cdk resume \S+ --root \S+` reruns what did not succeed\n$/],
  ])('%s', async (_name, summary, message) => {
    const runId = summary ? await storedRun(root, summary) : 'nosuch';
    const r = cli(['watch', runId, '--datastore', 'local', '--root', root]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});

test('run --compute batch --datastore local is refused in one line, exit 2, nothing written: containers cannot reach a local directory', () => {
  const root = tempDir('mfcdk-root-');
  const r = cli(['run', path.join(EXAMPLES_DIR, 'hello.ts'), '--compute', 'batch', '--queue', 'q', '--datastore', 'local', '--root', root], { METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow' });
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('metaflow-cdk: --compute batch --datastore local: AWS Batch containers cannot read a directory on this machine; use --datastore s3 (the default with --compute batch)\n');
  expect(fs.readdirSync(root)).toEqual([]);
});

/** What moto was given for a run: its jobs (DescribeJobs echoes each job's container environment) and their definitions. */
async function sentToMoto(aws: AwsClients, flow: string, runId: string): Promise<{ jobs: JobDetail[]; submitted: SubmitJobCommandInput[]; definitions: Map<string, RegisterJobDefinitionCommandInput> }> {
  const listed = await aws.batch.send(new ListJobsCommand({ jobQueue: 'mf-queue', filters: [{ name: 'JOB_NAME', values: [`${flow}-${runId}-*`] }] }));
  const ids = (listed.jobSummaryList ?? []).map((j) => j.jobId!);
  const jobs = ids.length ? (await aws.batch.send(new DescribeJobsCommand({ jobs: ids }))).jobs! : [];
  const registered = (await aws.batch.send(new DescribeJobDefinitionsCommand({}))).jobDefinitions ?? [];
  const definitions = new Map(registered.map((d) => [d.jobDefinitionArn!, d as RegisterJobDefinitionCommandInput]));
  // moto keeps a job's container environment as it was submitted (the overrides); the definitions here have none of their own
  const submitted = jobs.map((j) => ({ jobName: j.jobName, jobQueue: j.jobQueue, jobDefinition: j.jobDefinition, containerOverrides: { environment: j.container?.environment } }));
  return { jobs, submitted, definitions };
}

/** A code package's file names, listed by tar. */
function packageFiles(bytes: Uint8Array): string[] {
  const file = path.join(tempDir('mfcdk-pkg-'), 'package.tgz');
  fs.writeFileSync(file, bytes);
  const listed = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' });
  if (listed.status !== 0) throw new Error(`tar -tzf failed: ${listed.stderr}`);
  return listed.stdout.split('\n').filter(Boolean).map((f) => f.replace(/^\.\//, ''));
}

describeWithTool('moto_server', 'Batch layer against moto_server', () => {
  let ok: { moto: MotoServer; aws: AwsClients };
  beforeAll(async () => {
    ok = await motoWithQueue();
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    ok?.aws.destroy();
    await ok?.moto.stop();
  });

  const cliEnv = () => ({ AWS_ENDPOINT_URL: ok.moto.endpoint, METAFLOW_BATCH_JOB_QUEUE: 'mf-queue', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow' });

  /**
   * The real CLI runs `flowFile` on moto's Batch with the S3 datastore; then the checks of what
   * AWS received: the code package, every definition and every job's overrides.
   */
  async function cliRun(flowFile: string, flowName: string, steps: readonly { command: readonly string[] }[], extra: string[] = []) {
    const r = cli(['run', flowFile, '--compute', 'batch', '--logs', 'none', '--poll-interval', '0.5', ...extra], cliEnv());
    expect(r.stderr).toMatch(new RegExp(`AWS API calls: \\d+ \\(.*SubmitJob ${steps.length}\\)`));
    expect(r.code).toBe(0);
    const runId = new RegExp(`${flowName} run (\\S+) succeeded`).exec(r.stdout)![1];
    // the code package, where runner/package puts it: <root>/<flow>/data/<sha[:2]>/<sha>
    const url = /^code package: \d+ files, .*, (s3:\/\/\S+) \((?:uploaded|already there)\)$/m.exec(r.stdout)![1];
    const m = new RegExp(`^s3://mf-data/metaflow/${flowName}/data/([0-9a-f]{2})/(\\1[0-9a-f]{38})$`).exec(url);
    expect(m).not.toBeNull();
    const object = await ok.aws.s3.send(new GetObjectCommand({ Bucket: 'mf-data', Key: url.slice('s3://mf-data/'.length) }));
    const bytes = await object.Body!.transformToByteArray();
    expect(createHash('sha1').update(bytes).digest('hex')).toBe(m![2]);
    const files = packageFiles(bytes);
    expect(files).toContain('_mfcdk/mfcdk_task.py');

    const sent = await sentToMoto(ok.aws, flowName, runId);
    expect(sent.jobs).toHaveLength(steps.length);
    // every job's definition: one container, the loader with a step's argv
    const used = sent.jobs.map((j) => sent.definitions.get(j.jobDefinition!)!);
    expect(used.map((d) => d.type)).toEqual(steps.map(() => 'container'));
    expect(used.map((d) => d.containerProperties!.command).sort()).toEqual(steps.map((s) => loaderCommand(s.command)).sort());
    // every job's overrides reached moto: the code package's URL, and fit ECS with the definition
    for (const job of sent.jobs) expect(Object.fromEntries(job.container!.environment!.map((kv) => [kv.name, kv.value]))).toMatchObject({ MF_CODE_URL: url, MF_DATASTORE_URL: 's3://mf-data/metaflow', MF_RUN_ID: runId });
    expect(expectPortableJobs(sent.submitted, sent.definitions)).toBe(steps.length);
    // nothing is installed at job start: no package manager in any command or environment (stage 0 is checked as stage0.py)
    for (const d of used) expect(d.containerProperties!.command![4]).toBe(stage0Program());
    const said = JSON.stringify({ commands: used.map((d) => d.containerProperties!.command!.filter((_, i) => i !== 4)), env: sent.jobs.map((j) => j.container!.environment) });
    expect(said).not.toMatch(/\b(dnf|yum|apt-get|apt|apk|pip3?|conda)\b/);
    return { r, runId, url, files, sent };
  }

  test('the real CLI: run examples/hello.ts --compute batch on the S3 datastore — the code package in the bucket, one-container definitions, overrides that fit; show, logs, jobs list / jobs kill', async () => {
    const env = cliEnv();
    const { r, runId, files } = await cliRun(path.join(EXAMPLES_DIR, 'hello.ts'), 'HelloFlow', hello.steps);
    expect(files).toEqual(expect.arrayContaining(['hello.ts', 'pyscripts/train.py']));
    // the run is kept in S3
    const records = await ok.aws.s3.send(new ListObjectsV2Command({ Bucket: 'mf-data', Prefix: `metaflow/HelloFlow/${runId}/` }));
    expect((records.Contents ?? []).map((o) => o.Key)).toContain(`metaflow/HelloFlow/${runId}/run.json`);
    const show = cli(['show', runId, '--datastore', 's3'], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`Run ${runId} of HelloFlow: succeeded`);
    // the API calls printed at the end of the run, kept in its record
    expect(show.stdout).toContain(`\n  ${/AWS API calls: .*\)/.exec(r.stderr)![0]}\n`);
    // --logs none copied no lines: `logs` reads the attempt's log where Batch put it (CloudWatch, through the job id)
    const startJob = JSON.parse(cli(['show', runId, '--json', '--datastore', 's3'], env).stdout).tasks[0].attempts[0].externalId as string;
    const stream = (await ok.aws.batch.send(new DescribeJobsCommand({ jobs: [startJob] }))).jobs![0].container!.logStreamName!;
    await ok.aws.logs.send(new CreateLogGroupCommand({ logGroupName: '/aws/batch/job' })).catch(() => undefined);
    await ok.aws.logs.send(new CreateLogStreamCommand({ logGroupName: '/aws/batch/job', logStreamName: stream })).catch(() => undefined);
    await ok.aws.logs.send(new PutLogEventsCommand({ logGroupName: '/aws/batch/job', logStreamName: stream, logEvents: [{ message: 'hello from CloudWatch', timestamp: Date.now() }] }));
    const logs = cli(['logs', `${runId}/start/0`, '--datastore', 's3'], env);
    expect(logs.stdout).toContain('hello from CloudWatch\n');
    expect(logs.code).toBe(0);
    // `end`'s stream was never written: one line saying both where no lines are and why
    const none = cli(['logs', `${runId}/end/0`, '--datastore', 's3'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^metaflow-cdk: attempt 0 of \S+\/end\/0 has no lines in the datastore \(it printed nothing, or the run kept no copy: --logs failed\|none, watch\) and logs of \S+: log stream \S+ of job \S+ is not in CloudWatch Logs group \/aws\/batch\/job \(expired or deleted\)$/m);
    const list = cli(['jobs', 'list', '--run', runId], env);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => l.split('\t').slice(1, 3).join(' '))).toEqual(['SUCCEEDED start/0#0', 'SUCCEEDED hello/0#0', 'SUCCEEDED end/0#0']);
    const kill = cli(['jobs', 'kill', '--run', runId], env);
    expect(kill.code).toBe(0);
    expect(kill.stdout).toBe('terminated 0 AWS Batch jobs\nalready finished: 3\n');
  }, 120_000);

  test("the real CLI: run examples/pyscripts/flow.ts --compute batch — the scripts travel in the code package, each step's argv in its definition", async () => {
    const { files } = await cliRun(path.join(EXAMPLES_DIR, 'pyscripts', 'flow.ts'), 'PyScriptsFlow', pyscripts.steps, ['--param', 'rows=50']);
    expect(files).toEqual(expect.arrayContaining(['flow.ts', 'prepare.py', 'train.py', 'report.py', '_mfcdk/mfcdk_task.py', '_mfcdk/metaflow_cdk.py']));
  }, 120_000);

  test('examples/sweep.ts through the layer: the 100-way foreach is ONE array job in moto, every child on record', async () => {
    const { record, layer } = await runOnMoto(ok.moto, ok.aws, validGraph(sweep));
    expect(record.status).toBe('succeeded');
    const train = record.tasks.filter((t) => t.step === 'train');
    expect(train).toHaveLength(100);
    expect(train.every((t) => t.status === 'succeeded')).toBe(true);
    const parent = train[0].attempts[0].externalId!.split(':')[0];
    expect(train.map((t) => t.attempts[0].externalId)).toEqual(train.map((t) => `${parent}:${t.taskId}`));
    expect(layer.calls.snapshot().SubmitJob).toBe(4);
    const children = await ok.aws.batch.send(new ListJobsCommand({ arrayJobId: parent, jobStatus: 'SUCCEEDED' }));
    expect(children.jobSummaryList?.length).toBe(100);
  }, 180_000);

  test('the real CLI: a run whose runner was killed (SIGKILL) after its first job is watched to the end with `watch`, its job recorded; resume then reuses it', async () => {
    const env = cliEnv();
    const s3 = ['--datastore', 's3'];
    const home = tempDir('mfcdk-home-');
    const runner = spawn(process.execPath, [BIN, 'run', path.join(EXAMPLES_DIR, 'hello.ts'), '--compute', 'batch', '--logs', 'none'], {
      env: { ...process.env, CI: 'true', METAFLOW_HOME: home, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => runner.on('exit', resolve));
    let runId: string | undefined;
    // The runner submits start, then waits for its first poll (5 s): kill it as soon as the job exists.
    for (let i = 0; i < 400; i += 1) {
      runId ??= /HelloFlow run (\S+) \(/.exec(out)?.[1];
      const listed = runId ? await ok.aws.batch.send(new ListJobsCommand({ jobQueue: 'mf-queue', filters: [{ name: 'JOB_NAME', values: [`HelloFlow-${runId}-*`] }] })) : undefined;
      if (listed?.jobSummaryList?.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    runner.kill('SIGKILL');
    await exited;
    expect(runId).toBeDefined();
    expect(out).not.toMatch(/HelloFlow run \S+ (succeeded|failed)/);

    const watched = cli(['watch', runId!, '--poll-interval', '0.5'], env);
    expect(watched.stdout).toMatch(new RegExp(`^Watching HelloFlow run ${runId}: its runner \\(pid ${runner.pid} on .*\\) is gone; last heartbeat .*; 1 AWS Batch job found\n`));
    expect(watched.stdout).toContain('[start/0#0] succeeded: exit code 0\n');
    expect(watched.stdout).toMatch(new RegExp(`HelloFlow run ${runId} interrupted in .*: its runner died .*; \`metaflow-cdk watch\` followed its 1 AWS Batch job to the end \\(1 attempt succeeded, 0 failed\\); \`metaflow-cdk resume ${runId}\` runs what did not succeed\n$`));
    // the job's queue looked up once, for the compute environment of its usage (runner/usage)
    expect(watched.stderr).toMatch(/^metaflow-cdk: AWS API calls: \d+ \(DescribeComputeEnvironments 1, DescribeJobQueues 1, DescribeJobs \d+, ListJobs 1\)$/m);
    expect(watched.code).toBe(1);
    const show = cli(['show', runId!, '--json', ...s3], env);
    const record = JSON.parse(show.stdout);
    expect(record.status).toBe('interrupted');
    expect(record.apiCalls).toEqual({ DescribeComputeEnvironments: 1, DescribeJobQueues: 1, DescribeJobs: expect.any(Number), ListJobs: 1 });
    expect(record.tasks.find((t: { step: string }) => t.step === 'start')).toMatchObject({ status: 'succeeded', attempts: [{ attempt: 0, status: 'succeeded', exitCode: 0 }] });
    // ended now: a second watch is refused
    const again = cli(['watch', runId!, '--poll-interval', '0.5'], env);
    expect(again.code).toBe(2);
    expect(again.stderr.split('\n')).toContain(`metaflow-cdk: run ${runId} has already ended (interrupted); nothing to watch (see \`metaflow-cdk show ${runId} --datastore s3\`)`);
    // resume reuses what the watch recorded (start's status.json) and runs the rest
    const resumed = cli(['resume', runId!, ...s3, '--poll-interval', '0.5'], env);
    expect(resumed.stdout).toContain(`[start/0] reused from run ${runId}`);
    expect(resumed.stdout).toMatch(/HelloFlow run \S+ succeeded/);
    expect(resumed.code).toBe(0);
  }, 120_000);

  describe('a moto whose jobs all fail', () => {
    let failing: { moto: MotoServer; aws: AwsClients };
    beforeAll(async () => {
      failing = await motoWithQueue({ MOTO_SIMPLE_BATCH_FAIL_AFTER: '0' });
    }, MOTO_START_TIMEOUT_MS);
    afterAll(async () => {
      failing?.aws.destroy();
      await failing?.moto.stop();
    });

    test('retry is a new plain job with the next attempt, then catch lets the flow go on', async () => {
      const flow = defineFlow({
        name: 'FailFlow',
        image: 'busybox',
        steps: [
          { name: 'start', command: ['false'], retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'err' }, next: 'end' },
          { name: 'end', command: ['true'], catch: { var: 'endErr' } },
        ],
      });
      const { record } = await runOnMoto(failing.moto, failing.aws, validGraph(flow));
      const start = record.tasks.find((t) => t.step === 'start')!;
      expect(start.status).toBe('caught');
      expect(start.attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
      expect(start.attempts[0].externalId).not.toBe(start.attempts[1].externalId);
      expect(record.tasks.find((t) => t.step === 'end')!.status).toBe('caught');
      expect(record.status).toBe('succeeded');
    }, 120_000);
  });
}, ['--help']);

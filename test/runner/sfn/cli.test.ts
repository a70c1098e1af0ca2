/**
 * `metaflow-cdk sfn …` through the real CLI (a process, as users run it): every bad input is one
 * line with exit 2 and no AWS call; against moto_server on 127.0.0.1, trigger, status (by ARN and
 * by run id), list, schedule on/again/off and delete, then the one-line errors about what is gone.
 * moto cannot run `batch:submitJob.sync` (DESIGN §5): the state machine these commands drive is
 * two Pass states, deployed through the deployer library (tested in moto.test.ts).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { DescribeRuleCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { AwsClients } from '../../../runner/aws/clients';
import { deployStateMachine, executionStatus, flowStateMachineName, SfnContext } from '../../../runner/sfn';
import { describeWithTool } from '../../support/external-tool';
import { EVENTS_ROLE, PASS_DEFINITION, PREFIX, sfnEnv, SfnMoto, startSfnMoto } from './support';
import { MOTO_START_TIMEOUT_MS } from '../../support/moto';
import { PROCESS_GUARD_MS } from '../../support/guards';
import { CliCaseResult, runCliCases } from '../../support/cli-cases';

const BIN = path.join(__dirname, '../../../bin/metaflow-cdk.js');
const HELLO = path.join(__dirname, '../../../examples/hello.ts');
/** Nothing listens here: a command that called AWS would fail with exit 1, not 2. */
const NO_AWS = 'http://127.0.0.1:9';

/** The real CLI as a process, with the Step Functions config of the stack (`sfnEnv`) plus `env`. */
function cliEnv(env: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { CI: 'true', AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: NO_AWS, ...sfnEnv(env) };
}

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const res = spawnSync(process.execPath, [BIN, 'sfn', ...args], { encoding: 'utf8', timeout: PROCESS_GUARD_MS, env: { ...process.env, ...cliEnv(env) } });
  /** The CLI's own lines on stderr (Node's or the SDK's warnings aside). */
  const errors = res.stderr.split('\n').filter((l) => l.startsWith('metaflow-cdk:'));
  return { code: res.status, stdout: res.stdout, stderr: res.stderr, errors };
}

/** Bad input, one case each: what, the sfn arguments, the config on top of the stack's, the one line expected. */
const BAD_INPUT: Array<[string, string[], Record<string, string | undefined>, RegExp]> = [
    ['missing config key', ['list'], { METAFLOW_SFN_STATE_MACHINE_PREFIX: undefined },
      /^metaflow-cdk: missing Metaflow config key METAFLOW_SFN_STATE_MACHINE_PREFIX: set it in .*config\.json or the environment, or pass --prefix/],
    ['bad prefix flag', ['list', '--prefix', 'my_stack'], {}, /^metaflow-cdk: SFN_STATE_MACHINE_PREFIX must be 1–40 letters, digits or "-" .*got "my_stack"$/],
    ['bad cron', ['schedule', 'HelloFlow', '--cron', '0 6 * * * *'], {},
      /^metaflow-cdk: bad schedule expression "cron\(0 6 \* \* \* \*\)": exactly one of day-of-month and day-of-week must be "\?"/],
    ['bad rate', ['schedule', 'HelloFlow', '--cron', 'rate(1 days)'], {}, /^metaflow-cdk: bad schedule expression "rate\(1 days\)": /],
    ['schedule without --cron or --off', ['schedule', 'HelloFlow'], {}, /^metaflow-cdk: sfn schedule takes either --cron "<expression>" or --off$/],
    ['schedule without the events role', ['schedule', 'HelloFlow', '--cron', 'rate(1 day)'], { METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: undefined },
      /^metaflow-cdk: missing Metaflow config key METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: .*or pass --events-role/],
    ['unknown flow file', ['trigger', 'flows/missing.ts'], {}, /^metaflow-cdk: flow file not found: flows\/missing\.ts$/],
    ['unknown parameter', ['trigger', HELLO, '--param', 'colour=red'], {}, /^metaflow-cdk: --param colour: flow "HelloFlow" has no parameter "colour" \(parameters: name\)$/],
    ['a misspelt parameter flag', ['trigger', HELLO, '--nmae', 'x'], {}, /^metaflow-cdk: unknown option --nmae: not an option of sfn trigger nor a parameter of flow "HelloFlow" \(did you mean --name\?\)$/],
    ['a misspelt --param', ['trigger', HELLO, '--param', 'nmae=x'], {}, /^metaflow-cdk: --param nmae: flow "HelloFlow" has no parameter "nmae" \(did you mean "name"\?\)$/],
    ['--param with a name', ['trigger', 'HelloFlow', '--param', 'name=x'], {}, /^metaflow-cdk: --param needs the flow file to check the values against: .*got the name "HelloFlow"/],
    ['bad state machine name', ['delete', `${PREFIX}_bad name`], {}, /^metaflow-cdk: state machine name must be 1–80 letters, digits, "_" or "-", got "mfstack_bad name"/],
    ['bad role', ['delete', 'HelloFlow', '--role', 'sfn-role'], {}, /^metaflow-cdk: SFN_IAM_ROLE must be an IAM role ARN .*got "sfn-role"$/],
    ['run id without --flow', ['status', 'sfn-20261121-101010-abcdef'], {}, /^metaflow-cdk: run id "sfn-20261121-101010-abcdef" needs --flow <flow-file\|name>/],
    ['bad run id', ['status', 'run 1', '--flow', 'HelloFlow'], {}, /^metaflow-cdk: run id \(the execution name\) must be 1–80 letters, digits, "_" or "-", got "run 1"$/],
    ['bad execution ARN', ['status', 'arn:aws:states:us-east-1:123:execution:x'], {}, /^metaflow-cdk: execution must be an execution ARN .*got "arn:aws:states:us-east-1:123:execution:x"$/],
    ['unknown subcommand', ['bogus'], {}, /^metaflow-cdk: unknown command 'bogus'/],
];

describe('metaflow-cdk sfn: bad input is one line naming the thing and the value, exit 2, no AWS call', () => {
  // The table's cases in one CLI process (test/support/cli-cases.ts): a process each cost ~1 s of CPU to print one line.
  let results: CliCaseResult[] = [];
  beforeAll(() => {
    results = runCliCases(BAD_INPUT.map(([, args, env]) => ({ args: ['sfn', ...args], env: cliEnv(env) })));
  }, PROCESS_GUARD_MS);

  test.each(BAD_INPUT.map(([what], i) => [what, i] as const))('%s', (_what, i) => {
    const r = results[i];
    expect(r.stderr.split('\n').filter((l) => l.startsWith('metaflow-cdk:'))).toEqual([expect.stringMatching(BAD_INPUT[i][3])]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  test('deploy reports every problem found without AWS at once: flow file, prefix, role, Batch keys', () => {
    const r = cli(['deploy', 'flows/missing.ts', '--prefix', 'bad_p'], { METAFLOW_SFN_IAM_ROLE: undefined });
    expect(r.errors).toEqual([
      'metaflow-cdk: flow file not found: flows/missing.ts',
      expect.stringMatching(/^metaflow-cdk: SFN_STATE_MACHINE_PREFIX must be .*got "bad_p"$/),
      expect.stringMatching(/^metaflow-cdk: missing Metaflow config key METAFLOW_SFN_IAM_ROLE: .*or pass --role/),
      expect.stringMatching(/^metaflow-cdk: missing Metaflow config key METAFLOW_BATCH_JOB_QUEUE: .*or pass --queue/),
    ]);
    expect(r.code).toBe(2);
  });

  test('deploy checks --param against the flow like run', () => {
    const r = cli(['deploy', HELLO, '--queue', 'q', '--datastore-root', 's3://mf-data/metaflow', '--param', 'name', '--param', 'x=1']);
    expect(r.errors).toEqual(['metaflow-cdk: --param "name": expected name=value', 'metaflow-cdk: --param x: flow "HelloFlow" has no parameter "x" (parameters: name)']);
    expect(r.code).toBe(2);
  });
});

test('an AWS endpoint that cannot be reached is one line, exit 1', () => {
  const r = cli(['list']);
  expect(r.errors).toEqual([expect.stringMatching(/^metaflow-cdk: AWS call failed: connect ECONNREFUSED 127\.0\.0\.1:9$/)]);
  expect(r.code).toBe(1);
});

describeWithTool('moto_server', 'metaflow-cdk sfn against moto_server', () => {
  let sfnMoto: SfnMoto;
  let aws: AwsClients;
  let ctx: SfnContext;
  const name = flowStateMachineName(PREFIX, 'HelloFlow');
  const onMoto = (args: string[], env: Record<string, string | undefined> = {}) => cli(args, { AWS_ENDPOINT_URL: sfnMoto.moto.endpoint, ...env });

  beforeAll(async () => {
    sfnMoto = await startSfnMoto();
    ({ aws, ctx } = sfnMoto);
  }, MOTO_START_TIMEOUT_MS);
  afterAll(() => sfnMoto?.stop());

  test('deploy: a job queue that cannot take jobs is one line naming it and its steps, exit 2, nothing deployed', () => {
    const r = onMoto(['deploy', HELLO, '--queue', 'no-such-queue', '--datastore-root', 's3://mf-data/metaflow']);
    expect(r.errors).toEqual(['metaflow-cdk: job queue "no-such-queue" does not exist (used by steps start, hello, end)']);
    expect(r.code).toBe(2);
    expect(onMoto(['list']).stdout).toBe('');
  });

  test('trigger, status by ARN and by run id, list, schedule on/again/off, delete; then what is gone is one line', async () => {
    const deployed = await deployStateMachine(ctx, name, PASS_DEFINITION, { flow: 'HelloFlow', deployedBy: 'test' });

    // trigger with the flow file: --param checked and typed against the flow, only given values sent.
    const started = onMoto(['trigger', HELLO, '--param', 'name=moto']);
    expect(started.errors).toEqual([]);
    expect(started.code).toBe(0);
    const [, runId, arn] = /^started run (sfn-\d{8}-\d{6}-[0-9a-f]{6}) of mfstack_HelloFlow\n {2}execution (\S+)\n$/.exec(started.stdout) ?? [];
    expect(arn).toBe(`${deployed.stateMachineArn.replace(':stateMachine:', ':execution:')}:${runId}`);
    expect(JSON.parse((await aws.sfn.send(new DescribeExecutionCommand({ executionArn: arn }))).input!)).toEqual({ Parameters: { name: 'moto' } });
    for (let i = 0; i < 100 && (await executionStatus(ctx, arn)).status === 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 100));

    const byArn = onMoto(['status', arn]);
    expect(byArn.code).toBe(0);
    expect(byArn.stdout).toMatch(new RegExp(`^Run ${runId} of ${name}: SUCCEEDED`));
    expect(byArn.stdout).toContain(`  execution ${arn}\n`);
    const rows = byArn.stdout.split('\n').filter((l) => /^(state|start|end) /.test(l)).map((l) => l.split(/\s{2,}/).slice(0, 4));
    expect(rows).toEqual([['state', 'type', 'status', 'attempts'], ['start', 'Pass', 'SUCCEEDED', '1'], ['end', 'Pass', 'SUCCEEDED', '1']]);
    const byRunId = onMoto(['status', runId, '--flow', 'HelloFlow', '--json']);
    expect(byRunId.code).toBe(0);
    expect(JSON.parse(byRunId.stdout)).toMatchObject({ executionArn: arn, runId, stateMachine: name, status: 'SUCCEEDED', states: [{ name: 'start' }, { name: 'end' }] });

    const listed = onMoto(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout.split('\n')[1].split(/\s{2,}/)).toEqual([name, expect.stringMatching(/^\d{4}-/), runId, 'SUCCEEDED', expect.stringMatching(/^\d{4}-/)]);
    expect(JSON.parse(onMoto(['list', '--json']).stdout)).toEqual([
      expect.objectContaining({ name, stateMachineArn: deployed.stateMachineArn, latest: expect.objectContaining({ executionArn: arn, runId, status: 'SUCCEEDED' }) }),
    ]);

    // schedule by flow file with six bare cron fields; again by state machine name with a rate.
    const scheduled = onMoto(['schedule', HELLO, '--cron', '0 6 ? * MON-FRI *']);
    expect(scheduled.errors).toEqual([]);
    expect(scheduled.stdout).toBe(`scheduled ${name}: cron(0 6 ? * MON-FRI *) (rule arn:aws:events:us-east-1:123456789012:rule/${name})\n`);
    expect(await aws.events.send(new DescribeRuleCommand({ Name: name }))).toMatchObject({ ScheduleExpression: 'cron(0 6 ? * MON-FRI *)', State: 'ENABLED' });
    expect((await aws.events.send(new ListTargetsByRuleCommand({ Rule: name }))).Targets).toEqual([
      expect.objectContaining({ Arn: deployed.stateMachineArn, RoleArn: EVENTS_ROLE }),
    ]);
    expect(onMoto(['schedule', name, '--cron', 'rate(1 day)']).code).toBe(0);
    expect((await aws.events.send(new DescribeRuleCommand({ Name: name }))).ScheduleExpression).toBe('rate(1 day)');
    expect((await aws.events.send(new ListTargetsByRuleCommand({ Rule: name }))).Targets).toHaveLength(1);
    expect(onMoto(['schedule', 'HelloFlow', '--off']).stdout).toBe(`unscheduled ${name}\n`);
    await expect(aws.events.send(new DescribeRuleCommand({ Name: name }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const again = onMoto(['schedule', 'HelloFlow', '--off']);
    expect([again.code, again.stdout]).toEqual([0, `${name} had no schedule\n`]);

    // delete takes its schedule with it.
    expect(onMoto(['schedule', 'HelloFlow', '--cron', 'rate(5 minutes)']).code).toBe(0);
    const deleted = onMoto(['delete', HELLO]);
    expect(deleted.errors).toEqual([]);
    expect(deleted.stdout).toBe(`deleted state machine ${name} and its schedule: ${deployed.stateMachineArn}\n`);
    await expect(aws.events.send(new DescribeRuleCommand({ Name: name }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const empty = onMoto(['list']);
    expect([empty.code, empty.stdout, empty.errors]).toEqual([0, '', [`metaflow-cdk: no state machines named ${PREFIX}_* (deploy one with \`metaflow-cdk sfn deploy <flow-file>\`)`]]);

    const gone = `metaflow-cdk: no state machine "${name}" (${deployed.stateMachineArn}): deploy the flow first (see \`metaflow-cdk sfn list\`)`;
    for (const args of [['trigger', 'HelloFlow'], ['delete', name], ['schedule', HELLO, '--off'], ['schedule', 'HelloFlow', '--cron', 'rate(1 day)']]) {
      const r = onMoto(args);
      expect([args, r.code, r.errors]).toEqual([args, 2, [gone]]);
    }
    const noExecution = onMoto(['status', 'sfn-20261121-000000-000000', '--flow', 'Other']);
    expect([noExecution.code, noExecution.errors]).toEqual([2, [`metaflow-cdk: no execution "${deployed.stateMachineArn.replace(':stateMachine:mfstack_HelloFlow', ':execution:mfstack_Other')}:sfn-20261121-000000-000000"`]]);
  }, PROCESS_GUARD_MS);
}, ['--help']);

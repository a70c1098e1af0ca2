/**
 * `metaflow-cdk sfn deploy --trigger` (the CLI in-process through main()) with Step Functions,
 * EventBridge, S3 and CloudWatch Logs on moto_server and AWS Batch through aws-sdk-client-mock:
 * the trigger rule and its target, the status rule and the run status recorder; a redeploy
 * without the trigger removes its rule; a bucket without EventBridge delivery, a prefix inside the
 * datastore root and a bad `--trigger` are one line, exit 2, nothing deployed.
 *
 * The patterns and input transformers are then run through moto's EventBridge (its own pattern
 * matcher and transformer, independent of ours): a probe target (a log group) is added to each
 * rule and events shaped as AWS documents them are put on the bus —
 * S3 "Object Created" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html) and
 * "Step Functions Execution Status Change"
 * (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html). The
 * transformed status event is the recorder's input: run through the recorder's definition
 * (aws-local-stepfunctions) against moto's S3, it turns a `running` run record into `stopped`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchClient, DescribeComputeEnvironmentsCommand, DescribeJobDefinitionsCommand, DescribeJobQueuesCommand, RegisterJobDefinitionCommand } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, CreateLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DescribeRuleCommand, ListRulesCommand, ListTargetsByRuleCommand, PutEventsCommand, PutTargetsCommand, RemoveTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateBucketCommand, GetObjectCommand, PutBucketNotificationConfigurationCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, DescribeStateMachineCommand, ListStateMachinesCommand, SFNClient } from '@aws-sdk/client-sfn';
import { runStatusRecorderDefinition } from '../../../runner/sfn/run-status-rule';
import { listStateMachines } from '../../../runner/sfn/listing';
import { StateMachine } from 'aws-local-stepfunctions';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '../../../runner/cli/main';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS } from '../../support/moto';
import { S3EventBridgeProxy, startS3EventBridgeProxy } from '../../support/s3-eventbridge-proxy';
import './compiler-support'; // Promise.withResolvers for aws-local-stepfunctions
import { ACCOUNT, EVENTS_ROLE, PREFIX, ROLE, sfnEnv, SfnMoto, startSfnMoto } from './support';

const NAME = `${PREFIX}_HelloFlow`;
const ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${NAME}`;
const RECORDER = `${PREFIX}_metaflow-run-status`;
const RECORDER_ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${RECORDER}`;
const QUEUE_ARN = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/mf-fargate`;
const batchMock = mockClient(BatchClient);

describeWithTool('moto_server', 'metaflow-cdk sfn deploy --trigger: EventBridge, S3 and Step Functions on moto_server', () => {
  let sfnMoto: SfnMoto;
  let s3: S3Client;
  let logs: CloudWatchLogsClient;
  let proxy: S3EventBridgeProxy;
  const helloJs = join(mkdtempSync(join(tmpdir(), 'mf-sfn-triggers-')), 'hello.js');
  writeFileSync(helloJs, `module.exports = require(${JSON.stringify(require.resolve('../../../examples/hello'))}).default;\n`);
  const saved = { ...process.env };

  beforeAll(async () => {
    sfnMoto = await startSfnMoto();
    await sfnMoto.moto.configure({ stepfunctions: { execute_state_machine: false } });
    // moto leaves EventBridgeConfiguration out of GetBucketNotificationConfiguration: the proxy adds it.
    proxy = await startS3EventBridgeProxy(sfnMoto.moto.endpoint);
    Object.assign(process.env, { AWS_ENDPOINT_URL: proxy.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' });
    s3 = new S3Client({ ...MOTO_CLIENT_CONFIG, endpoint: proxy.endpoint, forcePathStyle: true });
    logs = new CloudWatchLogsClient({ ...MOTO_CLIENT_CONFIG, endpoint: sfnMoto.moto.endpoint });
    for (const Bucket of ['mf-data', 'bucket', 'incoming-off']) await s3.send(new CreateBucketCommand({ Bucket }));
    // EventBridge delivery on, as the console or the stack's `eventBridgeEnabled` turns it on.
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'bucket', NotificationConfiguration: { EventBridgeConfiguration: {} } }));
    await s3.send(new PutBucketNotificationConfigurationCommand({ Bucket: 'mf-data', NotificationConfiguration: { EventBridgeConfiguration: {} } }));
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    process.env = saved;
    batchMock.restore();
    s3?.destroy();
    logs?.destroy();
    await proxy?.stop();
    await sfnMoto?.stop();
  });
  beforeEach(() => {
    batchMock.reset();
    batchMock.on(DescribeJobQueuesCommand).resolves({
      jobQueues: [{ jobQueueName: 'mf-fargate', jobQueueArn: QUEUE_ARN, state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-fargate' }] }],
    });
    batchMock.on(DescribeComputeEnvironmentsCommand).resolves({
      computeEnvironments: [{ computeEnvironmentName: 'ce-fargate', computeEnvironmentArn: 'arn:ce-fargate', computeResources: { type: 'FARGATE_SPOT', maxvCpus: 16, subnets: [] } }],
    });
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    batchMock.on(RegisterJobDefinitionCommand).callsFake((input: { jobDefinitionName: string }) => ({ jobDefinitionArn: `arn:aws:batch:us-east-1:${ACCOUNT}:job-definition/${input.jobDefinitionName}:1` }));
  });

  async function deploy(args: string[], env: Record<string, string | undefined> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'metaflow-cdk', 'sfn', 'deploy', helloJs, ...args], {
      stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
      env: sfnEnv({
        METAFLOW_BATCH_JOB_QUEUE: 'mf-fargate',
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow',
        METAFLOW_ECS_S3_ACCESS_IAM_ROLE: `arn:aws:iam::${ACCOUNT}:role/batch-job`,
        METAFLOW_ECS_FARGATE_EXECUTION_ROLE: `arn:aws:iam::${ACCOUNT}:role/fargate-execution`,
        ...env,
      }),
    });
    return { code, stdout, stderr };
  }
  const ruleNames = async () => ((await sfnMoto.aws.events.send(new ListRulesCommand({ NamePrefix: `${NAME}.` }))).Rules ?? []).map((r) => r.Name).sort();
  const targetsOf = async (Rule: string) => (await sfnMoto.aws.events.send(new ListTargetsByRuleCommand({ Rule }))).Targets ?? [];

  /**
   * Put `event` on the bus and return what `rule`'s target would receive: moto cannot deliver to a
   * Step Functions target, so the rule's target is swapped for a log group with the same input
   * transformer for the call, then put back.
   */
  async function probe(rule: string, event: { Source: string; DetailType: string; Detail: Record<string, unknown> }) {
    const group = `/probe/${rule}/${Math.random().toString(36).slice(2)}`;
    await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    const [target] = await targetsOf(rule);
    await sfnMoto.aws.events.send(new RemoveTargetsCommand({ Rule: rule, Ids: [target.Id!] }));
    await sfnMoto.aws.events.send(new PutTargetsCommand({
      Rule: rule,
      Targets: [{ Id: 'probe', Arn: `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:${group}`, InputTransformer: target.InputTransformer }],
    }));
    try {
      const put = await sfnMoto.aws.events.send(new PutEventsCommand({ Entries: [{ ...event, Detail: JSON.stringify(event.Detail), Resources: [] }] }));
      expect(put.FailedEntryCount).toBe(0);
      const found = await logs.send(new FilterLogEventsCommand({ logGroupName: group }));
      return (found.events ?? []).map((e) => JSON.parse(e.message!));
    } finally {
      await sfnMoto.aws.events.send(new RemoveTargetsCommand({ Rule: rule, Ids: ['probe'] }));
      await sfnMoto.aws.events.send(new PutTargetsCommand({ Rule: rule, Targets: [target] }));
    }
  }
  /** An S3 "Object Created" event as S3 sends it to EventBridge (fields from the S3 user guide). */
  const objectCreated = (bucket: string, key: string) => ({
    Source: 'aws.s3',
    DetailType: 'Object Created',
    Detail: { version: '0', bucket: { name: bucket }, object: { key, size: 1024, etag: 'b1946ac92492d2347c6235b4d2611184', sequencer: '00617F08299329D189' }, 'request-id': 'N4N7GDK58NMKJ12R', requester: ACCOUNT, reason: 'PutObject' },
  });

  test('--trigger s3://bucket/incoming/ (and a flow and an event trigger): the rules, their targets and inputs; the status rule and recorder; events matched and transformed by moto; a redeploy without it removes it', async () => {
    // moto keeps every state machine STANDARD (it ignores CreateStateMachine's `type`): the request says EXPRESS.
    const sends = jest.spyOn(SFNClient.prototype, 'send');
    const first = await deploy(['--trigger', 's3://bucket/incoming/,name=key', '--trigger', 'flow:TrainFlow,name=runId', '--trigger', 'event:com.example.models/Model Published,name=$.detail.model']);
    const created = sends.mock.calls.map(([command]) => command as unknown).filter((c): c is CreateStateMachineCommand => c instanceof CreateStateMachineCommand);
    sends.mockRestore();
    expect(created.map((c) => [c.input.name, c.input.type, c.input.loggingConfiguration?.level, c.input.tracingConfiguration?.enabled])).toEqual([[NAME, 'STANDARD', 'ALL', true], [RECORDER, 'EXPRESS', 'ALL', true]]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created state machine ${NAME}: ${ARN}\n`
      + `trigger rule ${NAME}.trigger-1: starts flow HelloFlow when an object is created under s3://bucket/incoming/\n`
      + `trigger rule ${NAME}.trigger-2: starts flow HelloFlow when flow TrainFlow succeeds\n`
      + `trigger rule ${NAME}.trigger-3: starts flow HelloFlow on events from com.example.models (Model Published)\n`
      + `status rule ${NAME}.status: runs that end stopped, timed out or failed are recorded by ${RECORDER_ARN}\n`);
    expect(await ruleNames()).toEqual([`${NAME}.status`, `${NAME}.trigger-1`, `${NAME}.trigger-2`, `${NAME}.trigger-3`]);

    const rule = await sfnMoto.aws.events.send(new DescribeRuleCommand({ Name: `${NAME}.trigger-1` }));
    expect(rule.State).toBe('ENABLED');
    expect(JSON.parse(rule.EventPattern!)).toEqual({
      source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['bucket'] }, object: { key: [{ prefix: 'incoming/' }] } },
    });
    expect(await targetsOf(`${NAME}.trigger-1`)).toEqual([{
      Id: 'metaflow-cdk-state-machine', Arn: ARN, RoleArn: EVENTS_ROLE,
      InputTransformer: { InputPathsMap: { name: '$.detail.object.key' }, InputTemplate: '{"Parameters": {"name": "<name>"}}' },
    }]);
    const status = await sfnMoto.aws.events.send(new DescribeRuleCommand({ Name: `${NAME}.status` }));
    expect(JSON.parse(status.EventPattern!)).toEqual({
      source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'], detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [ARN] },
    });
    expect(await targetsOf(`${NAME}.status`)).toEqual([expect.objectContaining({ Arn: RECORDER_ARN, RoleArn: EVENTS_ROLE })]);
    const recorder = await sfnMoto.aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: RECORDER_ARN }));
    expect(recorder.roleArn).toBe(ROLE);
    expect(JSON.parse(recorder.definition!)).toEqual(runStatusRecorderDefinition('aws'));

    // moto's EventBridge: an object under the prefix starts the flow with its key as `name`; others do not match.
    expect(await probe(`${NAME}.trigger-1`, objectCreated('bucket', 'incoming/2026/data.csv'))).toEqual([{ Parameters: { name: 'incoming/2026/data.csv' } }]);
    expect(await probe(`${NAME}.trigger-1`, objectCreated('bucket', 'elsewhere/data.csv'))).toEqual([]);
    expect(await probe(`${NAME}.trigger-1`, objectCreated('incoming-off', 'incoming/data.csv'))).toEqual([]);

    // Another flow's success starts it with that run's id; its failure, or another flow, does not.
    const trainArn = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${PREFIX}_TrainFlow`;
    const trainEnded = (status: string, stateMachineArn = trainArn) => ({
      Source: 'aws.states',
      DetailType: 'Step Functions Execution Status Change',
      Detail: { executionArn: `${trainArn.replace(':stateMachine:', ':execution:')}:run-7`, stateMachineArn, name: 'run-7', status, startDate: 1_796_000_000_000, stopDate: 1_796_000_060_000, input: '{}', output: '{}' },
    });
    expect(await probe(`${NAME}.trigger-2`, trainEnded('SUCCEEDED'))).toEqual([{ Parameters: { name: 'run-7' } }]);
    expect(await probe(`${NAME}.trigger-2`, trainEnded('FAILED'))).toEqual([]);
    expect(await probe(`${NAME}.trigger-2`, trainEnded('SUCCEEDED', `${trainArn}2`))).toEqual([]);
    // A custom event with its field mapped; another detail type does not match.
    const published = (DetailType: string) => ({ Source: 'com.example.models', DetailType, Detail: { model: 'resnet-50' } });
    expect(await probe(`${NAME}.trigger-3`, published('Model Published'))).toEqual([{ Parameters: { name: 'resnet-50' } }]);
    expect(await probe(`${NAME}.trigger-3`, published('Model Deleted'))).toEqual([]);

    // The status rule: an aborted execution of this machine reaches the recorder as its input…
    const executionArn = `arn:aws:states:us-east-1:${ACCOUNT}:execution:${NAME}:sfn-20261205-100000-abcdef`;
    const statusChange = (status: string, stateMachineArn = ARN) => ({
      Source: 'aws.states',
      DetailType: 'Step Functions Execution Status Change',
      Detail: { executionArn, stateMachineArn, name: 'sfn-20261205-100000-abcdef', status, startDate: 1_796_000_000_000, stopDate: 1_796_000_060_000, input: '{}', output: null },
    });
    const [input] = await probe(`${NAME}.status`, statusChange('ABORTED'));
    expect(input).toEqual({ bucket: 'mf-data', key: 'metaflow/HelloFlow/sfn-20261205-100000-abcdef/run.json', status: 'ABORTED', stoppedAt: expect.any(String), executionArn });
    expect(await probe(`${NAME}.status`, statusChange('SUCCEEDED'))).toEqual([]);
    expect(await probe(`${NAME}.status`, statusChange('ABORTED', `${ARN}-other`))).toEqual([]);

    // …and the recorder's definition, run on that input against moto's S3, records the run as stopped.
    const running = { flow: 'HelloFlow', runId: 'sfn-20261205-100000-abcdef', status: 'running', startedAt: '2026-12-05T10:00:00.000Z', parameters: {}, orchestrator: 'step-functions', executionArn };
    await s3.send(new PutObjectCommand({ Bucket: 'mf-data', Key: input.key, Body: JSON.stringify(running) }));
    const machine = new StateMachine(JSON.parse(recorder.definition!), { validationOptions: { checkPaths: true, checkArn: true } });
    await machine.run(input, {
      overrides: {
        taskResourceLocalHandlers: {
          Read: async (p: { Bucket: string; Key: string }) => ({ Body: await (await s3.send(new GetObjectCommand(p))).Body!.transformToString() }),
          Write: async (p: { Bucket: string; Key: string; Body: string; ContentType: string }) => s3.send(new PutObjectCommand(p)).then(() => ({})),
        } as never,
      },
    }).result;
    const stored = JSON.parse(await (await s3.send(new GetObjectCommand({ Bucket: 'mf-data', Key: input.key }))).Body!.transformToString());
    expect(stored).toEqual({ ...running, status: 'stopped', error: 'the execution was stopped (StopExecution)', finishedAt: input.stoppedAt });

    // Deployed again without the trigger: its rule goes, the status rule stays.
    const again = await deploy([]);
    expect([again.code, again.stderr]).toEqual([0, '']);
    expect(again.stdout).toContain([1, 2, 3].map((n) => `removed trigger rule ${NAME}.trigger-${n} (no longer a trigger)\n`).join(''));
    expect(await ruleNames()).toEqual([`${NAME}.status`]);
    // `sfn list` does not show the recorder as a flow.
    expect((await sfnMoto.aws.sfn.send(new ListStateMachinesCommand({}))).stateMachines?.map((s) => s.name)).toContain(RECORDER);
    const listed = (await listStateMachines(sfnMoto.ctx)).map((s) => s.name);
    expect(listed).toContain(NAME);
    expect(listed).not.toContain(RECORDER);
  });

  test.each([
    ['s3://incoming-off/incoming/', 'metaflow-cdk: trigger s3://incoming-off/incoming/: bucket "incoming-off" does not send events to EventBridge; turn EventBridge delivery on for it (S3 console → Properties → Event notifications, or the stack\'s buckets) — metaflow-cdk never changes a bucket\'s notification configuration'],
    ['s3://no-such-bucket/x/', 'metaflow-cdk: trigger s3://no-such-bucket/x/: bucket "no-such-bucket" does not exist'],
    ['s3://mf-data/metaflow/HelloFlow/', 'metaflow-cdk: --trigger "s3://mf-data/metaflow/HelloFlow/": s3://mf-data/metaflow/HelloFlow/ overlaps the datastore root s3://mf-data/metaflow: every run writes there, so each run would start another; use a prefix outside it'],
    ['s3://bucket/in/,who=key', 'metaflow-cdk: --trigger "s3://bucket/in/,who=key": parameters maps unknown parameter "who" (the flow has name)'],
    ['flow:HelloFlow', 'metaflow-cdk: --trigger "flow:HelloFlow": flow "HelloFlow" is this flow: it would start itself after every run, for ever'],
    ['ftp://x', 'metaflow-cdk: --trigger must start with s3://<bucket>/<prefix>, flow:<FlowName> or event:<source>[/<detail type>], got "ftp://x"'],
  ])('--trigger %s is one line, exit 2, nothing deployed', async (trigger, line) => {
    const result = await deploy(['--trigger', trigger, '--prefix', 'refused']);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `${line}\n` });
    expect(batchMock.commandCalls(RegisterJobDefinitionCommand)).toHaveLength(0);
    expect((await sfnMoto.aws.sfn.send(new ListStateMachinesCommand({}))).stateMachines?.map((s) => s.name)).not.toContain('refused_HelloFlow');
  });

  test('a trigger bucket whose notification configuration cannot be read (AccessDenied): one warning line, the rule is created', async () => {
    const result = await deploy(['--trigger', 's3://denied-data/in/', '--prefix', 'denied']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('metaflow-cdk: warning: trigger s3://denied-data/in/: cannot read bucket "denied-data"\'s notification configuration (AccessDenied; it needs s3:GetBucketNotification), so whether it sends events to EventBridge is not checked: if it does not, this trigger never fires\n');
    expect(result.stdout).toContain('denied_HelloFlow.trigger-1');
  });

  test('a flow named like the run status recorder is refused: one line, exit 2', async () => {
    const flowJs = join(mkdtempSync(join(tmpdir(), 'mf-sfn-reserved-')), 'reserved.js');
    writeFileSync(flowJs, `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({ name: 'metaflow-run-status', image: 'busybox', steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }] });\n`);
    let stderr = '';
    const code = await main(['node', 'metaflow-cdk', 'sfn', 'deploy', flowJs], {
      stdout: { write: () => true } as unknown as NodeJS.WritableStream,
      stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
      env: sfnEnv({ METAFLOW_BATCH_JOB_QUEUE: 'mf-fargate', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow' }),
    });
    expect({ code, stderr }).toEqual({ code: 2, stderr: `metaflow-cdk: flow name "metaflow-run-status" is reserved: the run status recorder's state machine is <prefix>_metaflow-run-status\n` });
  });

  test('a trigger without EVENTS_SFN_ACCESS_IAM_ROLE is one line; without triggers deploy goes on and says there is no status rule', async () => {
    const refused = await deploy(['--trigger', 's3://bucket/in/', '--prefix', 'refused'], { METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: undefined });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^metaflow-cdk: missing Metaflow config key METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: .*, or pass --events-role [^\n]*\n$/);
    const plain = await deploy(['--prefix', 'norole'], { METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: undefined });
    expect([plain.code, plain.stderr]).toEqual([0, '']);
    expect(plain.stdout).toMatch(/no status rule: EVENTS_SFN_ACCESS_IAM_ROLE is not set \(--events-role\); `runs` and `show` reconcile runs that ended outside their own states\n$/);
    expect(((await sfnMoto.aws.events.send(new ListRulesCommand({ NamePrefix: 'norole_' }))).Rules ?? [])).toEqual([]);
  });
});

/**
 * `metaflow-cdk sfn deploy` (the CLI in-process through main()): examples/hello.ts deployed twice
 * — created, then updated, one state machine — with Step Functions on moto_server (real API
 * validation and state) and AWS Batch through aws-sdk-client-mock, whose exact payloads show: each queue looked up once,
 * its platform reaching the compiler, each job definition registered once however often the flow
 * is deployed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BatchClient,
  DescribeComputeEnvironmentsCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobQueuesCommand,
  RegisterJobDefinitionCommand,
} from '@aws-sdk/client-batch';
import { DescribeExecutionCommand, DescribeStateMachineCommand, ListExecutionsCommand, ListStateMachinesCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import hello from '../../../examples/hello';
import { main } from '../../../runner/cli/main';
import { validateFlow } from '../../../runner/flow/validate';
import { compileFlow, CompileOptions } from '../../../runner/sfn/compiler';
import { flowCodePackageUrl } from '../../../runner/cli/sfn-support';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { describeWithTool } from '../../support/external-tool';
import { envOf, execute } from './compiler-support';
import { ACCOUNT, LOG_GROUP, PREFIX, ROLE, sfnEnv, SfnMoto, startSfnMoto } from './support';
import { MOTO_START_TIMEOUT_MS } from '../../support/moto';

const NAME = `${PREFIX}_HelloFlow`;
const ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${NAME}`;
const EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/fargate-execution`;
const JOB_ROLE = `arn:aws:iam::${ACCOUNT}:role/batch-job`;
const QUEUE_ARN = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/mf-fargate`;
const batchMock = mockClient(BatchClient);

/** What the compiler gives for the options deploy derives from the config below (the queue is Fargate), with the code package deploy ships. */
async function compiled(flowFile: string, params: Record<string, string> = {}) {
  const v = validateFlow(hello);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
  const codePackageUrl = await flowCodePackageUrl(v.graph, flowFile, { bucket: 'mf-data', prefix: 'metaflow', url: 's3://mf-data/metaflow' }, { stdout: quiet, stderr: quiet }, { store: false });
  const options: CompileOptions = {
    queue: 'mf-fargate', gpuQueue: 'mf-fargate', platformOf: (q) => (q === 'mf-fargate' ? 'FARGATE' : 'EC2'),
    jobRoleArn: JOB_ROLE, executionRoleArn: EXECUTION_ROLE, datastoreRoot: 's3://mf-data/metaflow', partition: 'aws', params,
    codePackageUrl,
  };
  return compileFlow(v.graph, options);
}

describeWithTool('moto_server', 'metaflow-cdk sfn deploy: Step Functions on moto_server, Batch mocked', () => {
  let sfnMoto: SfnMoto;
  // In-process, a flow file is loaded with require (tsx cannot load TypeScript inside jest): a
  // JavaScript flow file that is examples/hello.ts.
  const helloJs = join(mkdtempSync(join(tmpdir(), 'mf-sfn-deploy-')), 'hello.js');
  writeFileSync(helloJs, `module.exports = require(${JSON.stringify(require.resolve('../../../examples/hello'))}).default;\n`);
  const saved = { ...process.env };
  beforeAll(async () => {
    sfnMoto = await startSfnMoto();
    // moto's executor cannot run the compiled machine (intrinsic functions, batch:submitJob.sync):
    // it only records executions here; aws-local-stepfunctions runs them below.
    await sfnMoto.moto.configure({ stepfunctions: { execute_state_machine: false } });
    // The SDK reads endpoint, credentials and region from the process environment.
    Object.assign(process.env, { AWS_ENDPOINT_URL: sfnMoto.moto.endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1' });
    // deploy stores the flow's code package in the datastore bucket first
    await new S3Client({ region: 'us-east-1', endpoint: sfnMoto.moto.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } }).send(new CreateBucketCommand({ Bucket: 'mf-data' }));
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    process.env = saved;
    batchMock.restore();
    await sfnMoto?.stop();
  });

  beforeEach(() => {
    batchMock.reset();
    batchMock.on(DescribeJobQueuesCommand, { jobQueues: ['mf-fargate'] }).resolves({
      jobQueues: [{ jobQueueName: 'mf-fargate', jobQueueArn: QUEUE_ARN, state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-fargate' }] }],
    });
    batchMock.on(DescribeComputeEnvironmentsCommand).resolves({
      computeEnvironments: [{ computeEnvironmentName: 'ce-fargate', computeEnvironmentArn: 'arn:ce-fargate', computeResources: { type: 'FARGATE_SPOT', maxvCpus: 16, subnets: [] } }],
    });
  });

  const deploy = (args: string[], env: Record<string, string | undefined> = {}) => cli(['deploy', helloJs, ...args], env);

  async function cli(args: string[], env: Record<string, string | undefined> = {}) {
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'metaflow-cdk', 'sfn', ...args], {
      stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
      env: sfnEnv({
        METAFLOW_BATCH_JOB_QUEUE: 'mf-fargate',
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow',
        METAFLOW_ECS_S3_ACCESS_IAM_ROLE: JOB_ROLE,
        METAFLOW_ECS_FARGATE_EXECUTION_ROLE: EXECUTION_ROLE,
        ...env,
      }),
    });
    return { code, stdout, stderr };
  }

  test('deploy twice: created, then updated — one state machine, the compiled definition, job definitions registered once; trigger input read by the compiled machine', async () => {
    const { jobDefinitions, definition } = await compiled(helloJs);
    const names = jobDefinitions.map((d) => d.jobDefinitionName!);
    expect(names.length).toBeGreaterThan(0);
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    batchMock.on(RegisterJobDefinitionCommand).callsFake((input: { jobDefinitionName: string }) => ({ jobDefinitionArn: `arn:aws:batch:us-east-1:${ACCOUNT}:job-definition/${input.jobDefinitionName}:1` }));

    const first = await deploy([]);
    expect(first).toEqual({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^code package: 1 files, [0-9.]+ [KM]?i?B, s3://mf-data/metaflow/HelloFlow/data/[0-9a-f]{2}/[0-9a-f]{40} \\(uploaded\\)\njob definitions: ${names.length} ACTIVE \\(registered where new\\)\ncreated state machine ${NAME}: ${ARN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\nstatus rule ${NAME}\\.status: runs that end stopped, timed out or failed are recorded by arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${PREFIX}_metaflow-run-status\n$`)) });
    // One lookup per queue; its first compute environment (Fargate) reached the compiler.
    expect(batchMock.commandCalls(DescribeJobQueuesCommand)).toHaveLength(1);
    expect(batchMock.commandCalls(RegisterJobDefinitionCommand).map((c) => c.args[0].input)).toEqual(jobDefinitions);
    expect(jobDefinitions.every((d) => d.platformCapabilities?.includes('FARGATE'))).toBe(true);
    const described = await sfnMoto.aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: ARN }));
    expect(JSON.parse(described.definition!)).toEqual(definition);
    expect(described.roleArn).toBe(ROLE);
    expect(described.loggingConfiguration).toMatchObject({ level: 'ALL', includeExecutionData: true, destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: `${LOG_GROUP}:*` } }] });

    // Again, with a parameter replacing the flow's default and execution data kept out of the log:
    // the job definitions are ACTIVE now, so nothing is registered.
    batchMock.resetHistory();
    batchMock.on(DescribeJobDefinitionsCommand).callsFake((input: { jobDefinitionName: string }) => ({
      jobDefinitions: [{ jobDefinitionName: input.jobDefinitionName, jobDefinitionArn: `arn:aws:batch:us-east-1:${ACCOUNT}:job-definition/${input.jobDefinitionName}:1`, revision: 1, status: 'ACTIVE', type: 'container' }],
    }));
    const second = await deploy(['--param', 'name=ada', '--no-execution-data']);
    expect(second.stdout).toMatch(/^code package: 1 files, .* \(already there\)\n/);
    expect(second).toEqual({ code: 0, stderr: '', stdout: expect.stringContaining(`job definitions: ${names.length} ACTIVE (registered where new)\nupdated state machine ${NAME}: ${ARN}\n`) });
    expect(batchMock.commandCalls(RegisterJobDefinitionCommand)).toHaveLength(0);
    expect(batchMock.commandCalls(DescribeJobDefinitionsCommand).map((c) => c.args[0].input.jobDefinitionName).sort()).toEqual([...names].sort());
    const all = await sfnMoto.aws.sfn.send(new ListStateMachinesCommand({}));
    expect(all.stateMachines?.filter((sm) => sm.name === NAME)).toHaveLength(1);
    const updated = await sfnMoto.aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: ARN }));
    const withParam = (await compiled(helloJs, { name: 'ada' })).definition;
    expect(withParam).not.toEqual(definition);
    expect(JSON.parse(updated.definition!)).toEqual(withParam);
    expect(updated.loggingConfiguration).toMatchObject({ includeExecutionData: false });

    // What `sfn trigger` sends is what the compiled machine reads: run the deployed definition
    // (aws-local-stepfunctions, Batch emulated) on the input moto recorded for each execution.
    const paramOfFirstJob = async (args: string[]) => {
      const started = await cli(['trigger', helloJs, ...args]);
      expect([started.code, started.stderr]).toEqual([0, '']);
      const executionArn = /execution (\S+)/.exec(started.stdout)![1];
      const input = JSON.parse((await sfnMoto.aws.sfn.send(new DescribeExecutionCommand({ executionArn }))).input!);
      const run = await execute({ flow: 'HelloFlow', definition: JSON.parse(updated.definition!), jobDefinitions: [] }, input);
      expect(run.error).toBeUndefined();
      return envOf(run.submits[0].params).MF_PARAM_NAME;
    };
    expect(await paramOfFirstJob(['--param', 'name=grace'])).toBe('grace');
    expect(await paramOfFirstJob(['--name', 'hopper'])).toBe('hopper');
    expect(await paramOfFirstJob([])).toBe('ada');
  });

  test('trigger: a parameter with no value in the deployed machine and none given is one line, exit 2, nothing started; deployed or given, the run starts', async () => {
    const flowJs = join(mkdtempSync(join(tmpdir(), 'mf-sfn-required-')), 'needs-who.js');
    writeFileSync(
      flowJs,
      `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({ name: 'NeedsWho', image: 'busybox', parameters: { who: { type: 'string' } },
  steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }] });\n`,
    );
    const name = `${PREFIX}_NeedsWho`;
    const arn = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${name}`;
    batchMock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    batchMock.on(RegisterJobDefinitionCommand).callsFake((input: { jobDefinitionName: string }) => ({ jobDefinitionArn: `arn:aws:batch:us-east-1:${ACCOUNT}:job-definition/${input.jobDefinitionName}:1` }));
    const executions = async () => (await sfnMoto.aws.sfn.send(new ListExecutionsCommand({ stateMachineArn: arn }))).executions ?? [];

    expect((await cli(['deploy', flowJs])).code).toBe(0);
    expect(await cli(['trigger', flowJs])).toEqual({
      code: 2,
      stdout: '',
      stderr: `metaflow-cdk: flow "NeedsWho": parameter "who" has no value in ${name} (no default, none given to sfn deploy --param): pass --param who=<value>\n`,
    });
    expect(await executions()).toHaveLength(0);
    expect((await cli(['trigger', flowJs, '--param', 'who=ada'])).code).toBe(0);
    expect(await executions()).toHaveLength(1);
    // Deployed with a value: the trigger needs none.
    expect((await cli(['deploy', flowJs, '--param', 'who=grace'])).code).toBe(0);
    expect((await cli(['trigger', flowJs])).code).toBe(0);
    expect(await executions()).toHaveLength(2);
  });

  test('a queue that cannot take jobs, or a step the compiler refuses, is one line, exit 2, nothing registered or deployed', async () => {
    batchMock.on(DescribeJobQueuesCommand, { jobQueues: ['mf-fargate'] }).resolves({
      jobQueues: [{ jobQueueName: 'mf-fargate', jobQueueArn: QUEUE_ARN, state: 'DISABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-fargate' }] }],
    });
    const disabled = await deploy(['--prefix', 'other']);
    expect(disabled).toEqual({ code: 2, stdout: '', stderr: 'metaflow-cdk: job queue "mf-fargate" is DISABLED (used by steps start, hello, end)\n' });
    batchMock.on(DescribeJobQueuesCommand, { jobQueues: ['mf-fargate'] }).resolves({
      jobQueues: [{ jobQueueName: 'mf-fargate', jobQueueArn: QUEUE_ARN, state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce-fargate' }] }],
    });
    const refused = await deploy(['--prefix', 'other'], { METAFLOW_ECS_FARGATE_EXECUTION_ROLE: undefined });
    expect(refused.code).toBe(2);
    expect(refused.stderr.split('\n')).toEqual([expect.stringMatching(/^metaflow-cdk: flow "HelloFlow" cannot run on Step Functions: .*execution role/i), '']);
    expect(batchMock.commandCalls(RegisterJobDefinitionCommand)).toHaveLength(0);
    expect((await sfnMoto.aws.sfn.send(new ListStateMachinesCommand({}))).stateMachines?.map((sm) => sm.name)).not.toContain('other_HelloFlow');
  });
}, ['--help']);

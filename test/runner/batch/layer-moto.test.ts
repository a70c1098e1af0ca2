/**
 * The Batch layer against moto_server on 127.0.0.1, through the orchestrator: a compute
 * environment and queue created in moto, then examples/hello.ts and examples/sweep.ts (a 100-way
 * foreach → one array job) run to success; a second moto whose jobs all fail
 * (MOTO_SIMPLE_BATCH_FAIL_AFTER=0) shows a user retry as a new plain job, then catch. moto runs
 * no containers (use_docker false), so these flows' control must not depend on what tasks write.
 */
import { execFileSync } from 'node:child_process';
import { CreateComputeEnvironmentCommand, CreateJobQueueCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { AwsClients } from '../../../runner/aws/clients';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { LocalDatastore } from '../../../runner/datastore/local';
import { defineFlow, Flow } from '../../../runner/flow/model';
import hello from '../../../examples/hello';
import sweep from '../../../examples/sweep';
import { resolveParameters } from '../../../runner/flow/parameters';
import { FlowGraph, validateFlow } from '../../../runner/flow/validate';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, startMoto } from '../../support/moto';
import { fakeClock, tempDir } from '../support/harness';

const settings: BatchSettings = { queue: 'mf-queue', gpuQueue: 'mf-queue', datastoreRoot: { bucket: 'mf', prefix: 'metaflow', url: 's3://mf/metaflow' } };

async function motoWithQueue(env: Record<string, string> = {}): Promise<{ moto: MotoServer; aws: AwsClients }> {
  const moto = await startMoto(env);
  await moto.configure({ batch: { use_docker: false } });
  const aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, maxAttempts: 2 });
  // moto checks the compute environment's service role exists; the aws CLI creates it
  const role = execFileSync(
    'aws',
    ['--endpoint-url', moto.endpoint, '--region', 'us-east-1', 'iam', 'create-role', '--role-name', 'AWSBatchServiceRole',
      '--assume-role-policy-document', '{"Version":"2012-10-17","Statement":[]}', '--query', 'Role.Arn', '--output', 'text'],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }, encoding: 'utf8' },
  ).trim();
  const ce = await aws.batch.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: 'mf-ce', type: 'UNMANAGED', state: 'ENABLED', serviceRole: role }));
  await aws.batch.send(new CreateJobQueueCommand({ jobQueueName: 'mf-queue', priority: 1, state: 'ENABLED', computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn! }] }));
  return { moto, aws };
}

async function runOnMoto(aws: AwsClients, graph: FlowGraph, params: string[] = []) {
  const notices: string[] = [];
  const layer = new BatchComputeLayer({ settings, batch: aws.batch, logs: aws.logs, logMode: 'failed', watcher: { minIntervalMs: 200, maxIntervalMs: 1000 }, notice: (l) => notices.push(l) });
  await layer.lookUp(graph);
  expect(layer.check(graph)).toEqual([]);
  const record = await runFlow({ graph, layer, datastore: new LocalDatastore(tempDir('mfcdk-moto-')), parameters: resolveParameters(graph.flow, params).values, clock: fakeClock() });
  return { record, layer, notices };
}

const EXAMPLES: Record<string, Flow> = { 'hello.ts': hello, 'sweep.ts': sweep };

function example(name: string): FlowGraph {
  const v = validateFlow(EXAMPLES[name]);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  return v.graph;
}

describeWithTool('moto_server', 'Batch layer against moto_server', () => {
  let ok: { moto: MotoServer; aws: AwsClients };
  beforeAll(async () => {
    ok = await motoWithQueue();
  }, 60_000);
  afterAll(async () => {
    ok?.aws.destroy();
    await ok?.moto.stop();
  });

  test('examples/hello.ts runs to success: three jobs, job ids and attempts on record', async () => {
    const { record, layer } = await runOnMoto(ok.aws, example('hello.ts'));
    expect(record.status).toBe('succeeded');
    expect(record.tasks.map((t) => `${t.step}/${t.taskId}:${t.status}`)).toEqual(['start/0:succeeded', 'hello/0:succeeded', 'end/0:succeeded']);
    expect(record.tasks.every((t) => /^[0-9a-f-]{36}$/.test(t.attempts[0].externalId ?? ''))).toBe(true);
    expect(layer.calls.snapshot()).toMatchObject({ SubmitJob: 3, RegisterJobDefinition: 3, DescribeJobQueues: 1 });
  }, 120_000);

  test('examples/sweep.ts: the 100-way foreach is ONE array job in moto, every child on record', async () => {
    const { record, layer } = await runOnMoto(ok.aws, example('sweep.ts'));
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

  describe('a moto whose jobs all fail', () => {
    let failing: { moto: MotoServer; aws: AwsClients };
    beforeAll(async () => {
      failing = await motoWithQueue({ MOTO_SIMPLE_BATCH_FAIL_AFTER: '0' });
    }, 60_000);
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
      const v = validateFlow(flow);
      if (!v.ok) throw new Error(v.problems.join('\n'));
      const { record } = await runOnMoto(failing.aws, v.graph);
      const start = record.tasks.find((t) => t.step === 'start')!;
      expect(start.status).toBe('caught');
      expect(start.attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
      expect(start.attempts[0].externalId).not.toBe(start.attempts[1].externalId);
      expect(record.tasks.find((t) => t.step === 'end')!.status).toBe('caught');
      expect(record.status).toBe('succeeded');
    }, 120_000);
  });
}, ['--help']);

import { BatchClient, DescribeComputeEnvironmentsCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import { publishQueueMetrics } from '../../lib/monitoring/queue-metrics-handler';
import { bundleHandler, LAMBDA_HANDLERS } from '../../lib/lambda-bundle/bundle';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COUNTED_JOB_STATES } from '../../lib/monitoring/queue-metrics-handler/contract';

const DEFAULT_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/default';
const GPU_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/gpu';
const SPOT_CE = 'arn:aws:batch:us-east-1:123456789012:compute-environment/spot';
const NOW = new Date('2026-11-21T12:00:00Z');
const ENV = { JOB_QUEUES: `${DEFAULT_QUEUE}, ${GPU_QUEUE}`, COMPUTE_ENVIRONMENTS: SPOT_CE, METRIC_NAMESPACE: 'Metaflow/Test' };

const jobs = (n: number) => Array.from({ length: n }, (_, i) => ({ jobId: `j${i}`, jobName: `job-${i}` }));

describe('queue metrics handler (Batch and CloudWatch mocked)', () => {
  const batch = mockClient(BatchClient);
  const cloudWatch = mockClient(CloudWatchClient);
  const clients = () => ({ batch: new BatchClient({ region: 'us-east-1' }), cloudWatch: new CloudWatchClient({ region: 'us-east-1' }) });

  beforeEach(() => {
    batch.reset();
    cloudWatch.reset();
    batch.on(ListJobsCommand).resolves({ jobSummaryList: [] });
    cloudWatch.on(PutMetricDataCommand).resolves({});
  });

  test('counts every queue and state across ListJobs pages and publishes one value each, plus vCPUs', async () => {
    batch.on(ListJobsCommand, { jobQueue: DEFAULT_QUEUE, jobStatus: 'RUNNABLE' })
      .resolvesOnce({ jobSummaryList: jobs(100), nextToken: 't1' })
      .resolvesOnce({ jobSummaryList: jobs(42) });
    batch.on(ListJobsCommand, { jobQueue: GPU_QUEUE, jobStatus: 'RUNNING' }).resolves({ jobSummaryList: jobs(3) });
    batch.on(DescribeComputeEnvironmentsCommand).resolves({
      computeEnvironments: [{ computeEnvironmentName: 'spot', computeEnvironmentArn: SPOT_CE, computeResources: { type: 'SPOT', desiredvCpus: 48, maxvCpus: 256, subnets: [] } }],
    });

    const result = await publishQueueMetrics(ENV, clients(), NOW);

    const listCalls = batch.commandCalls(ListJobsCommand).map((c) => c.args[0].input);
    expect(listCalls).toHaveLength(2 * COUNTED_JOB_STATES.length + 1);
    expect(listCalls).toContainEqual({ jobQueue: DEFAULT_QUEUE, jobStatus: 'RUNNABLE', maxResults: 100, nextToken: 't1' });
    expect(batch.commandCalls(DescribeComputeEnvironmentsCommand)[0].args[0].input).toEqual({ computeEnvironments: [SPOT_CE] });

    const [put] = cloudWatch.commandCalls(PutMetricDataCommand);
    expect(put.args[0].input.Namespace).toBe('Metaflow/Test');
    const values = Object.fromEntries(put.args[0].input.MetricData!.map((d) => [
      `${d.MetricName} ${d.Dimensions!.map((x) => `${x.Name}=${x.Value}`).join(',')}`, d.Value,
    ]));
    expect(values).toMatchObject({
      'JobsInState JobQueue=default,State=RUNNABLE': 142,
      'JobsInState JobQueue=gpu,State=RUNNING': 3,
      'JobsInState JobQueue=default,State=SUBMITTED': 0,
      'DesiredvCpus ComputeEnvironment=spot': 48,
      'MaxvCpus ComputeEnvironment=spot': 256,
    });
    expect(Object.keys(values)).toHaveLength(2 * COUNTED_JOB_STATES.length + 2);
    for (const datum of put.args[0].input.MetricData!) expect(datum).toMatchObject({ Unit: 'Count', Timestamp: NOW });
    expect(result).toEqual({ published: 12, failures: [] });
  });

  test('a failing call does not lose the other counts: they are published, then the run fails naming the call', async () => {
    batch.on(ListJobsCommand, { jobQueue: GPU_QUEUE, jobStatus: 'RUNNING' }).rejects(Object.assign(new Error('Rate exceeded'), { name: 'TooManyRequestsException' }));
    batch.on(DescribeComputeEnvironmentsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    await expect(publishQueueMetrics(ENV, clients(), NOW)).rejects.toThrow(
      'queue metrics: published 9 values, but 2 call(s) failed: DescribeComputeEnvironments: AccessDeniedException: denied; ListJobs gpu RUNNING: TooManyRequestsException: Rate exceeded',
    );
    expect(cloudWatch.commandCalls(PutMetricDataCommand)[0].args[0].input.MetricData).toHaveLength(9);
  });

  test('without compute environments no DescribeComputeEnvironments call is made', async () => {
    await publishQueueMetrics({ ...ENV, COMPUTE_ENVIRONMENTS: '' }, clients(), NOW);
    expect(batch.commandCalls(DescribeComputeEnvironmentsCommand)).toHaveLength(0);
  });

  test('missing configuration fails with the values it got', async () => {
    await expect(publishQueueMetrics({ METRIC_NAMESPACE: 'X' }, clients(), NOW))
      .rejects.toThrow('queue metrics: JOB_QUEUES and METRIC_NAMESPACE must be set, got {"queues":[],"namespace":"X"}');
    expect(cloudWatch.calls()).toHaveLength(0);
  });
});

test('the function bundles into one index.js that imports only Node built-ins and the runtime\'s AWS SDK clients, and exports handler', () => {
  const dir = mkdtempSync(join(tmpdir(), 'queue-metrics-bundle-'));
  try {
    const handler = LAMBDA_HANDLERS.find((h) => h.dir === 'monitoring/queue-metrics-handler')!;
    const imports = bundleHandler(dir, join(__dirname, '../../lib', handler.dir), handler.options);
    const builtin = new Set(builtinModules);
    expect(imports.filter((path) => !path.startsWith('node:') && !builtin.has(path)).sort()).toEqual(['@aws-sdk/client-batch', '@aws-sdk/client-cloudwatch']);
    const text = readFileSync(join(dir, 'index.js'), 'utf8');
    expect(text).toContain('ListJobs');
    expect(text).toContain('PutMetricData');
    expect(text).toMatch(/\bhandler\b/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

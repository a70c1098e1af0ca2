/**
 * A Step Functions run's usage (runner/usage/sfn.ts): its task records carry only the Batch job
 * ids, so `show` asks DescribeJobs (and each queue once) — on aws-sdk-client-mock, with AWS's
 * answers as the API reference shapes them.
 */
import { BatchClient, DescribeComputeEnvironmentsCommand, DescribeJobQueuesCommand, DescribeJobsCommand, JobDetail } from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import type { RunRecord } from '../../../runner/datastore/types';
import { runUsage } from '../../../runner/usage/report';
import { withStepFunctionsUsage } from '../../../runner/usage/sfn';

const HOUR = 3_600_000;
const batchMock = mockClient(BatchClient);
afterEach(() => batchMock.reset());
afterAll(() => batchMock.restore());

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:mfstack_Flow:sfn-20260101-000000-abc123';
const attempt = (externalId: string) => ({ attempt: 0, status: 'succeeded' as const, exitCode: 0, finishedAt: '2026-01-01T01:00:00Z', externalId });
const sfnRun = (tasks: RunRecord['tasks']): RunRecord =>
  ({ flow: 'Flow', runId: 'sfn-20260101-000000-abc123', status: 'succeeded', startedAt: '2026-01-01T00:00:00Z', compute: 'batch', orchestrator: 'step-functions', executionArn: EXECUTION, parameters: {}, taskCount: tasks.length, tasks }) as unknown as RunRecord;

const job = (jobId: string, vcpus: string, extra: Partial<JobDetail> = {}): JobDetail => ({
  jobId, jobName: jobId, jobQueue: 'arn:aws:batch:eu-west-1:123456789012:job-queue/q', status: 'SUCCEEDED', jobDefinition: 'd', createdAt: 0, startedAt: 0,
  container: { resourceRequirements: [{ type: 'VCPU', value: vcpus }, { type: 'MEMORY', value: '2048' }] },
  attempts: [{ startedAt: 0, stoppedAt: HOUR, container: { taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/spot_Batch_1/ab' } }],
  ...extra,
});

test('each attempt gets its job\'s usage: resources, time, the environment from the queue (looked up once); a job Batch forgot stays without', async () => {
  batchMock.on(DescribeJobsCommand).resolves({ jobs: [job('j-1', '2'), job('arr:1', '1')] });
  batchMock.on(DescribeJobQueuesCommand).resolves({ jobQueues: [{ jobQueueName: 'q', jobQueueArn: 'arn:aws:batch:eu-west-1:123456789012:job-queue/q', state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'spot' }] }] });
  batchMock.on(DescribeComputeEnvironmentsCommand).resolves({
    computeEnvironments: [{ computeEnvironmentName: 'spot', computeEnvironmentArn: 'arn:aws:batch:eu-west-1:123456789012:compute-environment/spot', ecsClusterArn: 'arn:aws:ecs:eu-west-1:123456789012:cluster/spot_Batch_1', computeResources: { type: 'SPOT', instanceTypes: ['m5.large'], maxvCpus: 8, subnets: [] } as never }],
  });
  const run = sfnRun([
    { step: 'start', taskId: '0', status: 'succeeded', inputs: [], attempts: [attempt('j-1')] },
    { step: 'each', taskId: '1', status: 'succeeded', inputs: [], foreachIndex: 1, attempts: [attempt('arr:1')] },
    { step: 'end', taskId: '0', status: 'succeeded', inputs: [], attempts: [attempt('j-gone')] },
  ]);
  const warnings: string[] = [];
  const shown = await withStepFunctionsUsage(run, (l) => warnings.push(l), () => new BatchClient({ region: 'eu-west-1' }));
  expect(warnings).toEqual([]);
  expect(batchMock.commandCalls(DescribeJobsCommand).map((c) => c.args[0].input.jobs)).toEqual([['j-1', 'arr:1', 'j-gone']]);
  expect(batchMock.commandCalls(DescribeJobQueuesCommand)).toHaveLength(1);
  expect(shown.tasks[0].attempts[0].usage).toEqual({ vcpus: 2, memoryMiB: 2048, gpus: 0, capacity: 'SPOT', computeEnvironment: 'spot', instanceType: 'm5.large', region: 'eu-west-1', runMs: HOUR });
  expect(shown.tasks[2].attempts[0]).not.toHaveProperty('usage');
  expect(run.tasks[0].attempts[0]).not.toHaveProperty('usage'); // the record itself is not changed
  expect(runUsage(shown).total).toMatchObject({ attempts: 2, notRecorded: 1, vcpuHours: 3, placement: { spot: 2 } });
});

test('a failed lookup is one warning and the run as recorded; other runs ask nothing', async () => {
  batchMock.on(DescribeJobsCommand).rejects(Object.assign(new Error('User is not authorized to perform: batch:DescribeJobs'), { name: 'AccessDeniedException' }));
  const run = sfnRun([{ step: 'start', taskId: '0', status: 'succeeded', inputs: [], attempts: [attempt('j-1')] }]);
  const warnings: string[] = [];
  expect(await withStepFunctionsUsage(run, (l) => warnings.push(l), () => new BatchClient({ region: 'eu-west-1' }))).toBe(run);
  expect(warnings).toEqual([`could not ask AWS Batch what run ${run.runId}'s jobs used, its usage is left out (User is not authorized to perform: batch:DescribeJobs)`]);

  batchMock.reset();
  const local = { ...run, orchestrator: undefined, executionArn: undefined } as unknown as RunRecord;
  expect(await withStepFunctionsUsage(local, (l) => warnings.push(l), () => new BatchClient({ region: 'eu-west-1' }))).toBe(local);
  expect(batchMock.calls()).toHaveLength(0);
});

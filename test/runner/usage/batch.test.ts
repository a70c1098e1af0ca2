/**
 * A Batch attempt's usage facts from its DescribeJobs record and its queue (runner/usage/batch.ts):
 * the ECS cluster in the task ARN picks the compute environment, Batch's attempts give the run and
 * lost time, and what DescribeJobs leaves out comes from the step's resources.
 */
import type { ComputeEnvironmentDetail, JobDetail } from '@aws-sdk/client-batch';
import type { QueueInfo } from '../../../runner/batch/queues';
import { batchAttemptUsage, batchStartUsage, clusterOfArn, environmentOf, jobPlacement, regionOfArn } from '../../../runner/usage/batch';

const HOUR = 3_600_000;
const ce = (name: string, type: string | undefined, instanceTypes?: string[]): ComputeEnvironmentDetail => ({
  computeEnvironmentName: name,
  computeEnvironmentArn: `arn:aws:batch:eu-west-1:123456789012:compute-environment/${name}`,
  ecsClusterArn: `arn:aws:ecs:eu-west-1:123456789012:cluster/${name}_Batch_abc`,
  ...(type ? { computeResources: { type, instanceTypes, maxvCpus: 16, subnets: [] } as never } : {}),
});
const queue = (...environments: ComputeEnvironmentDetail[]): QueueInfo => ({ queue: 'q', arn: 'arn:aws:batch:eu-west-1:123456789012:job-queue/q', computeEnvironments: environments });
const task = (cluster: string) => `arn:aws:ecs:eu-west-1:123456789012:task/${cluster}/6f1c`;

test('ARNs: the region, and the ECS cluster of a task, container instance or cluster ARN (short ARNs have none)', () => {
  expect(regionOfArn('arn:aws:batch:eu-west-1:1:job/x')).toBe('eu-west-1');
  expect(regionOfArn('not-an-arn')).toBeUndefined();
  expect(clusterOfArn(task('spot_Batch_abc'))).toBe('spot_Batch_abc');
  expect(clusterOfArn('arn:aws:ecs:eu-west-1:1:container-instance/od_Batch_abc/0a1b')).toBe('od_Batch_abc');
  expect(clusterOfArn('arn:aws:ecs:eu-west-1:1:cluster/od_Batch_abc')).toBe('od_Batch_abc');
  expect(clusterOfArn('arn:aws:ecs:eu-west-1:1:task/6f1c')).toBeUndefined();
  expect(clusterOfArn(undefined)).toBeUndefined();
});

test('the environment: by cluster among several; the only one of a queue; none when several and no match', () => {
  const spot = ce('spot', 'SPOT', ['c5.xlarge']);
  const od = ce('od', 'EC2', ['optimal']);
  expect(environmentOf(queue(od, spot), 'spot_Batch_abc')).toBe(spot);
  expect(environmentOf(queue(od), undefined)).toBe(od);
  expect(environmentOf(queue(od, spot), undefined)).toBeUndefined();
  expect(environmentOf(queue(od, spot), 'other_Batch_abc')).toBeUndefined();
});

test('a job reclaimed once then finished: run and lost time from its attempts, the last attempt\'s cluster, resources from the record', () => {
  const job: JobDetail = {
    jobName: 'j', jobId: 'j1', jobQueue: 'q', status: 'SUCCEEDED', jobDefinition: 'd', createdAt: 0, startedAt: 0,
    jobArn: 'arn:aws:batch:eu-west-1:123456789012:job/j1',
    container: { resourceRequirements: [{ type: 'VCPU', value: '2' }, { type: 'MEMORY', value: '3072' }, { type: 'GPU', value: '1' }] },
    attempts: [
      { startedAt: 0, stoppedAt: HOUR, statusReason: 'Host EC2 (instance i-1) terminated.', container: { taskArn: task('od_Batch_abc') } },
      { startedAt: 2 * HOUR, stoppedAt: 2.5 * HOUR, statusReason: 'Essential container in task exited', container: { taskArn: task('spot_Batch_abc') } },
    ],
  };
  const p = jobPlacement(job);
  expect(p).toEqual({ vcpus: 2, memoryMiB: 3072, gpus: 1, cluster: 'spot_Batch_abc', region: 'eu-west-1', runMs: 1.5 * HOUR, lostMs: HOUR });
  expect(batchAttemptUsage(p, { queue: queue(ce('od', 'EC2'), ce('spot', 'SPOT', ['c5.xlarge'])) }, false)).toEqual({
    vcpus: 2, memoryMiB: 3072, gpus: 1, capacity: 'SPOT', computeEnvironment: 'spot', instanceType: 'c5.xlarge', region: 'eu-west-1', runMs: 1.5 * HOUR, lostMs: HOUR,
  });
});

test('what DescribeJobs does not say: vCPUs and memory from the step, capacity unknown for an unmanaged environment, no instance type for a family', () => {
  const p = jobPlacement({ jobName: 'j', jobId: 'j', jobQueue: 'q', status: 'FAILED', jobDefinition: 'd', createdAt: 0, startedAt: 0, container: {} });
  expect(p).toEqual({ vcpus: 0, memoryMiB: 0, gpus: 0 });
  const usage = batchAttemptUsage(p, { queue: queue(ce('own', undefined)), requested: { cpu: 4, memory: 8192, gpu: 0 } }, true);
  expect(usage).toEqual({ vcpus: 4, memoryMiB: 8192, gpus: 0, computeEnvironment: 'own', region: 'eu-west-1', hostLost: true });
  expect(batchStartUsage({ cpu: 1, memory: 2048, gpu: 0 }, queue(ce('od', 'EC2', ['m5'])))).toEqual({ vcpus: 1, memoryMiB: 2048, gpus: 0, capacity: 'EC2', computeEnvironment: 'od', region: 'eu-west-1' });
});

test('Fargate: x86_64 unless the job\'s runtime platform says ARM64', () => {
  const fargate = queue(ce('f', 'FARGATE_SPOT'));
  const base = { jobName: 'j', jobId: 'j', jobQueue: 'q', status: 'SUCCEEDED' as const, jobDefinition: 'd', createdAt: 0, startedAt: 0 };
  expect(batchAttemptUsage(jobPlacement({ ...base, container: {} }), { queue: fargate }, false).architecture).toBe('x86_64');
  const arm = jobPlacement({ ...base, container: { runtimePlatform: { cpuArchitecture: 'ARM64' } } });
  expect(batchAttemptUsage(arm, { queue: fargate }, false)).toMatchObject({ capacity: 'FARGATE_SPOT', architecture: 'arm64' });
});

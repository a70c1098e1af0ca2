/**
 * Usage facts recorded by the Batch layer on the simulated Batch (test/runner/batch/fake-batch.ts,
 * every job's end scripted: no container runs), then `show`'s figures from the stored record: which compute environment ran each job (the ECS
 * cluster in its task ARN), spot vs on-demand, spot reclaims Batch retried inside an attempt and
 * reclaims that ended one, and the cost estimate from a price table.
 */
import { BatchClient, JobDetail } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { S3Datastore } from '../../../runner/datastore/s3';
import { defineFlow, FlowSpec, StepSpec } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { parsePriceTable } from '../../../runner/usage/prices';
import { formatUsage, runUsage } from '../../../runner/usage/report';
import { FakeBatch } from '../batch/fake-batch';
import { motoDatastore } from '../batch/code-package-fixture';
import { fakeClock, sh } from '../support/harness';
import { useMotoBucket } from '../../support/moto-bucket';

const HOUR = 3_600_000;
const ACCOUNT = 'arn:aws:batch:us-east-1:123456789012';
const settings: BatchSettings = {
  queue: 'metaflow',
  gpuQueue: 'gpu',
  jobRoleArn: 'arn:aws:iam::123456789012:role/job',
  datastoreRoot: { bucket: 'mf-usage', prefix: 'metaflow', url: 's3://mf-usage/metaflow' },
};

const bucket = useMotoBucket('mf-usage', 'metaflow');
let datastore: S3Datastore;
beforeAll(() => {
  datastore = motoDatastore(bucket.endpoint, 'mf-usage', 'metaflow');
});
/** No job runs a container here (every end is scripted): the package is never downloaded. */
const codePackageUrl = `s3://mf-usage/metaflow/UsageFlow/data/00/${'0'.repeat(40)}`;

let fake: FakeBatch;
afterEach(() => fake.restore());

/** A compute environment of the queue, with its own ECS cluster as Batch makes one per environment. */
const environment = (name: string, type: string, instanceTypes?: string[]) => ({
  computeEnvironmentName: name,
  computeEnvironmentArn: `${ACCOUNT}:compute-environment/${name}`,
  ecsClusterArn: `arn:aws:ecs:us-east-1:123456789012:cluster/${name}-cluster`,
  state: 'ENABLED' as const,
  status: 'VALID' as const,
  computeResources: { type, maxvCpus: 256, subnets: [], ...(instanceTypes ? { instanceTypes } : {}) } as never,
});

/** DescribeJobs as AWS answers it: the definition's resources, and the ECS task (in `cluster(step)`) that ran it. */
function describeAsAws(cluster: (step: string) => string) {
  return (detail: JobDetail, input: { tags?: Record<string, string> }, definition?: { containerProperties?: { resourceRequirements?: { type?: string; value?: string }[] } }): JobDetail => ({
    ...detail,
    jobArn: `${ACCOUNT}:job/${detail.jobId}`,
    container: {
      ...detail.container,
      resourceRequirements: definition?.containerProperties?.resourceRequirements as never,
      taskArn: `arn:aws:ecs:us-east-1:123456789012:task/${cluster(input.tags?.['metaflow.step'] ?? '')}/0123456789abcdef`,
    },
  });
}

async function run(spec: Partial<FlowSpec> & { steps: StepSpec[] }, executionRoleArn?: string) {
  const flow = defineFlow({ name: 'UsageFlow', image: 'public.ecr.aws/docker/library/python:3.12-slim', ...spec });
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const layer = new BatchComputeLayer({
    settings: { ...settings, executionRoleArn },
    codePackageUrl,
    batch: new BatchClient({ region: 'us-east-1' }),
    logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    logMode: 'none',
    watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
  });
  await layer.lookUp(v.graph);
  const record = await runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock: fakeClock() });
  // `show` reads the record back from the datastore
  return (await datastore.readRun(record.runId))!;
}

const prices = parsePriceTable(
  JSON.stringify({
    currency: 'USD',
    fargate: [
      { capacity: 'FARGATE', region: 'us-east-1', vcpuHour: 0.04048, gibHour: 0.004445 },
      { capacity: 'FARGATE_SPOT', region: 'us-east-1', vcpuHour: 0.012, gibHour: 0.0013 },
    ],
    ec2: [
      { instanceType: 'm5.large', region: 'us-east-1', vcpus: 2, memoryGiB: 8, onDemandHour: 0.096, spotHour: 0.04 },
      { instanceType: 'm5.xlarge', region: 'us-east-1', vcpus: 4, memoryGiB: 16, onDemandHour: 0.192, computeEnvironments: ['od'] },
    ],
  }),
  'prices.json',
);

test('a queue of an on-demand and a spot environment: each attempt records the environment that ran it; a spot reclaim Batch retried is lost time', async () => {
  fake = new FakeBatch('EC2', {}, bucket.endpoint);
  fake.computeEnvironments = [environment('spot', 'SPOT', ['m5.large']), environment('od', 'EC2', ['optimal'])];
  fake.describeWith = describeAsAws((step) => (step === 'train' ? 'spot-cluster' : 'od-cluster'));
  // train's first Batch attempt ran an hour on a spot host that was reclaimed
  const lost = { startedAt: 1_000, stoppedAt: 1_000 + HOUR, statusReason: 'Host EC2 (instance i-0abc) terminated.', container: { taskArn: 'arn:aws:ecs:us-east-1:123456789012:task/spot-cluster/old' } };
  // no container runs: Batch's answers are scripted (exit code 0; train after the reclaim)
  fake.script = (step) => (step === 'train' ? { exitCode: 0, attemptsBefore: [lost] } : { exitCode: 0 });
  const record = await run({
    steps: [
      { name: 'start', command: sh('true'), next: 'train', resources: { cpu: 2, memory: 4096 } },
      { name: 'train', command: sh('true'), next: 'end', resources: { cpu: 1, memory: 2048 } },
      { name: 'end', command: sh('true') },
    ],
  });
  expect(record.error).toBeUndefined();
  expect(record.status).toBe('succeeded');
  const usage = (step: string) => record.tasks.find((t) => t.step === step)!.attempts[0].usage!;
  expect(usage('start')).toMatchObject({ vcpus: 2, memoryMiB: 4096, gpus: 0, capacity: 'EC2', computeEnvironment: 'od', region: 'us-east-1' });
  expect(usage('start')).not.toHaveProperty('instanceType'); // `optimal`: the price table names it
  expect(usage('train')).toMatchObject({ vcpus: 1, memoryMiB: 2048, capacity: 'SPOT', computeEnvironment: 'spot', instanceType: 'm5.large', lostMs: HOUR });
  expect(usage('train').runMs).toBeGreaterThanOrEqual(HOUR);
  expect(usage('end')).toMatchObject({ vcpus: 1, memoryMiB: 4096, capacity: 'EC2', computeEnvironment: 'od' });

  const u = runUsage(record, prices);
  expect(u.total).toMatchObject({ attempts: 3, notRecorded: 0, placement: { onDemand: 2, spot: 1, local: 0, unknown: 0 }, lostAttempts: 1, lostVcpuHours: 1 });
  const spotHourly = 0.04 * (0.9 * 1 + 0.1 * 2) / (0.9 * 2 + 0.1 * 8);
  expect(u.total.cost!.lost).toBeCloseTo(spotHourly, 9);
  const train = u.steps.find((s) => s.step === 'train')!;
  // the hour on the lost host plus the few milliseconds the container ran here
  expect(train.cost!.amount).toBeGreaterThanOrEqual(spotHourly);
  expect(train.cost!.amount).toBeLessThan(spotHourly * 1.01);
  expect(u.total.cost!.priced).toBe(3);
  expect(formatUsage(u).join('\n')).toContain('lost with their host (spot reclaims): 1 attempt, 1.000 vCPU-h, $0.0169 of the estimate');
});

test('Fargate Spot: a reclaim that ended an attempt is lost with all its time, the user retry runs on; Fargate is priced per vCPU and GiB', async () => {
  fake = new FakeBatch('FARGATE', {}, bucket.endpoint);
  fake.computeEnvironments = [environment('fspot', 'FARGATE_SPOT')];
  fake.describeWith = describeAsAws(() => 'fspot-cluster');
  // no container runs: Batch's answers are scripted (a reclaim, then exit code 0)
  fake.script = (step, _index, attempt) => (step === 'start' && attempt === 0 ? { statusReason: 'Your Spot Task was interrupted.' } : { exitCode: 0 });
  const record = await run({
    steps: [
      { name: 'start', command: sh('true'), next: 'end', resources: { cpu: 0.5, memory: 1024 }, retry: { times: 1, minutesBetweenRetries: 0 } },
      { name: 'end', command: sh('true'), resources: { cpu: 0.25, memory: 512 } },
    ],
  }, 'arn:aws:iam::123456789012:role/execution');
  expect(record.error).toBeUndefined();
  expect(record.status).toBe('succeeded');
  const start = record.tasks.find((t) => t.step === 'start')!;
  expect(start.attempts.map((a) => a.usage)).toEqual([
    expect.objectContaining({ vcpus: 0.5, memoryMiB: 1024, capacity: 'FARGATE_SPOT', computeEnvironment: 'fspot', architecture: 'x86_64', hostLost: true }),
    expect.not.objectContaining({ hostLost: true }),
  ]);
  const u = runUsage(record, prices);
  expect(u.total).toMatchObject({ attempts: 3, lostAttempts: 1, placement: { spot: 3, onDemand: 0 }, cost: { priced: 3 } });
});

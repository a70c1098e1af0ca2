/**
 * `show`'s usage figures and cost estimate from hand-made run records: spot, on-demand, Fargate,
 * GPU, local and old (no usage) attempts mixed, with the split cost allocation weights checked
 * against AWS's own worked examples.
 */
import type { AttemptRecord, RunRecord, TaskRecord } from '../../../runner/datastore/types';
import { parsePriceTable } from '../../../runner/usage/prices';
import { formatUsage, hourlyPrice, runUsage } from '../../../runner/usage/report';
import type { AttemptUsage } from '../../../runner/usage/types';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

/** An attempt that ran `hours` from T0, with `usage`. */
function attempt(hours: number, usage?: AttemptUsage, extra: Partial<AttemptRecord> = {}): AttemptRecord {
  return { attempt: 0, status: 'succeeded', exitCode: 0, startedAt: new Date(T0).toISOString(), finishedAt: new Date(T0 + hours * HOUR).toISOString(), durationMs: hours * HOUR, ...(usage ? { usage } : {}), ...extra };
}
const task = (step: string, taskId: string, attempts: AttemptRecord[], extra: Partial<TaskRecord> = {}): TaskRecord => ({ step, taskId, status: 'succeeded', inputs: [], attempts, ...extra });
const record = (tasks: TaskRecord[]) => ({ tasks }) as Pick<RunRecord, 'tasks'>;

const table = parsePriceTable(
  JSON.stringify({
    currency: 'USD',
    fargate: [
      { capacity: 'FARGATE', region: 'us-east-1', vcpuHour: 0.04048, gibHour: 0.004445 },
      { capacity: 'FARGATE', vcpuHour: 1, gibHour: 1, note: 'any region: loses to the entry naming the region' },
      { capacity: 'FARGATE_SPOT', vcpuHour: 0.012, gibHour: 0.0013 },
    ],
    ec2: [
      { instanceType: 'm5.large', region: 'us-east-1', vcpus: 2, memoryGiB: 8, onDemandHour: 0.096, spotHour: 0.04 },
      { instanceType: 'm5.xlarge', vcpus: 4, memoryGiB: 16, onDemandHour: 0.192, computeEnvironments: ['od-ce'] },
      { instanceType: 'g5.12xlarge', vcpus: 48, memoryGiB: 192, gpus: 4, onDemandHour: 16 },
    ],
  }),
  'prices.json',
);

const fargate: AttemptUsage = { vcpus: 2, memoryMiB: 4096, gpus: 0, capacity: 'FARGATE', region: 'us-east-1', architecture: 'x86_64' };
const spot: AttemptUsage = { vcpus: 1, memoryMiB: 2048, gpus: 0, capacity: 'SPOT', computeEnvironment: 'spot-ce', instanceType: 'm5.large', region: 'us-east-1' };

test('AWS split cost allocation examples: m5.xlarge at $1/h is $0.17 per vCPU-hour and $0.02 per GB-hour; p3.16xlarge at $10/h is $0.504 per GPU-hour', () => {
  const t = parsePriceTable(JSON.stringify({ currency: 'USD', ec2: [
    { instanceType: 'm5.xlarge', vcpus: 4, memoryGiB: 16, onDemandHour: 1 },
    { instanceType: 'p3.16xlarge', vcpus: 64, memoryGiB: 488, gpus: 8, onDemandHour: 10 },
  ] }), 'aws.json');
  const on = (instanceType: string, vcpus: number, memoryMiB: number, gpus = 0) => hourlyPrice({ vcpus, memoryMiB, gpus, capacity: 'EC2', instanceType }, t) as number;
  expect(on('m5.xlarge', 1, 0)).toBeCloseTo(9 / 52, 6); // 0.173
  expect(on('m5.xlarge', 0, 1024)).toBeCloseTo(1 / 52, 6); // 0.019
  expect(on('m5.xlarge', 4, 16 * 1024)).toBeCloseTo(1, 9); // the whole instance
  expect(on('p3.16xlarge', 0, 0, 1)).toBeCloseTo(0.5045, 4);
  expect(on('p3.16xlarge', 1, 0)).toBeCloseTo(0.05045, 5);
  expect(on('p3.16xlarge', 0, 1024)).toBeCloseTo(0.005605, 6);
});

test('a mix of Fargate, spot, on-demand, GPU, local and old attempts: hours, placement, losses and cost per step and in total', () => {
  const run = record([
    // Fargate on-demand, 1 h: 2 × 0.04048 + 4 × 0.004445 (the us-east-1 entry, not the any-region one)
    task('start', '0', [attempt(1, fargate)]),
    // Spot m5.large, 2 h of which 1 h on a host Batch lost and retried: share (0.9 + 0.2) / (1.8 + 0.8) of $0.04
    task('train', '0', [attempt(2, { ...spot, runMs: 2 * HOUR, lostMs: HOUR }, { infrastructureRetries: 1 })]),
    // an attempt that ended with its host (spot reclaim), 0.5 h, then a retry of 0.5 h: both spot
    task('train', '1', [attempt(0.5, { ...spot, hostLost: true }, { status: 'failed' }), attempt(0.5, spot, { attempt: 1 })]),
    // On-demand, environment of several instance types priced as m5.xlarge: the whole instance, 0.5 h
    task('eval', '0', [attempt(0.5, { vcpus: 4, memoryMiB: 16384, gpus: 0, capacity: 'EC2', computeEnvironment: 'od-ce' })]),
    // a quarter of a g5.12xlarge (1 of 4 GPUs, 12 of 48 vCPUs, 48 of 192 GiB) for 1 h
    task('gpu', '0', [attempt(1, { vcpus: 12, memoryMiB: 48 * 1024, gpus: 1, capacity: 'EC2', instanceType: 'g5.12xlarge' })]),
    // local: counted, never priced; an old attempt without usage; a reused task; an attempt that never started
    task('end', '0', [attempt(1, { vcpus: 1, memoryMiB: 4096, gpus: 0, capacity: 'LOCAL' }), attempt(1, undefined, { attempt: 1 }), { attempt: 2, status: 'cancelled', exitCode: null }]),
    task('end', '1', [], { status: 'reused', reusedFrom: 'older' }),
  ]);
  const u = runUsage(run, table);
  const step = (name: string) => u.steps.find((s) => s.step === name)!;
  expect(u.steps.map((s) => s.step)).toEqual(['start', 'train', 'eval', 'gpu', 'end']);

  expect(step('start')).toMatchObject({ attempts: 1, vcpuHours: 2, memoryGiBHours: 4, gpuHours: 0, placement: { onDemand: 1, spot: 0, local: 0, unknown: 0 } });
  expect(step('start').cost!.amount).toBeCloseTo(2 * 0.04048 + 4 * 0.004445, 9);

  const spotHourly = 0.04 * (1.1 / 2.6);
  const train = step('train');
  expect(train).toMatchObject({ attempts: 3, vcpuHours: 3, memoryGiBHours: 6, placement: { onDemand: 0, spot: 3, local: 0, unknown: 0 }, lostAttempts: 2, lostVcpuHours: 1.5 });
  expect(train.cost!.amount).toBeCloseTo(spotHourly * 3, 9);
  expect(train.cost!.lost).toBeCloseTo(spotHourly * 1.5, 9);

  expect(step('eval').cost!.amount).toBeCloseTo(0.192 * 0.5, 9);
  expect(step('gpu')).toMatchObject({ gpuHours: 1, vcpuHours: 12 });
  expect(step('gpu').cost!.amount).toBeCloseTo(16 / 4, 9);

  expect(step('end')).toMatchObject({ attempts: 1, notRecorded: 1, placement: { local: 1 }, vcpuHours: 1, cost: { amount: 0, priced: 0, notPriced: { 'no usage recorded': 1 } } });

  expect(u.total).toMatchObject({ attempts: 7, notRecorded: 1, gpuHours: 1, lostAttempts: 2, placement: { onDemand: 3, spot: 3, local: 1, unknown: 0 } });
  expect(u.total.vcpuHours).toBeCloseTo(2 + 3 + 2 + 12 + 1, 9);
  expect(u.total.vcpuHoursByCapacity).toEqual({ FARGATE: 2, SPOT: 3, EC2: 14, LOCAL: 1 });
  expect(u.total.cost!.amount).toBeCloseTo(2 * 0.04048 + 4 * 0.004445 + spotHourly * 3 + 0.096 + 4, 9);
  expect(u.total.cost!.priced).toBe(6);

  const text = formatUsage(u).join('\n');
  expect(text).toMatch(/^train\s+3\s+3\.000\s+6\.000\s+0\s+0\s+3\s+0\s+2\s+\$0\.0508$/m);
  expect(text).toMatch(/^total\s+8\s+20\.0\s+70\.0\s+1\.000\s+3\s+3\s+1\s+2\s+\$4\.25$/m);
  expect(text).toContain('lost with their host (spot reclaims): 2 attempts, 1.500 vCPU-h, $0.0254 of the estimate');
  expect(text).toContain('1 attempt without usage in the record (still running, a Batch job AWS no longer describes, or a run of an earlier version): left out');
  expect(text).toContain('cost is an estimate from prices.json');
});

test('attempts that cannot be priced are counted with the reason, and leave the rest of the estimate alone', () => {
  const run = record([
    task('a', '0', [
      attempt(1, { ...fargate, capacity: 'FARGATE_SPOT', architecture: 'arm64' }),
      attempt(1, { vcpus: 1, memoryMiB: 1024, gpus: 0, capacity: 'SPOT', computeEnvironment: 'big-ce' }, { attempt: 1 }),
      attempt(1, { vcpus: 1, memoryMiB: 1024, gpus: 0, capacity: 'EC2', instanceType: 'c7g.large', region: 'eu-west-1' }, { attempt: 2 }),
      attempt(1, { vcpus: 1, memoryMiB: 1024, gpus: 0, capacity: 'SPOT', instanceType: 'm5.xlarge' }, { attempt: 3 }),
      attempt(1, { vcpus: 1, memoryMiB: 1024, gpus: 0 }, { attempt: 4 }),
      attempt(1, fargate, { attempt: 5 }),
    ]),
  ]);
  const u = runUsage(run, table);
  expect(u.total.cost).toMatchObject({
    priced: 1,
    notPriced: {
      'no fargate entry for FARGATE_SPOT arm64 in us-east-1': 1,
      "instance type of compute environment big-ce not known (name it in an ec2 entry's computeEnvironments)": 1,
      'no ec2 entry for c7g.large in eu-west-1': 1,
      'ec2 entry m5.xlarge has no spotHour': 1,
      'the compute environment that ran it is not known': 1,
    },
  });
  expect(u.total.cost!.amount).toBeCloseTo(2 * 0.04048 + 4 * 0.004445, 9);
  expect(u.total.placement.unknown).toBe(1);
  const text = formatUsage(u).join('\n');
  expect(text).toContain('not priced: 1 attempt: ec2 entry m5.xlarge has no spotHour');
  expect(text).toContain('1 attempt ran on a compute environment not known');
});

test('without a price table: usage only, no cost column, a hint for Batch runs; a local run needs none', () => {
  const batch = formatUsage(runUsage(record([task('start', '0', [attempt(1, fargate)])])));
  expect(batch[0]).toBe('usage (resources the attempts asked for × their run time):');
  expect(batch[1].split('\n')[0].trim().split(/\s+/)).toEqual(['step', 'attempts', 'vCPU-h', 'GiB-h', 'GPU-h', 'on-demand', 'spot', 'local', 'lost']);
  expect(batch).toContain('for an estimated cost: `--prices <file>` (the format: docs/operations.md, "Usage and cost")');
  expect(runUsage(record([])).total).not.toHaveProperty('cost');
  const local = formatUsage(runUsage(record([task('start', '0', [attempt(2, { vcpus: 2, memoryMiB: 1024, gpus: 0, capacity: 'LOCAL' })])])));
  expect(local.join('\n')).toMatch(/^start\s+1\s+4\.000\s+2\.000\s+0\s+0\s+0\s+1\s+0$/m);
  expect(local.join('\n')).not.toContain('--prices');
});

test('a record of an earlier version (no usage anywhere) still shows: its attempts are counted as not recorded', () => {
  const u = runUsage(record([task('start', '0', [attempt(1)])]), table);
  expect(u.total).toMatchObject({ attempts: 0, notRecorded: 1, vcpuHours: 0, cost: { amount: 0, priced: 0 } });
  expect(formatUsage(u).join('\n')).toContain('1 attempt without usage in the record');
});

test('a run where nothing ran (every task reused) has no usage lines', () => {
  expect(formatUsage(runUsage(record([task('start', '0', [], { status: 'reused', reusedFrom: 'older' })]), table))).toEqual([]);
});

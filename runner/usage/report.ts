/**
 * What a run used, per step and in total, from its recorded attempts (AttemptRecord.usage):
 * vCPU-, memory GiB- and GPU-hours, attempts by capacity (on-demand, spot, local), attempts and
 * hours lost to host losses (spot reclaims), and, given a price table, an estimated cost.
 *
 * An attempt's hours: the time its container ran (`usage.runMs`: every Batch attempt of the job,
 * reclaimed ones included), else its recorded duration. Cost per attempt:
 * - Fargate / Fargate Spot: vCPUs × vcpuHour + GiB × gibHour, per hour, as AWS Fargate bills the
 *   vCPU and memory a task asks for (https://aws.amazon.com/fargate/pricing/).
 * - EC2 / Spot: the job's share of its instance's hourly price, weighted as AWS's split cost
 *   allocation data weights an instance's resources — GPU 9, vCPU 0.9, GiB 0.1, which is vCPU:memory
 *   9:1 on instances without GPUs (https://docs.aws.amazon.com/cur/latest/userguide/example-split-cost-allocation-data.html,
 *   https://docs.aws.amazon.com/cur/latest/userguide/example-accelerated-instances.html). The
 *   instance's unused part is not attributed to anyone.
 * - Local attempts cost nothing here; attempts without usage, or whose place or price is not
 *   known, are counted as not priced, with the reason.
 */
import type { AttemptRecord, RunRecord, TaskRecord } from '../datastore/types';
import { formatTable } from '../progress/table';
import type { Ec2Price, FargatePrice, PriceTable } from './prices';
import type { AttemptUsage, Capacity } from './types';

const HOUR_MS = 3_600_000;
/** Split cost allocation data's relative weights (see the module comment). */
export const SPLIT_WEIGHTS = { gpu: 9, vcpu: 0.9, memoryGiB: 0.1 } as const;

/** The figures of a step or a run. */
export interface UsageFigures {
  /** Attempts that ran (started) with their usage recorded. */
  readonly attempts: number;
  /** Attempts that ran without usage in the record (records of earlier versions, jobs Batch no longer describes). */
  readonly notRecorded: number;
  readonly vcpuHours: number;
  readonly memoryGiBHours: number;
  readonly gpuHours: number;
  /** Attempts per place: `onDemand` (EC2, FARGATE), `spot` (SPOT, FARGATE_SPOT), `local`, `unknown`. */
  readonly placement: { readonly onDemand: number; readonly spot: number; readonly local: number; readonly unknown: number };
  /** vCPU-hours per capacity (LOCAL and unknown included). */
  readonly vcpuHoursByCapacity: Readonly<Partial<Record<Capacity | 'unknown', number>>>;
  /** Attempts lost with their host: Batch's own retries after a spot reclaim, and attempts that ended so. */
  readonly lostAttempts: number;
  /** vCPU-hours of those lost attempts. */
  readonly lostVcpuHours: number;
  /** With a price table: the estimate. */
  readonly cost?: CostEstimate;
}

export interface CostEstimate {
  readonly currency: string;
  /** Sum over the priced attempts. */
  readonly amount: number;
  /** Of `amount`, the part spent on lost hosts. */
  readonly lost: number;
  /** Attempts priced (local attempts are not: they cost nothing here). */
  readonly priced: number;
  /** Attempts not priced, per reason. */
  readonly notPriced: Readonly<Record<string, number>>;
}

export interface RunUsage {
  /** Always true: figures from requested resources and a user's price table, not a bill. */
  readonly estimate: true;
  /** The price table's file, when one was given. */
  readonly prices?: string;
  readonly total: UsageFigures;
  readonly steps: readonly ({ readonly step: string } & UsageFigures)[];
}

/** One attempt's hours, and of them those on lost hosts. */
function hoursOf(a: AttemptRecord, u: AttemptUsage): { hours: number; lostHours: number } | undefined {
  const ms = u.runMs ?? a.durationMs ?? (a.startedAt && a.finishedAt ? Date.parse(a.finishedAt) - Date.parse(a.startedAt) : undefined);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return undefined;
  const lostMs = u.hostLost ? ms : Math.min(ms, u.lostMs ?? 0);
  return { hours: ms / HOUR_MS, lostHours: lostMs / HOUR_MS };
}

const matchesRegion = (entry: { readonly region?: string }, region: string | undefined) => entry.region === undefined || entry.region === region;
/** The entry naming the region wins over one for any region. */
function pick<T extends { readonly region?: string }>(candidates: readonly T[], region: string | undefined): T | undefined {
  const fitting = candidates.filter((e) => matchesRegion(e, region));
  return fitting.find((e) => e.region !== undefined) ?? fitting[0];
}

/** Per hour of the attempt, in the table's currency; or why it cannot be priced. */
export function hourlyPrice(u: AttemptUsage, table: PriceTable): number | { readonly reason: string } {
  const gib = u.memoryMiB / 1024;
  switch (u.capacity) {
    case undefined:
      return { reason: 'the compute environment that ran it is not known' };
    case 'LOCAL':
      return 0;
    case 'FARGATE':
    case 'FARGATE_SPOT': {
      const arch = u.architecture ?? 'x86_64';
      const entry: FargatePrice | undefined = pick(table.fargate.filter((f) => f.capacity === u.capacity && f.architecture === arch), u.region);
      if (!entry) return { reason: `no fargate entry for ${u.capacity} ${arch}${u.region ? ` in ${u.region}` : ''}` };
      return u.vcpus * entry.vcpuHour + gib * entry.gibHour;
    }
    case 'EC2':
    case 'SPOT': {
      const byType = u.instanceType ? pick(table.ec2.filter((e) => e.instanceType === u.instanceType), u.region) : undefined;
      const byEnvironment = u.computeEnvironment ? pick(table.ec2.filter((e) => e.computeEnvironments.includes(u.computeEnvironment!)), u.region) : undefined;
      const entry: Ec2Price | undefined = byType ?? byEnvironment;
      if (!entry) {
        return {
          reason: u.instanceType
            ? `no ec2 entry for ${u.instanceType}${u.region ? ` in ${u.region}` : ''}`
            : `instance type of compute environment ${u.computeEnvironment ?? '?'} not known (name it in an ec2 entry's computeEnvironments)`,
        };
      }
      const hourly = u.capacity === 'SPOT' ? entry.spotHour : entry.onDemandHour;
      if (hourly === undefined) return { reason: `ec2 entry ${entry.instanceType} has no ${u.capacity === 'SPOT' ? 'spotHour' : 'onDemandHour'}` };
      const w = SPLIT_WEIGHTS;
      const instance = w.gpu * entry.gpus + w.vcpu * entry.vcpus + w.memoryGiB * entry.memoryGiB;
      const job = w.gpu * Math.min(u.gpus, entry.gpus) + w.vcpu * u.vcpus + w.memoryGiB * gib;
      return hourly * Math.min(1, job / instance);
    }
  }
}

interface Accumulator {
  attempts: number;
  notRecorded: number;
  vcpuHours: number;
  memoryGiBHours: number;
  gpuHours: number;
  placement: { onDemand: number; spot: number; local: number; unknown: number };
  vcpuHoursByCapacity: Partial<Record<Capacity | 'unknown', number>>;
  lostAttempts: number;
  lostVcpuHours: number;
  cost?: { currency: string; amount: number; lost: number; priced: number; notPriced: Record<string, number> };
}

function empty(table: PriceTable | undefined): Accumulator {
  return {
    attempts: 0,
    notRecorded: 0,
    vcpuHours: 0,
    memoryGiBHours: 0,
    gpuHours: 0,
    placement: { onDemand: 0, spot: 0, local: 0, unknown: 0 },
    vcpuHoursByCapacity: {},
    lostAttempts: 0,
    lostVcpuHours: 0,
    ...(table ? { cost: { currency: table.currency, amount: 0, lost: 0, priced: 0, notPriced: {} } } : {}),
  };
}

function add(acc: Accumulator, a: AttemptRecord, table: PriceTable | undefined): void {
  // Never ran (a Step Functions run's attempts have no start time, only their Batch job and its usage).
  if (!a.startedAt && !a.usage && !a.externalId) return;
  const u = a.usage;
  const time = u ? hoursOf(a, u) : undefined;
  if (!u || !time) {
    acc.notRecorded += 1;
    if (acc.cost) acc.cost.notPriced[u ? 'still running' : 'no usage recorded'] = (acc.cost.notPriced[u ? 'still running' : 'no usage recorded'] ?? 0) + 1;
    return;
  }
  acc.attempts += 1;
  acc.vcpuHours += u.vcpus * time.hours;
  acc.memoryGiBHours += (u.memoryMiB / 1024) * time.hours;
  acc.gpuHours += u.gpus * time.hours;
  const place = u.capacity === 'EC2' || u.capacity === 'FARGATE' ? 'onDemand' : u.capacity === 'SPOT' || u.capacity === 'FARGATE_SPOT' ? 'spot' : u.capacity === 'LOCAL' ? 'local' : 'unknown';
  acc.placement[place] += 1;
  const key = u.capacity ?? 'unknown';
  acc.vcpuHoursByCapacity[key] = (acc.vcpuHoursByCapacity[key] ?? 0) + u.vcpus * time.hours;
  acc.lostAttempts += (a.infrastructureRetries ?? 0) + (u.hostLost ? 1 : 0);
  acc.lostVcpuHours += u.vcpus * time.lostHours;
  if (!acc.cost || !table || u.capacity === 'LOCAL') return;
  const hourly = hourlyPrice(u, table);
  if (typeof hourly !== 'number') {
    acc.cost.notPriced[hourly.reason] = (acc.cost.notPriced[hourly.reason] ?? 0) + 1;
    return;
  }
  acc.cost.priced += 1;
  acc.cost.amount += hourly * time.hours;
  acc.cost.lost += hourly * time.lostHours;
}

function merge(into: Accumulator, from: Accumulator): void {
  into.attempts += from.attempts;
  into.notRecorded += from.notRecorded;
  into.vcpuHours += from.vcpuHours;
  into.memoryGiBHours += from.memoryGiBHours;
  into.gpuHours += from.gpuHours;
  for (const k of Object.keys(from.placement) as (keyof Accumulator['placement'])[]) into.placement[k] += from.placement[k];
  for (const [k, v] of Object.entries(from.vcpuHoursByCapacity) as [Capacity | 'unknown', number][]) into.vcpuHoursByCapacity[k] = (into.vcpuHoursByCapacity[k] ?? 0) + v;
  into.lostAttempts += from.lostAttempts;
  into.lostVcpuHours += from.lostVcpuHours;
  if (into.cost && from.cost) {
    into.cost.amount += from.cost.amount;
    into.cost.lost += from.cost.lost;
    into.cost.priced += from.cost.priced;
    for (const [k, v] of Object.entries(from.cost.notPriced)) into.cost.notPriced[k] = (into.cost.notPriced[k] ?? 0) + v;
  }
}

/** The run's usage per step (in the order steps first appear) and in total. Reused tasks ran in their origin run: not counted. */
export function runUsage(run: Pick<RunRecord, 'tasks'>, table?: PriceTable): RunUsage {
  const bySteps = new Map<string, Accumulator>();
  for (const t of run.tasks as readonly TaskRecord[]) {
    let acc = bySteps.get(t.step);
    if (!acc) bySteps.set(t.step, (acc = empty(table)));
    for (const a of t.attempts) add(acc, a, table);
  }
  const total = empty(table);
  for (const acc of bySteps.values()) merge(total, acc);
  return { estimate: true, ...(table ? { prices: table.file } : {}), total, steps: [...bySteps].map(([step, acc]) => ({ step, ...acc })) };
}

const hours = (h: number) => (h === 0 ? '0' : h < 0.001 ? '<0.001' : h < 10 ? h.toFixed(3) : h.toFixed(1));

/** An amount of money: `$0.0123` for USD, `0.0123 EUR` otherwise. */
export function formatMoney(amount: number, currency: string): string {
  const digits = amount === 0 ? '0' : amount < 0.0001 ? '<0.0001' : amount < 1 ? amount.toFixed(4) : amount.toFixed(2);
  return currency === 'USD' ? `$${digits}` : `${digits} ${currency}`;
}

/** `show`'s lines: the usage table (a cost column with a price table), the losses, and what was left out. */
export function formatUsage(u: RunUsage): string[] {
  if (u.total.attempts + u.total.notRecorded === 0) return []; // nothing ran (every task reused, or none started)
  const priced = u.total.cost !== undefined;
  const header = ['step', 'attempts', 'vCPU-h', 'GiB-h', 'GPU-h', 'on-demand', 'spot', 'local', 'lost', ...(priced ? ['cost'] : [])];
  const row = (name: string, f: UsageFigures) => [
    name,
    f.attempts + f.notRecorded,
    hours(f.vcpuHours),
    hours(f.memoryGiBHours),
    hours(f.gpuHours),
    f.placement.onDemand,
    f.placement.spot,
    f.placement.local,
    f.lostAttempts,
    ...(f.cost ? [formatMoney(f.cost.amount, f.cost.currency)] : []),
  ];
  const rows = [header, ...u.steps.map((s) => row(s.step, s)), ...(u.steps.length > 1 ? [row('total', u.total)] : [])];
  const lines = ['usage (resources the attempts asked for × their run time):', formatTable(rows)];
  const t = u.total;
  if (t.lostAttempts > 0) {
    const cost = t.cost ? `, ${formatMoney(t.cost.lost, t.cost.currency)} of the estimate` : '';
    lines.push(`lost with their host (spot reclaims): ${t.lostAttempts} attempt${t.lostAttempts === 1 ? '' : 's'}, ${hours(t.lostVcpuHours)} vCPU-h${cost}`);
  }
  if (t.placement.unknown > 0) lines.push(`${t.placement.unknown} attempt${t.placement.unknown === 1 ? '' : 's'} ran on a compute environment not known (the queue has several and the job did not say which)`);
  if (t.notRecorded > 0) lines.push(`${t.notRecorded} attempt${t.notRecorded === 1 ? '' : 's'} without usage in the record (still running, a Batch job AWS no longer describes, or a run of an earlier version): left out`);
  if (t.cost) {
    const skipped = Object.entries(t.cost.notPriced).filter(([reason]) => reason !== 'no usage recorded' && reason !== 'still running');
    for (const [reason, n] of skipped) lines.push(`not priced: ${n} attempt${n === 1 ? '' : 's'}: ${reason}`);
    lines.push(`cost is an estimate from ${u.prices}: requested resources × run time × its prices; not a bill (docs/operations.md, "Usage and cost")`);
  } else if (t.attempts > 0 && t.placement.local < t.attempts) {
    lines.push('for an estimated cost: `--prices <file>` (the format: docs/operations.md, "Usage and cost")');
  }
  return lines;
}

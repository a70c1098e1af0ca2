/**
 * ONE polling loop for all jobs of a run. Each round sends DescribeJobs for the jobs that are
 * due, ≤100 IDs per call, filling the last call with the jobs due soonest. A job's interval adapts
 * to how long it has been in its state (a tenth of that, between `minIntervalMs` and
 * `maxIntervalMs`): fresh jobs are looked at every few seconds, a job RUNNING for an hour every
 * two minutes. An array job is watched through its parent's `arrayProperties.statusSummary`.
 * When the number of children that have started (RUNNING + SUCCEEDED + FAILED) grows while some
 * run, ListJobs(arrayJobId, RUNNING) names the running children and the new ones are described
 * (100 per call) for their log streams: each gets its `started` event while it runs, so its log
 * can be followed live; the children reported started that the list no longer names have ended
 * and are described then, for their `finished`. ListJobs(arrayJobId, FAILED) runs only when the
 * FAILED count grows, and the other children are described (IDs `<parent>:<index>`, 100 per
 * call) once the array ended, so every child still gets its own `finished` event with exit code,
 * status reason, log stream and Batch's attempt history. Both ListJobs calls depend on the summary changing, so the calls stay
 * bounded by the polls of the parent, not by its width.
 */
import {
  BatchClient,
  DescribeJobsCommand,
  DescribeJobsCommandOutput,
  JobDetail,
  JobStatus,
  JobSummary,
  ListJobsCommandInput,
  paginateListJobs,
} from '@aws-sdk/client-batch';
import { ApiCallCounter } from './api-calls';
import { BatchClock, REAL_CLOCK } from './clock';
import { classifyFailure, explainRunnable, FailureInfo, infrastructureRetries, InfrastructureRetry, jobResources, primaryContainer } from './failures';
import type { QueueInfo } from './queues';
import { JobPlacement, jobPlacement } from '../usage/batch';

/** DescribeJobs takes at most 100 job IDs. */
export const DESCRIBE_JOBS_MAX = 100;

/** A job the watcher follows: a plain job (size 1) or an array parent (size ≥ 2). */
export interface WatchedJob {
  readonly jobId: string;
  /** 1 for a plain job; the array size for an array parent. */
  readonly size: number;
  /** Foreach index of child 0 (the MF_ARRAY_INDEX_OFFSET); 0 for plain tasks. */
  readonly firstIndex?: number;
  /** The caller's handle (task identity); passed back in events. */
  readonly ref: unknown;
  /** The queue, for stuck-RUNNABLE diagnostics. */
  readonly queue?: string;
}

export interface TaskOutcome {
  readonly status: 'SUCCEEDED' | 'FAILED';
  readonly exitCode?: number;
  readonly statusReason?: string;
  /** Batch's attempts of this job (1 + infrastructure retries). */
  readonly batchAttempts: number;
  /** Attempts Batch retried after a host loss (spot reclaim) — shown, not hidden. */
  readonly infrastructureRetries: readonly InfrastructureRetry[];
  readonly logStreamName?: string;
  readonly startedAt?: number;
  readonly stoppedAt?: number;
  /** For FAILED jobs: the classified failure. */
  readonly failure?: FailureInfo;
  /** Its resources, host cluster and run times, for the run record's usage (runner/usage). */
  readonly placement?: JobPlacement;
}

export type WatchEvent =
  | { readonly type: 'started'; readonly job: WatchedJob; readonly childIndex?: number; readonly at: number; readonly logStreamName?: string }
  | { readonly type: 'finished'; readonly job: WatchedJob; readonly childIndex?: number; readonly outcome: TaskOutcome }
  | { readonly type: 'progress'; readonly job: WatchedJob; readonly status: string; readonly summary: Readonly<Record<string, number>> }
  | { readonly type: 'stuck'; readonly job: WatchedJob; readonly since: number; readonly explanation: string };

export interface WatcherOptions {
  /** @default 5000 */
  readonly minIntervalMs?: number;
  /** @default 120000 */
  readonly maxIntervalMs?: number;
  /** Interval = time in the current state × this factor (clamped). @default 0.1 */
  readonly ageFactor?: number;
  /** A job RUNNABLE this long gets one `stuck` event explaining why. @default 900000 (15 min) */
  readonly stuckRunnableMs?: number;
  /**
   * Describe newly running array children for their log streams before saying they started.
   * Without it, `started` comes from ListJobs' summaries alone (no DescribeJobs, no log stream):
   * enough when the caller follows no logs while tasks run.
   *
   * @default true
   */
  readonly childLogStreams?: boolean;
  /** Queue details for the stuck explanation (QueueInspector.inspect). */
  readonly queueInfo?: (queue: string) => Promise<QueueInfo>;
  readonly clock?: BatchClock;
  readonly calls?: ApiCallCounter;
}

const TERMINAL = new Set<string>(['SUCCEEDED', 'FAILED']);

interface Tracked {
  readonly job: WatchedJob;
  status?: string;
  statusSince: number;
  nextPollAt: number;
  startedReported: boolean;
  stuckReported: boolean;
  summaryKey?: string;
  failedSeen: number;
  /** Children seen started (RUNNING + SUCCEEDED + FAILED in the summary) at the last look. */
  startedSeen: number;
  /** Children already reported finished (array jobs). */
  readonly childrenDone: Set<number>;
  readonly childrenStarted: Set<number>;
}

export class BatchWatcher {
  private readonly jobs = new Map<string, Tracked>();
  private readonly clock: BatchClock;
  readonly calls: ApiCallCounter;
  private stopped = false;

  constructor(
    private readonly batch: BatchClient,
    private readonly listener: (event: WatchEvent) => void,
    private readonly options: WatcherOptions = {},
  ) {
    this.clock = options.clock ?? REAL_CLOCK;
    this.calls = options.calls ?? new ApiCallCounter();
  }

  /** Follow a job from now on (first look after the minimum interval). */
  add(job: WatchedJob): void {
    const now = this.clock.now();
    this.jobs.set(job.jobId, {
      job,
      statusSince: now,
      nextPollAt: now + this.minInterval,
      startedReported: false,
      stuckReported: false,
      failedSeen: 0,
      startedSeen: 0,
      childrenDone: new Set(),
      childrenStarted: new Set(),
    });
  }

  /** Stop following a job (e.g. terminated by the caller). */
  remove(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /** Jobs still followed. */
  get watching(): readonly WatchedJob[] {
    return [...this.jobs.values()].map((t) => t.job);
  }

  /** Jobs still followed, with the last status seen (for the terminator). */
  get states(): readonly { jobId: string; status?: string }[] {
    return [...this.jobs.values()].map((t) => ({ jobId: t.job.jobId, status: t.status }));
  }

  private get minInterval(): number {
    return this.options.minIntervalMs ?? 5_000;
  }

  private interval(t: Tracked, now: number): number {
    const max = this.options.maxIntervalMs ?? 120_000;
    return Math.min(max, Math.max(this.minInterval, (now - t.statusSince) * (this.options.ageFactor ?? 0.1)));
  }

  /** When the next round is due (Infinity when nothing is watched). */
  nextDueAt(): number {
    let next = Infinity;
    for (const t of this.jobs.values()) next = Math.min(next, t.nextPollAt);
    return next;
  }

  /** Poll until no job is left or {@link stop} is called. */
  async run(): Promise<void> {
    while (!this.stopped && this.jobs.size > 0) {
      const wait = this.nextDueAt() - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
      if (this.stopped) break;
      await this.pollOnce();
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** One round: DescribeJobs for every due job (chunks of 100), then the follow-ups. */
  async pollOnce(): Promise<void> {
    const now = this.clock.now();
    const byDue = [...this.jobs.values()].sort((a, b) => a.nextPollAt - b.nextPollAt);
    const due = byDue.filter((t) => t.nextPollAt <= now);
    if (due.length === 0) return;
    // Fill the last call with the jobs due soonest: no extra call, fresher news.
    const room = Math.ceil(due.length / DESCRIBE_JOBS_MAX) * DESCRIBE_JOBS_MAX - due.length;
    const selected = [...due, ...byDue.filter((t) => t.nextPollAt > now).slice(0, room)];
    const answered = new Set<string>();
    for (const details of await this.describe(selected.map((t) => t.job.jobId))) {
      answered.add(details.jobId!);
      const t = this.jobs.get(details.jobId!);
      if (t) await this.update(t, details);
    }
    // A job DescribeJobs did not name (not visible yet right after SubmitJob, or no longer known)
    // is asked about again after its interval. Left due, run() would poll again at once, without
    // ever sleeping: a loop of DescribeJobs calls that never yields to the event loop.
    for (const t of selected) if (!answered.has(t.job.jobId) && this.jobs.get(t.job.jobId) === t) t.nextPollAt = now + this.interval(t, now);
  }

  private async describe(ids: readonly string[]): Promise<JobDetail[]> {
    const out: JobDetail[] = [];
    for (let i = 0; i < ids.length; i += DESCRIBE_JOBS_MAX) {
      const res = await this.calls.send<DescribeJobsCommandOutput>(this.batch, new DescribeJobsCommand({ jobs: ids.slice(i, i + DESCRIBE_JOBS_MAX) }));
      out.push(...(res.jobs ?? []));
    }
    return out;
  }

  private async update(t: Tracked, job: JobDetail): Promise<void> {
    const now = this.clock.now();
    if (job.status !== t.status) {
      t.status = job.status;
      t.statusSince = now;
    }
    if (t.job.size > 1) await this.updateArray(t, job);
    else this.updatePlain(t, job);
    if (!this.jobs.has(t.job.jobId)) return;
    if (job.status === 'RUNNABLE' && !t.stuckReported && now - t.statusSince >= (this.options.stuckRunnableMs ?? 900_000)) {
      t.stuckReported = true;
      const queue = t.job.queue ? await this.options.queueInfo?.(t.job.queue) : undefined;
      this.listener({ type: 'stuck', job: t.job, since: t.statusSince, explanation: explainRunnable(job, queue?.computeEnvironments ?? []) });
    }
    t.nextPollAt = now + this.interval(t, now);
  }

  private updatePlain(t: Tracked, job: JobDetail): void {
    const index = t.job.firstIndex;
    if (!t.startedReported && (job.status === 'RUNNING' || TERMINAL.has(job.status ?? '')) && job.startedAt) {
      t.startedReported = true;
      this.listener({ type: 'started', job: t.job, childIndex: index, at: job.startedAt, logStreamName: primaryContainer(job).logStreamName });
    }
    if (TERMINAL.has(job.status ?? '')) {
      this.jobs.delete(t.job.jobId);
      this.listener({ type: 'finished', job: t.job, childIndex: index, outcome: outcomeOf(job) });
    }
  }

  private async updateArray(t: Tracked, parent: JobDetail): Promise<void> {
    const summary = parent.arrayProperties?.statusSummary ?? {};
    const key = JSON.stringify(summary);
    if (key !== t.summaryKey) {
      t.summaryKey = key;
      this.listener({ type: 'progress', job: t.job, status: parent.status ?? 'UNKNOWN', summary });
    }
    const failed = summary.FAILED ?? 0;
    const running = summary.RUNNING ?? 0;
    const started = running + (summary.SUCCEEDED ?? 0) + failed;
    if (!TERMINAL.has(parent.status ?? '') && running > 0 && started > t.startedSeen) {
      t.startedSeen = started;
      const list = await this.listChildren(t.job.jobId, 'RUNNING');
      // Children reported started that no longer run have ended (or wait for a Batch retry): described now, not at the array's end.
      const stillRunning = new Set(list.map((c) => childIndexOf(c.jobId!)));
      const ended = [...t.childrenStarted].filter((i) => !t.childrenDone.has(i) && !stillRunning.has(i)).map((i) => `${t.job.jobId}:${i}`);
      await this.reportRunningChildren(t, list);
      if (ended.length) await this.reportChildren(t, ended);
    }
    if (!TERMINAL.has(parent.status ?? '') && failed > t.failedSeen) {
      t.failedSeen = failed;
      await this.reportChildren(t, (await this.listChildren(t.job.jobId, 'FAILED')).map((c) => c.jobId!));
    }
    if (TERMINAL.has(parent.status ?? '')) {
      const rest: string[] = [];
      for (let i = 0; i < t.job.size; i += 1) if (!t.childrenDone.has(i)) rest.push(`${t.job.jobId}:${i}`);
      await this.reportChildren(t, rest);
      this.jobs.delete(t.job.jobId);
    }
  }

  private async listChildren(arrayJobId: string, jobStatus: JobStatus): Promise<JobSummary[]> {
    const children: JobSummary[] = [];
    const input: ListJobsCommandInput = { arrayJobId, jobStatus, maxResults: 1000 };
    for await (const page of paginateListJobs({ client: this.batch }, input)) {
      this.calls.count('ListJobs');
      for (const summary of page.jobSummaryList ?? []) if (summary.jobId) children.push(summary);
    }
    return children;
  }

  /** `started` for running children not reported yet: described (100 per call) for their log streams, or from the summaries. */
  private async reportRunningChildren(t: Tracked, running: readonly JobSummary[]): Promise<void> {
    const fresh = running.filter((c) => !t.childrenStarted.has(childIndexOf(c.jobId!)) && !t.childrenDone.has(childIndexOf(c.jobId!)));
    const withStreams = this.options.childLogStreams !== false;
    const known: readonly (JobSummary | JobDetail)[] = withStreams ? await this.describe(fresh.map((c) => c.jobId!)) : fresh;
    for (const child of known) {
      const index = child.arrayProperties?.index ?? childIndexOf(child.jobId!);
      if (t.childrenStarted.has(index) || !child.startedAt) continue;
      t.childrenStarted.add(index);
      const logStreamName = withStreams ? primaryContainer(child as JobDetail).logStreamName : undefined;
      this.listener({ type: 'started', job: t.job, childIndex: (t.job.firstIndex ?? 0) + index, at: child.startedAt, logStreamName });
    }
  }

  private async reportChildren(t: Tracked, childIds: readonly string[]): Promise<void> {
    const fresh = childIds.filter((id) => !t.childrenDone.has(childIndexOf(id)));
    for (const child of await this.describe(fresh)) {
      const index = child.arrayProperties?.index ?? childIndexOf(child.jobId!);
      if (!TERMINAL.has(child.status ?? '') || t.childrenDone.has(index)) continue;
      const foreachIndex = (t.job.firstIndex ?? 0) + index;
      if (!t.childrenStarted.has(index) && child.startedAt) {
        t.childrenStarted.add(index);
        this.listener({ type: 'started', job: t.job, childIndex: foreachIndex, at: child.startedAt, logStreamName: primaryContainer(child).logStreamName });
      }
      t.childrenDone.add(index);
      this.listener({ type: 'finished', job: t.job, childIndex: foreachIndex, outcome: outcomeOf(child) });
    }
  }
}

/** `<parent>:<index>` → index. */
function childIndexOf(jobId: string): number {
  return Number(jobId.slice(jobId.lastIndexOf(':') + 1));
}

/** A finished job's outcome, with Batch's infrastructure retries made visible. */
export function outcomeOf(job: JobDetail): TaskOutcome {
  const status = job.status === 'SUCCEEDED' ? 'SUCCEEDED' : 'FAILED';
  const primary = primaryContainer(job);
  return {
    status,
    exitCode: primary.exitCode,
    statusReason: job.statusReason,
    batchAttempts: Math.max(1, job.attempts?.length ?? 0),
    infrastructureRetries: infrastructureRetries(job.attempts, job.status),
    logStreamName: primary.logStreamName,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
    failure: status === 'FAILED' ? classifyFailure(job, jobResources(job).memoryMiB || undefined) : undefined,
    placement: jobPlacement(job),
  };
}

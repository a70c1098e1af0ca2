/**
 * CloudWatch Logs for Batch tasks. Following: GetLogEvents from the head of the job's stream,
 * then with each answer's nextForwardToken; the stream is drained for now when the token comes
 * back unchanged (CloudWatch returns the same token at the end). At most `maxStreams` streams
 * are followed at once (a wide foreach must not flood the API); the others wait for a slot.
 * CloudWatch gets a container's last lines late: Docker's awslogs driver buffers events up to
 * twice its 5 s publish interval (moby daemon/logger/awslogs/cloudwatchlogs.go,
 * `batchPublishFrequency`), so a finished task's stream is read to its end at the next poll and
 * again on `latePolls` more polls before its slot is freed (with the 5 s poll, 10 s).
 * After a failure, {@link LogTailer.lastLines} fetches the end of the stream in one call — it
 * works for OOM-killed tasks too, since their stream exists until CloudWatch expires it.
 */
import { CloudWatchLogsClient, GetLogEventsCommand, GetLogEventsCommandOutput } from '@aws-sdk/client-cloudwatch-logs';
import { ApiCallCounter } from './api-calls';

/** Batch's default log group. */
export const BATCH_LOG_GROUP = '/aws/batch/job';

export interface LogStreamRef {
  /** The job's log group (its logConfiguration's `awslogs-group`). @default /aws/batch/job */
  readonly group?: string;
  readonly stream: string;
}

export interface LogTailerOptions {
  /** Streams followed at once. @default 20 */
  readonly maxStreams?: number;
  /** Pages read per stream per poll (bounds one poll's calls). @default 5 */
  readonly maxPagesPerPoll?: number;
  /** Polls a finished task's stream is read again after its first drain, for lines CloudWatch gets late. @default 2 */
  readonly latePolls?: number;
  readonly calls?: ApiCallCounter;
}

interface Followed {
  readonly key: string;
  readonly ref: LogStreamRef;
  token?: string;
  /** Drain to the end, then stop following (the task finished). */
  closing: boolean;
  /** Polls since `closing`: the stream is freed after 1 + latePolls of them. */
  closedPolls: number;
}

export class LogTailer {
  private readonly active = new Map<string, Followed>();
  private readonly waiting: Followed[] = [];
  readonly calls: ApiCallCounter;

  constructor(
    private readonly logs: CloudWatchLogsClient,
    private readonly onLine: (key: string, line: string, timestamp?: number) => void,
    private readonly options: LogTailerOptions = {},
  ) {
    this.calls = options.calls ?? new ApiCallCounter();
  }

  /** Start following `key`'s stream; waits for a slot when `maxStreams` are followed. */
  follow(key: string, ref: LogStreamRef): void {
    if (this.active.has(key) || this.waiting.some((f) => f.key === key)) return;
    const followed: Followed = { key, ref, closing: false, closedPolls: 0 };
    if (this.active.size < (this.options.maxStreams ?? 20)) this.active.set(key, followed);
    else this.waiting.push(followed);
  }

  /** The task finished: read what is left at the next poll and `latePolls` more, then free the slot. */
  finish(key: string): void {
    const active = this.active.get(key);
    if (active) active.closing = true;
    const queued = this.waiting.find((f) => f.key === key);
    if (queued) queued.closing = true;
  }

  /** Keys followed now, and waiting for a slot. */
  get following(): { readonly active: readonly string[]; readonly waiting: readonly string[] } {
    return { active: [...this.active.keys()], waiting: this.waiting.map((f) => f.key) };
  }

  /** One round over the followed streams. */
  async poll(): Promise<void> {
    await Promise.all([...this.active.values()].map((f) => this.read(f)));
    for (const f of [...this.active.values()]) {
      if (f.closing && ++f.closedPolls > (this.options.latePolls ?? 2)) this.active.delete(f.key);
    }
    while (this.waiting.length > 0 && this.active.size < (this.options.maxStreams ?? 20)) {
      const next = this.waiting.shift()!;
      this.active.set(next.key, next);
    }
  }

  private async read(f: Followed): Promise<void> {
    for (let page = 0; page < (this.options.maxPagesPerPoll ?? 5) || f.closing; page += 1) {
      let out: GetLogEventsCommandOutput;
      try {
        out = await this.calls.send<GetLogEventsCommandOutput>(
          this.logs,
          new GetLogEventsCommand({ logGroupName: f.ref.group ?? BATCH_LOG_GROUP, logStreamName: f.ref.stream, startFromHead: true, nextToken: f.token }),
        );
      } catch (err) {
        // The stream appears a moment after the job starts, and never for a job whose
        // container did not start (CannotPullContainer): nothing to read yet, or at all.
        if ((err as { name?: string }).name === 'ResourceNotFoundException') return;
        throw err;
      }
      for (const event of out.events ?? []) this.onLine(f.key, event.message ?? '', event.timestamp);
      const repeated = out.nextForwardToken === undefined || out.nextForwardToken === f.token;
      f.token = out.nextForwardToken ?? f.token;
      if (repeated) return;
    }
  }

  /** The last `lines` lines of a stream (one call). Empty when the stream does not exist. */
  async lastLines(ref: LogStreamRef, lines = 20): Promise<string[]> {
    try {
      const out = await this.calls.send<GetLogEventsCommandOutput>(
        this.logs,
        new GetLogEventsCommand({ logGroupName: ref.group ?? BATCH_LOG_GROUP, logStreamName: ref.stream, startFromHead: false, limit: lines }),
      );
      return (out.events ?? []).map((e) => e.message ?? '');
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return [];
      throw err;
    }
  }
}

/** The log group of a job: its container's `awslogs-group` option, else Batch's default. */
export function jobLogGroup(job: { container?: { logConfiguration?: { logDriver?: string; options?: Record<string, string> } } }): string {
  const config = job.container?.logConfiguration;
  return (config?.logDriver === 'awslogs' && config.options?.['awslogs-group']) || BATCH_LOG_GROUP;
}

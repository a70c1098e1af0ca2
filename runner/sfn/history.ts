/**
 * An execution's history (GetExecutionHistory events) → one view per state entry: status,
 * attempts (each TaskScheduled is one attempt, so retries = attempts − 1), the Batch job ids from
 * TaskSubmitted / TaskSucceeded output and TaskFailed cause, and timings. Events are attributed to
 * their state through `previousEventId`, so the interleaved events of Parallel branches and Map
 * iterations land on the right entry.
 */
import { HistoryEvent } from '@aws-sdk/client-sfn';

export type StateStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED' | 'TIMED_OUT';

/** One entry into a state (a state inside a Map has one entry per iteration). */
export interface StateView {
  readonly name: string;
  /** `Task`, `Pass`, `Map`, `Parallel`, `Choice`… (from the `<Type>StateEntered` event). */
  readonly type: string;
  readonly status: StateStatus;
  /** Task attempts (TaskScheduled events); 1 for other states. */
  readonly attempts: number;
  /** Attempts after the first: ASL `Retry` at work. */
  readonly retries: number;
  /** Batch job ids of the attempts, in order, when the task is a Batch integration. */
  readonly batchJobIds: readonly string[];
  readonly enteredAt?: Date;
  readonly exitedAt?: Date;
  /** Exit − entry, when exited. */
  readonly durationMs?: number;
  /** The last task failure (error name and cause), when an attempt failed. */
  readonly lastError?: { readonly error?: string; readonly cause?: string };
}

interface Entry {
  name: string;
  type: string;
  attempts: number;
  batchJobIds: string[];
  enteredAt?: Date;
  exitedAt?: Date;
  lastOutcome?: 'succeeded' | 'failed';
  lastError?: { error?: string; cause?: string };
}

const TASK_FAILURES = new Set(['TaskFailed', 'TaskTimedOut', 'TaskStartFailed', 'TaskSubmitFailed']);

/** `JobId` (Step Functions' Batch output) or `jobId` in a JSON text, if any. */
export function batchJobIdIn(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const id = parsed?.JobId ?? parsed?.jobId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function failureOf(event: HistoryEvent): { error?: string; cause?: string } {
  const d = event.taskFailedEventDetails ?? event.taskTimedOutEventDetails ?? event.taskStartFailedEventDetails ?? event.taskSubmitFailedEventDetails;
  return { error: d?.error, cause: d?.cause };
}

/**
 * Per-state views in the order states were entered. `executionStatus` (DescribeExecution) decides
 * what a state that never exited is: RUNNING while the execution runs, else the execution's end.
 */
export function summarizeHistory(events: readonly HistoryEvent[], executionStatus: string | undefined): StateView[] {
  const entries: Entry[] = [];
  const entryOfEvent = new Map<number, Entry>();
  const open: Entry[] = [];
  for (const event of events) {
    const type = event.type ?? '';
    if (type.endsWith('StateEntered')) {
      const entry: Entry = {
        name: event.stateEnteredEventDetails?.name ?? '?',
        type: type.slice(0, -'StateEntered'.length),
        attempts: 0,
        batchJobIds: [],
        enteredAt: event.timestamp,
      };
      entries.push(entry);
      open.push(entry);
      if (event.id !== undefined) entryOfEvent.set(event.id, entry);
      continue;
    }
    const parent = event.previousEventId !== undefined ? entryOfEvent.get(event.previousEventId) : undefined;
    let entry: Entry | undefined = parent ?? open[open.length - 1];
    if (type.endsWith('StateExited')) {
      // A Parallel/Map state's exit follows its branches' last events: match the exit by name.
      const name = event.stateExitedEventDetails?.name;
      if (entry?.name !== name || !open.includes(entry)) entry = [...open].reverse().find((e) => e.name === name);
    }
    if (!entry) continue;
    if (event.id !== undefined) entryOfEvent.set(event.id, entry);
    if (type === 'TaskScheduled') entry.attempts += 1;
    if (event.taskSubmittedEventDetails?.resourceType === 'batch') addJob(entry, batchJobIdIn(event.taskSubmittedEventDetails.output));
    if (type === 'TaskSucceeded') {
      entry.lastOutcome = 'succeeded';
      if (event.taskSucceededEventDetails?.resourceType === 'batch') addJob(entry, batchJobIdIn(event.taskSucceededEventDetails.output));
    }
    if (TASK_FAILURES.has(type)) {
      entry.lastOutcome = 'failed';
      entry.lastError = failureOf(event);
      if (event.taskFailedEventDetails?.resourceType === 'batch') addJob(entry, batchJobIdIn(event.taskFailedEventDetails.cause));
    }
    if (type.endsWith('StateExited')) {
      entry.exitedAt = event.timestamp;
      open.splice(open.indexOf(entry), 1); // entry ∈ open: found there above
    }
  }
  return entries.map((e) => view(e, executionStatus));
}

function addJob(entry: Entry, jobId: string | undefined): void {
  if (jobId !== undefined && !entry.batchJobIds.includes(jobId)) entry.batchJobIds.push(jobId);
}

function view(e: Entry, executionStatus: string | undefined): StateView {
  const attempts = Math.max(e.attempts, 1);
  return {
    name: e.name,
    type: e.type,
    status: statusOf(e, executionStatus),
    attempts,
    retries: attempts - 1,
    batchJobIds: e.batchJobIds,
    enteredAt: e.enteredAt,
    exitedAt: e.exitedAt,
    durationMs: e.enteredAt && e.exitedAt ? e.exitedAt.getTime() - e.enteredAt.getTime() : undefined,
    lastError: e.lastError,
  };
}

function statusOf(e: Entry, executionStatus: string | undefined): StateStatus {
  // A state left after its last attempt failed was caught (ASL Catch): it failed all the same.
  if (e.lastOutcome === 'failed' && (e.exitedAt || (executionStatus !== undefined && executionStatus !== 'RUNNING'))) return 'FAILED';
  if (e.exitedAt) return 'SUCCEEDED';
  switch (executionStatus) {
    case 'ABORTED':
      return 'ABORTED';
    case 'TIMED_OUT':
      return 'TIMED_OUT';
    case 'FAILED':
      return 'FAILED';
    default:
      return 'RUNNING';
  }
}

import { AttemptResult, AttemptStart } from '../compute/types';
import { TaskRef } from '../contract/names';
import { Failure, RunStatus } from '../datastore/types';

export { pathspec } from '../contract/names';

/** A task as it is queued: its identity plus what the run record keeps about its place in the flow. */
export interface QueuedTask extends TaskRef {
  /** Pathspecs (`<step>/<taskId>`) of the task's inputs in this run. */
  readonly inputs: readonly string[];
  readonly foreachIndex?: number;
}

/** What the orchestrator reports; the run record and the progress view are built from these. */
export type RunEvent =
  | { type: 'run-started'; flow: string; runId: string; at: number; steps: readonly string[]; originRunId?: string }
  | { type: 'task-queued'; task: QueuedTask; attempt: number }
  | { type: 'task-started'; task: TaskRef; attempt: number; at: number; start: AttemptStart }
  | { type: 'task-log'; task: TaskRef; attempt: number; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'task-retrying'; task: TaskRef; attempt: number; result: AttemptResult; delayMs: number }
  | { type: 'task-succeeded'; task: TaskRef; attempt: number; result: AttemptResult }
  | { type: 'task-failed'; task: TaskRef; attempt: number; result: AttemptResult; failure: Failure }
  | { type: 'task-caught'; task: TaskRef; attempt: number; result: AttemptResult; failure: Failure; var?: string; print: boolean }
  | { type: 'task-cancelled'; task: TaskRef; attempt: number; result: AttemptResult }
  | { type: 'task-reused'; task: QueuedTask; originRunId: string; outputsAt: string }
  | { type: 'run-heartbeat'; at: number }
  | { type: 'run-finished'; status: RunStatus; at: number; error?: string; apiCalls?: Record<string, number> };

/** Hears every RunEvent of a run, synchronously, in order. */
export type RunEventListener = (event: RunEvent) => void;

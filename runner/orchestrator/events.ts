import { AttemptResult } from '../compute/types';
import { Failure, RunStatus } from '../datastore/types';

export interface TaskKey {
  readonly step: string;
  readonly taskId: string;
}

export interface TaskInfo extends TaskKey {
  /** Pathspecs (`<step>/<task>`) of the task's inputs in this run. */
  readonly inputs: readonly string[];
  readonly foreachIndex?: number;
}

/** What the orchestrator reports; the run record and the progress view are built from these. */
export type RunEvent =
  | { type: 'run-started'; flow: string; runId: string; at: number; steps: readonly string[]; originRunId?: string }
  | { type: 'task-queued'; task: TaskInfo; attempt: number }
  | { type: 'task-started'; task: TaskKey; attempt: number; at: number }
  | { type: 'task-log'; task: TaskKey; attempt: number; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'task-retrying'; task: TaskKey; attempt: number; result: AttemptResult; delayMs: number }
  | { type: 'task-succeeded'; task: TaskKey; attempt: number; result: AttemptResult }
  | { type: 'task-failed'; task: TaskKey; attempt: number; result: AttemptResult; failure: Failure }
  | { type: 'task-caught'; task: TaskKey; attempt: number; result: AttemptResult; failure: Failure; var?: string; print: boolean }
  | { type: 'task-cancelled'; task: TaskKey; attempt: number; result: AttemptResult }
  | { type: 'task-reused'; task: TaskInfo; originRunId: string }
  | { type: 'run-finished'; status: RunStatus; at: number; error?: string };

export type RunEventListener = (event: RunEvent) => void;

export const pathspec = (t: TaskKey): string => `${t.step}/${t.taskId}`;

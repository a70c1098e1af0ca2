import { AttemptRef, TaskTemplate } from '../contract';
import { Datastore } from '../datastore/types';
import { FlowGraph } from '../flow/validate';

export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'error';

/** Which child of a group to run, and which attempt of it. */
export interface ChildAttempt {
  readonly index: number;
  readonly attempt: number;
}

/**
 * A group of tasks for a layer: one template and the children to run now. A single task is a
 * group of one (index 0). A foreach body step is ONE group per fan-out (every step of the body,
 * not only the first), whose children differ only by index (see runner/contract): a layer may run
 * it as one array job. Children of a group may arrive over several `submit` calls (each body
 * child is released when its predecessor finished; retries come one by one): the template is the
 * same object every time, and `follows` names the group whose child i this group's child i comes
 * after (Batch: an N_TO_N dependency).
 */
export interface TaskGroup {
  readonly template: TaskTemplate;
  readonly children: readonly ChildAttempt[];
  /** Group id of the previous step of the same foreach body, when there is one. */
  readonly follows?: string;
}

/** Known about an attempt once the layer started it. */
export interface AttemptStart {
  readonly at: number;
  /** The layer's id for the attempt (local: `pid:<n>`; Batch: the job id with `:<index>`). */
  readonly externalId?: string;
  /** Where the layer keeps the attempt's log (Batch: the CloudWatch log stream). */
  readonly logRef?: string;
}

export interface AttemptResult {
  readonly outcome: AttemptOutcome;
  readonly exitCode: number | null;
  readonly signal?: string;
  /** One line for people: `exit code 3`, `timed out after 2s`, `command not found: foo`. */
  readonly reason: string;
  readonly startedAt?: number;
  readonly finishedAt: number;
  readonly externalId?: string;
  readonly logRef?: string;
  /**
   * Times the layer's infrastructure retried this attempt itself after losing its host (Batch:
   * spot reclaims retried through `retryStrategy`), apart from the user's retries. @default 0
   */
  readonly infrastructureRetries?: number;
}

/**
 * How a layer reports back, per attempt. Reports are idempotent and may come late: the listener
 * ignores a second `finished` for an attempt and a `started` after it finished; `log` lines may
 * still arrive after `finished` (CloudWatch delivers late) and are kept with their attempt.
 */
export interface AttemptListener {
  started(attempt: AttemptRef, start: AttemptStart): void;
  log(attempt: AttemptRef, stream: 'stdout' | 'stderr', line: string): void;
  finished(attempt: AttemptRef, result: AttemptResult): void;
}

/** What a layer is given when a run starts. */
export interface LayerContext {
  readonly datastore: Datastore;
  readonly listener: AttemptListener;
}

/**
 * Where tasks run. The orchestrator hands over groups and hears back through the listener; it
 * never knows which layer it talks to.
 *
 * - `check(graph)`: the layer's limits, before anything runs (Batch: image required, timeouts
 *   whole seconds ≥ 60, GPU not on Fargate, ...). One line per problem; empty when fine.
 * - `open(context)` once per run, before the first `submit`.
 * - `submit(group)` never blocks: the layer queues what it cannot start yet. Each child reports
 *   its own start, logs and result. Where a task writes its outputs (MF_OUTPUT_DIR) is the
 *   layer's business: it must end up at `datastore.attemptOutputs(attempt)` (local: that
 *   directory itself; Batch: a directory in the container, uploaded there).
 * - `cancelAll` stops everything the layer started or queued (no orphans on Ctrl-C or failure);
 *   every cancelled attempt still gets `finished` with outcome `cancelled`.
 * - `forceStop()` kills everything now, synchronously (a second Ctrl-C, the process exiting).
 */
export interface ComputeLayer {
  readonly name: string;
  /** One line about where tasks run, for the run's header (`local, 2 workers`). */
  readonly description: string;
  /**
   * Look up what `check` needs from outside (Batch: the queues, once each), before `check`.
   * Layers without such lookups leave it out.
   */
  lookUp?(graph: FlowGraph): Promise<void>;
  check(graph: FlowGraph): string[];
  /** Lines to print when the run is over (Batch: API calls per operation). */
  summary?(): string[];
  open(context: LayerContext): void;
  submit(group: TaskGroup): void;
  cancelAll(reason: string): Promise<void>;
  forceStop(): void;
}

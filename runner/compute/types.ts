import { AttemptRef, TaskTemplate } from '../contract';
import { Datastore } from '../datastore/types';
import { FlowGraph } from '../flow/validate';
import type { AttemptUsage } from '../usage/types';

export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'error';

/** Which child of a group to run, and which attempt of it. */
export interface ChildAttempt {
  /** The child's index in its group, from 0 (0 for a single task; the foreach index otherwise). */
  readonly index: number;
  /** The attempt's number, from 0 (MF_RETRY_COUNT). */
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
  /** What every child shares; the same object on every `submit` of the group. */
  readonly template: TaskTemplate;
  /** The children to run now, each with its attempt number; the others come in later submits. */
  readonly children: readonly ChildAttempt[];
  /**
   * Group id of the previous step of the same foreach body, when there is one.
   *
   * @default - none: the group's children follow no earlier group (not in a foreach body, or
   * the body's first step)
   */
  readonly follows?: string;
}

/** Known about an attempt once the layer started it. */
export interface AttemptStart {
  /** When the attempt started, in milliseconds since the epoch. */
  readonly at: number;
  /**
   * The layer's id for the attempt (local: `pid:<n>`; Batch: the job id with `:<index>`).
   *
   * @default - none: the layer has no id for it
   */
  readonly externalId?: string;
  /**
   * Where the layer keeps the attempt's log (Batch: the CloudWatch log stream).
   *
   * @default - none: the log is only what the layer reports through `log` (the local layer)
   */
  readonly logRef?: string;
  /**
   * What the attempt asked for and where it runs, as far as the layer knows at its start.
   *
   * @default - none: the layer records no usage
   */
  readonly usage?: AttemptUsage;
}

/** How an attempt ended, as its layer reports it in `AttemptListener.finished`. */
export interface AttemptResult {
  /** `succeeded` (exit code 0), `failed`, `timeout`, `cancelled`, or `error` (the command could not start). */
  readonly outcome: AttemptOutcome;
  /** The command's exit code; null when it has none (it never started, or a signal ended it). */
  readonly exitCode: number | null;
  /**
   * The signal that ended the process (`SIGTERM`, `SIGKILL`), when one did.
   *
   * @default - none: the process exited by itself, or never started
   */
  readonly signal?: string;
  /** One line for people: `exit code 3`, `timed out after 2s`, `command not found: foo`. */
  readonly reason: string;
  /**
   * When the attempt started, in milliseconds since the epoch.
   *
   * @default - none: the attempt never started (cancelled while queued, or its task could not
   * be prepared)
   */
  readonly startedAt?: number;
  /** When the attempt finished, in milliseconds since the epoch. */
  readonly finishedAt: number;
  /**
   * The layer's id for the attempt, as in `AttemptStart.externalId`.
   *
   * @default - none: the layer has no id for it, or gave it only in `started`
   */
  readonly externalId?: string;
  /**
   * Where the layer keeps the attempt's log, as in `AttemptStart.logRef`.
   *
   * @default - none: the layer keeps no log of its own, or gave it only in `started`
   */
  readonly logRef?: string;
  /**
   * Times the layer's infrastructure retried this attempt itself after losing its host (Batch:
   * spot reclaims retried through `retryStrategy`), apart from the user's retries. @default 0
   */
  readonly infrastructureRetries?: number;
  /**
   * Whether another attempt of the same task could end differently. A layer sets `false` when it
   * knows it cannot (Batch: the image could not be pulled; the job was terminated from outside the
   * run): the orchestrator then spends none of the step's retries on the failure (catch still
   * applies), and the failure and the run record say it was not retried. `reason` says why.
   *
   * @default true
   */
  readonly retryable?: boolean;
  /**
   * What the attempt asked for and where it ran (merged over `AttemptStart.usage`).
   *
   * @default - none: the layer knows nothing more than at the start
   */
  readonly usage?: AttemptUsage;
}

/**
 * How a layer reports back, per attempt. Reports are idempotent and may come late: the listener
 * ignores a second `finished` for an attempt and a `started` after it finished; `log` lines may
 * still arrive after `finished` (CloudWatch delivers late) and are kept with their attempt.
 */
export interface AttemptListener {
  /** The attempt started (its process or job runs); at most once per attempt. */
  started(attempt: AttemptRef, start: AttemptStart): void;
  /** One line the attempt wrote, without its line ending. */
  log(attempt: AttemptRef, stream: 'stdout' | 'stderr', line: string): void;
  /** The attempt ended, however it ended (cancelled ones too); the first report counts. */
  finished(attempt: AttemptRef, result: AttemptResult): void;
}

/** What a layer is given when a run starts. */
export interface LayerContext {
  /** The run's datastore: where tasks read their inputs and where their outputs must end up. */
  readonly datastore: Datastore;
  /** Where the layer reports each attempt's start, log lines and result. */
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
  /** The layer's short name (`local`, `batch`): recorded as the run's `compute` and used in messages. */
  readonly name: string;
  /** One line about where tasks run, for the run's header (`local, 2 workers`). */
  readonly description: string;
  /**
   * Look up what `check` needs from outside (Batch: the queues, once each), before `check`.
   * Layers without such lookups leave it out.
   */
  lookUp?(graph: FlowGraph): Promise<void>;
  /** The team the run's jobs belong to, when the layer decides it (Batch: --team / METAFLOW_TEAM, else the flow's). */
  teamOf?(graph: FlowGraph): string | undefined;
  /** The flow's problems for this layer, one line each, before anything runs; empty when it can run. */
  check(graph: FlowGraph): string[];
  /** Lines to print when the run is over (Batch: API calls per operation). */
  summary?(): string[];
  /**
   * Calls made to the provider's API so far, per operation (Batch: every Batch and CloudWatch
   * Logs call), stored in the run record when the run ends. Layers that call no API leave it out.
   */
  apiCalls?(): Record<string, number>;
  /** Starts the run's session: called once, before the first `submit`. */
  open(context: LayerContext): void;
  /** Queues the group's children; never blocks, reports through the listener. */
  submit(group: TaskGroup): void;
  /** Stops everything started or queued; resolves once every such attempt reported `finished` (`cancelled`). */
  cancelAll(reason: string): Promise<void>;
  /** Kills everything now, synchronously, without waiting for reports. */
  forceStop(): void;
  /**
   * After the last attempt finished, before the run ends: deliver the log lines that come late
   * (Batch: CloudWatch gets a container's last lines seconds after the job stopped); bounded.
   * Layers whose lines are all in at `finished` leave it out.
   */
  drainLogs?(): Promise<void>;
}

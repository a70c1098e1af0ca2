import { AttemptRef, TaskRef } from '../contract/names';
import type { AttemptUsage } from '../usage/types';

/** `stopped`/`timed out`: a Step Functions execution that ended so (runner/sfn/reconcile.ts; never written by a runner). */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'stopped' | 'timed out';
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'caught' | 'cancelled' | 'reused';

/** Why an attempt failed. This is what a @catch var holds. */
export interface Failure {
  /** The failed task's step. */
  readonly step: string;
  /** The failed task's id. */
  readonly taskId: string;
  /** One line for people: `step <step>/<taskId> failed: <reason>`, with the attempt count after retries. */
  readonly message: string;
  /** The last attempt's exit code; null when it had none (never started, ended by a signal). */
  readonly exitCode: number | null;
  /** failed | timeout | cancelled | error (the command could not start, or its outputs were unusable) */
  readonly statusReason: string;
  /** How many attempts ran (0 when the task could not even be prepared). */
  readonly attempts: number;
}

export interface AttemptRecord {
  readonly attempt: number;
  status: 'running' | 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'error';
  exitCode: number | null;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  reason?: string;
  /** The layer's id of the attempt (local `pid:<n>`, Batch job id), recorded as soon as known. */
  externalId?: string;
  /** Where the layer keeps the attempt's log (Batch: the CloudWatch log stream). */
  logRef?: string;
  /** Host losses (spot reclaims) the layer retried inside this attempt (Batch), when any. */
  infrastructureRetries?: number;
  /** `false` when the layer said another attempt cannot succeed, so no user retry was spent on it. */
  retryable?: false;
  /** What the attempt asked for and where it ran (runner/usage); absent in records of earlier versions. */
  usage?: AttemptUsage;
}

/** A task's record: `<task path>/status.json`, and one entry of the run's task chunks. */
export interface TaskRecord {
  /** The task's step. */
  readonly step: string;
  /** The task's id (`0`, or its foreach index path). */
  readonly taskId: string;
  /** Where the task is: queued, running, succeeded, failed, caught, cancelled, or reused (resume). */
  status: TaskStatus;
  /** Pathspecs (`<step>/<taskId>`) of the task's inputs in this run. */
  readonly inputs: readonly string[];
  /**
   * The task's index in its innermost foreach.
   *
   * @default - none: the task is not in a foreach
   */
  readonly foreachIndex?: number;
  /** Every attempt so far, in order (empty for a reused task). */
  attempts: AttemptRecord[];
  /**
   * The failure a @catch caught.
   *
   * @default - none: set only when the task's status is `caught`
   */
  caught?: Failure;
  /**
   * The origin run whose task this one reused (resume).
   *
   * @default - none: the task ran in this run
   */
  reusedFrom?: string;
  /**
   * Task path whose outputs this task's are, when not its own (a reused task: the origin's).
   *
   * @default - none: the task's outputs are at its own task path
   */
  outputsAt?: string;
}

/** Who runs a run: a run whose owner is gone while it says `running` had its runner die. */
export interface RunOwner {
  readonly pid: number;
  readonly host: string;
  /** Rewritten while the runner lives (see HEARTBEAT_MS). */
  heartbeatAt: string;
}

/** A run's code package: the flow's files and the task runtime, as a tgz in the datastore (runner/package). */
export interface CodePackageRef {
  /** Where it is: `<datastore root>/<flow>/data/<sha1[:2]>/<sha1>`. */
  readonly url: string;
  /** The tgz's sha1, hex. */
  readonly sha1: string;
  /**
   * How many of the user's files it holds.
   *
   * @default - unknown: a Step Functions run's record (its state machine knows the package's URL only)
   */
  readonly files?: number;
  /**
   * The tgz's size in bytes.
   *
   * @default - unknown: a Step Functions run's record
   */
  readonly bytes?: number;
}

/** The run summary: `<flow>/<run>/run.json`. Small whatever the run's width. */
export interface RunSummary {
  /** The flow's name. */
  readonly flow: string;
  /** The run's id. */
  readonly runId: string;
  /** `running` until the run ends, then `succeeded`, `failed` or `interrupted`. */
  status: RunStatus;
  /** When the run started (ISO 8601). */
  readonly startedAt: string;
  /**
   * When the run ended (ISO 8601).
   *
   * @default - none: set once the run finished
   */
  finishedAt?: string;
  /**
   * How long the run took, in milliseconds.
   *
   * @default - none: set once the run finished
   */
  durationMs?: number;
  /**
   * The flow file the run was started from (RunOptions.flowFile).
   *
   * @default - none: the flow was not loaded from a file
   */
  readonly flowFile?: string;
  /** The run's resolved parameter values, by name. */
  readonly parameters: Record<string, unknown>;
  /** Whether the run was started with `--with retry`. */
  readonly withRetry: boolean;
  /** The name of the compute layer the run ran on (`local`, `batch`). */
  readonly compute: string;
  /**
   * The team the run's jobs were attributed to (`--team`, METAFLOW_TEAM, else the flow's `team`;
   * `runs --team` filters on it, `resume` keeps it).
   *
   * @default - none: the run had no team
   */
  readonly team?: string;
  /**
   * The run this one resumed, reusing its succeeded tasks.
   *
   * @default - none: not a resume
   */
  readonly originRunId?: string;
  /**
   * The code package the run's tasks got (AWS Batch runs; `metaflow-cdk code <run-id>` fetches it).
   *
   * @default - none: the tasks ran in the flow's folder on this machine
   */
  readonly codePackage?: CodePackageRef;
  /**
   * The run's tags: `user:<name>` (who started it: METAFLOW_USER, else the OS user) and the
   * `--tag`s given, as Metaflow tags a run; `runs` shows the current user's runs by default.
   *
   * @default - none: a Step Functions run, or a run recorded before runs were tagged
   */
  readonly tags?: readonly string[];
  /**
   * Why the run failed or stopped.
   *
   * @default - none: the run is running or succeeded
   */
  error?: string;
  /**
   * Which process runs the run, with its heartbeat: a `running` run whose owner is gone had its
   * runner die.
   *
   * @default - none: the record names no owner (runFlow always sets one)
   */
  owner?: RunOwner;
  /**
   * Calls the compute layer made to its provider's API, per operation (Batch: `SubmitJob`,
   * `DescribeJobs`, `GetLogEvents`, …), as printed when the run ended; for a run re-attached with
   * `metaflow-cdk watch`, the watch's own calls (a runner that died recorded none).
   *
   * @default - none: the run has not ended, or its layer counts no calls (local)
   */
  apiCalls?: Record<string, number>;
  /**
   * Who ran the run when not a runner process: `step-functions` for an execution of a compiled
   * state machine, whose record the state machine writes and whose tasks are read from their
   * status.json files (docs/step-functions.md "Runs in the datastore").
   *
   * @default - none: a runner (`metaflow-cdk run`/`resume`) ran it
   */
  readonly orchestrator?: 'step-functions';
  /**
   * The Step Functions execution's ARN (orchestrator `step-functions`).
   *
   * @default - none: not a Step Functions run
   */
  readonly executionArn?: string;
  /** How many tasks the run has, and in how many chunks of TASK_CHUNK_SIZE they are stored. */
  taskCount: number;
}

/** The whole run record: the summary and every task (stored in chunks, see docs/runner.md). */
export interface RunRecord extends RunSummary {
  /** Every task of the run, in the order they were created. */
  tasks: TaskRecord[];
}

/** Task records are stored in chunks of this many, in the order tasks were created. */
export const TASK_CHUNK_SIZE = 1000;

/** One file a task wrote (`Datastore.listTaskFiles`). */
export interface TaskFile {
  /** Its path relative to the task path (`model.pkl`, `plots/loss.png`). */
  readonly name: string;
  /** Its size in bytes. */
  readonly bytes: number;
}

export interface LogSink {
  write(stream: 'stdout' | 'stderr', line: string): void;
  close(): Promise<void>;
}

/** A run record that exists but cannot be read. */
export class CorruptRunRecordError extends Error {
  constructor(
    /** The run whose record is corrupt. */
    readonly runId: string,
    /** The datastore key that is missing or cannot be parsed. */
    readonly key: string,
    detail: string,
  ) {
    super(`run ${runId}: its record ${key} is corrupt (${detail})`);
    this.name = 'CorruptRunRecordError';
  }
}

/**
 * How a task process on this machine reads its inputs and writes its outputs: the local compute
 * layer's side of the datastore. The task sees the contract unchanged whatever the store: its
 * MF_DATASTORE_ROOT is a local directory holding, at the same relative paths, everything its
 * environment names (its inputs' committed outputs, its foreach item file, its input-path list,
 * its caught file), and its MF_OUTPUT_DIR is a local directory. The local store hands out its own
 * directories (nothing to copy); the S3 store downloads into a staging directory before the task
 * starts and uploads what the task wrote after it ended.
 */
export interface TaskStaging {
  /** Before the task starts: fetch what `env` names; the task's MF_DATASTORE_ROOT and MF_OUTPUT_DIR. */
  prepare(attempt: AttemptRef, env: Readonly<Record<string, string>>): Promise<{ readonly root: string; readonly outputDir: string }>;
  /** After the task ended: what it wrote in its MF_OUTPUT_DIR goes to `attemptOutputs(attempt)`. */
  collect(attempt: AttemptRef): Promise<void>;
  /** Drop the attempt's local copies (after `collect`, or when it never started). */
  release(attempt: AttemptRef): Promise<void>;
}


/** One page of `Datastore.listRuns`. */
export interface RunPage {
  /** Newest first. */
  readonly runs: RunSummary[];
  /** Runs of this page whose record could not be read. */
  readonly corrupt: CorruptRunRecordError[];
  /**
   * Pass as `after` for the next page; absent on the last page.
   *
   * @default - none: this is the last page
   */
  readonly next?: string;
}

/**
 * The datastore contract, shared by the local directory store and the S3 store. Everything is a
 * put or get of a key (a path relative to `root`); nothing relies on listing a directory except
 * `listRuns`, which lists one prefix in key order (S3 ListObjectsV2 with StartAfter), the
 * commit, which lists one attempt's outputs, and the reading of a Step Functions run, which lists
 * its prefix once for its tasks' status.json files; nothing renames.
 */
export interface Datastore {
  /** `/abs/dir` locally, `s3://bucket/prefix` on S3: handed to tasks as MF_DATASTORE_ROOT. */
  readonly root: string;
  /** A new run id, unique in this datastore, sortable by start time. */
  newRunId(): string;

  /** Write `body` at `key`, replacing what was there; a reader never sees half of it. */
  put(key: string, body: string): Promise<void>;
  /** The text at `key`, or undefined when there is none. */
  get(key: string): Promise<string | undefined>;
  /** The directory on this machine that holds `key`, when the store is local (else undefined). */
  localPath(key: string): string | undefined;

  /** Where one attempt's outputs go (a key prefix). The layer decides how they get there. */
  attemptOutputs(attempt: AttemptRef): string;
  /**
   * Make an attempt's outputs the task's (after it succeeded): they are then what `readOutputs`
   * and the task's successors see at the task path. Other attempts' outputs stay invisible.
   */
  commitOutputs(attempt: AttemptRef): Promise<void>;
  /** The outputs.json at a task path, or undefined when it wrote none. Throws on malformed JSON. */
  readOutputs(taskPathKey: string): Promise<Record<string, unknown> | undefined>;
  /** How task processes on this machine see this store (the local compute layer; see TaskStaging). */
  openStaging(): TaskStaging;
  /**
   * The files a task committed at a task path besides its outputs.json (not the runner's own:
   * attempts, logs, status, the contract's files), with their sizes, in name order (one listing).
   */
  listTaskFiles(taskPathKey: string): Promise<TaskFile[]>;
  /** Copy the object at `key` to a local file, making its directory; false when there is none. */
  copyToFile(key: string, file: string): Promise<boolean>;

  /** Write a task's record at `<task path>/status.json`. */
  writeTaskStatus(task: TaskRef, record: TaskRecord): Promise<void>;
  /** The status.json at a task path, or undefined when there is none. */
  readTaskStatus(taskPathKey: string): Promise<TaskRecord | undefined>;

  /** Where one attempt's log goes. Created lazily on the first line; reopening appends. */
  openLog(attempt: AttemptRef): LogSink;
  /** An attempt's whole log, or undefined when it wrote none. */
  readLog(attempt: AttemptRef): Promise<string | undefined>;

  /** Write the summary; `first` also files the run in the index `readRun`/`listRuns` use. */
  writeRunSummary(summary: RunSummary, first?: boolean): Promise<void>;
  /** Write chunk `chunk` of the run's task records (see TASK_CHUNK_SIZE). */
  writeTaskChunk(flow: string, runId: string, chunk: number, tasks: readonly TaskRecord[]): Promise<void>;
  /** A run by id without reading other runs; undefined when unknown; CorruptRunRecordError when unreadable. */
  readRun(runId: string): Promise<RunRecord | undefined>;
  /** Runs newest first, `limit` at a time; `after` is the previous page's `next`. */
  listRuns(options?: { limit?: number; after?: string }): Promise<RunPage>;
  /**
   * Mark a running run interrupted, synchronously (a forced quit: no time for the final write).
   * Only a local store can; on S3 the run shows as `dead` once its runner is gone (the owner check).
   */
  markInterruptedSync?(flow: string, runId: string): void;
}

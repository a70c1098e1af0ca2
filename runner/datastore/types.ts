/** Where a task's outputs, logs and status live: `<root>/<flow>/<run>/<step>/<task>/`. */
export interface TaskRef {
  readonly flow: string;
  readonly runId: string;
  readonly step: string;
  readonly taskId: string;
}

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'caught' | 'cancelled' | 'reused';

/** Why an attempt failed. This is what a @catch var holds. */
export interface Failure {
  readonly step: string;
  readonly taskId: string;
  readonly message: string;
  readonly exitCode: number | null;
  /** failed | timeout | cancelled | error (the command could not start) */
  readonly statusReason: string;
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
}

export interface TaskRecord {
  readonly step: string;
  readonly taskId: string;
  status: TaskStatus;
  readonly inputs: readonly string[];
  readonly foreachIndex?: number;
  attempts: AttemptRecord[];
  /** The failure a @catch caught. */
  caught?: Failure;
  /** The origin run whose outputs this task reused (resume). */
  reusedFrom?: string;
}

/** The run record: `<root>/<flow>/<run>/run.json`. */
export interface RunRecord {
  readonly flow: string;
  readonly runId: string;
  status: RunStatus;
  readonly startedAt: string;
  finishedAt?: string;
  durationMs?: number;
  readonly flowFile?: string;
  readonly parameters: Record<string, unknown>;
  readonly withRetry: boolean;
  readonly compute: string;
  readonly originRunId?: string;
  /** Why the run failed or stopped. */
  error?: string;
  tasks: TaskRecord[];
}

export interface LogSink {
  write(stream: 'stdout' | 'stderr', line: string): void;
  close(): Promise<void>;
}

/**
 * The datastore contract, shared by the local directory store and (next) the S3 store.
 * Task paths handed to tasks (`MF_INPUT_PATHS`) are relative to `root`.
 */
export interface Datastore {
  /** `/abs/dir` locally, `s3://bucket/prefix` on S3: handed to tasks as MF_DATASTORE_ROOT. */
  readonly root: string;
  /** `<flow>/<run>/<step>/<task>` relative to the root. */
  taskPath(ref: TaskRef): string;
  /** Make the task's directory; returns where the task writes outputs.json (MF_OUTPUT_DIR). */
  prepareTask(ref: TaskRef): Promise<string>;
  /** The task's outputs.json, or undefined when it wrote none. Throws on malformed JSON. */
  readOutputs(ref: TaskRef): Promise<Record<string, unknown> | undefined>;
  writeTaskStatus(ref: TaskRef, record: TaskRecord): Promise<void>;
  /**
   * Store a long list of input paths (one per line) for a task whose MF_INPUT_PATHS would be too
   * long for an environment variable; returns the file's path relative to the root.
   */
  writeInputPaths(ref: TaskRef, paths: readonly string[]): Promise<string>;
  /** Copy a finished task (outputs, logs) from another run of the same flow (resume). */
  copyTask(from: TaskRef, to: TaskRef): Promise<void>;
  /** Where one attempt's log goes. Created lazily on the first line. */
  openLog(ref: TaskRef, attempt: number): LogSink;
  readLog(ref: TaskRef, attempt: number): Promise<string | undefined>;
  writeRun(record: RunRecord): Promise<void>;
  /** Find a run by id (in any flow). */
  readRun(runId: string): Promise<RunRecord | undefined>;
  /** Recent runs, newest first. */
  listRuns(limit?: number): Promise<RunRecord[]>;
  /** A new run id, unique in this datastore. */
  newRunId(): string;
}

import { EffectivePolicies } from '../policy';

/** One attempt of one task, as the orchestrator hands it to a compute layer. */
export interface TaskSpec {
  /** Unique per attempt in the run: `<step>/<task>#<attempt>`. */
  readonly key: string;
  readonly flow: string;
  readonly runId: string;
  readonly step: string;
  readonly taskId: string;
  readonly attempt: number;
  readonly image?: string;
  readonly command: readonly string[];
  /** The task contract (MF_*) plus the flow's and step's env. */
  readonly env: Readonly<Record<string, string>>;
  readonly policies: EffectivePolicies;
}

export type AttemptOutcome = 'succeeded' | 'failed' | 'timeout' | 'cancelled' | 'error';

export interface AttemptResult {
  readonly outcome: AttemptOutcome;
  readonly exitCode: number | null;
  readonly signal?: string;
  /** One line for people: `exit code 3`, `timed out after 2s`, `command not found: foo`. */
  readonly reason: string;
  readonly startedAt?: number;
  readonly finishedAt: number;
}

/** How a layer reports back. Calls for one attempt come in order: started, log*, finished. */
export interface AttemptListener {
  started(task: TaskSpec, at: number): void;
  log(task: TaskSpec, stream: 'stdout' | 'stderr', line: string): void;
  finished(task: TaskSpec, result: AttemptResult): void;
}

/**
 * Where tasks run. The orchestrator hands over ready attempts and hears back through the listener;
 * it never knows which layer it talks to.
 *
 * - `submit` takes a group: a single task, or all children of one foreach fan-out at once (the
 *   Batch layer submits them as ONE array job of up to 10,000 children). Each child still reports
 *   its own start, logs and result. Submitting never blocks: the layer queues what it cannot start
 *   yet (local: `maxWorkers` slots; Batch: the job queue's capacity).
 * - `cancelAll` stops everything the layer started or queued (no orphans on Ctrl-C or failure);
 *   every cancelled attempt still gets `finished` with outcome `cancelled`.
 */
export interface ComputeLayer {
  readonly name: string;
  submit(group: readonly TaskSpec[], listener: AttemptListener): void;
  cancelAll(reason: string): Promise<void>;
}

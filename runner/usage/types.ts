/**
 * What the run record keeps about each attempt for `show`'s usage and cost figures: what the
 * attempt asked for and where it ran. Every field a layer does not know is left out; records of
 * earlier versions have no `usage` at all and still show (their attempts count as "not recorded").
 */

/**
 * Where an attempt ran: a Batch compute environment's type (`EC2` is on-demand EC2, `SPOT` EC2
 * Spot, `FARGATE`, `FARGATE_SPOT`, as CreateComputeEnvironment names them), or `LOCAL` (a process
 * of the runner's machine, never priced).
 */
export type Capacity = 'EC2' | 'SPOT' | 'FARGATE' | 'FARGATE_SPOT' | 'LOCAL';
export const CAPACITIES: readonly Capacity[] = ['EC2', 'SPOT', 'FARGATE', 'FARGATE_SPOT', 'LOCAL'];

/** A CPU architecture, as the price table names it (Fargate prices differ by architecture). */
export type Architecture = 'x86_64' | 'arm64';
export const ARCHITECTURES: readonly Architecture[] = ['x86_64', 'arm64'];

/** An attempt's resources and placement (AttemptRecord.usage). */
export interface AttemptUsage {
  /** vCPUs the attempt asked for (the step's @resources, or the job's resourceRequirements). */
  readonly vcpus: number;
  /** Memory in MiB the attempt asked for. */
  readonly memoryMiB: number;
  /** GPUs the attempt asked for. */
  readonly gpus: number;
  /**
   * Where it ran.
   *
   * @default - not known (a queue of several compute environments whose job did not say which ran it)
   */
  readonly capacity?: Capacity;
  /**
   * The Batch compute environment that ran it (its name).
   *
   * @default - not known, or not Batch
   */
  readonly computeEnvironment?: string;
  /**
   * The EC2 instance type, when the compute environment allows only one.
   *
   * @default - not known (Fargate, or an environment of several instance types or families)
   */
  readonly instanceType?: string;
  /**
   * The AWS region (from the compute environment's or the queue's ARN).
   *
   * @default - not known, or local
   */
  readonly region?: string;
  /**
   * The CPU architecture (Fargate: the job's runtime platform, X86_64 unless it says ARM64).
   *
   * @default - not known (EC2: the instance type decides)
   */
  readonly architecture?: Architecture;
  /**
   * Milliseconds the container ran in all of Batch's own attempts of the job (a spot reclaim
   * retried by Batch runs it again inside one attempt of the runner).
   *
   * @default - the attempt's own duration (startedAt to finishedAt)
   */
  readonly runMs?: number;
  /**
   * Of `runMs`, the milliseconds spent on hosts that were lost: Batch's attempts that ended with a
   * spot reclaim or host loss (retried by Batch, or the last one when the job ended so).
   *
   * @default 0
   */
  readonly lostMs?: number;
  /**
   * The attempt itself ended because its host was lost (a spot reclaim; runner/batch/failures.ts
   * `host-lost`), so all its time was lost.
   *
   * @default false
   */
  readonly hostLost?: boolean;
}

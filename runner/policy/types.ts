/**
 * Step policies as a flow author writes them (chapter 4's @resources, @retry, @timeout, @catch).
 * DESIGN §3 is the contract: every compute layer applies these the same way.
 */

/** @resources — what one attempt of the step may use. */
export interface ResourcesPolicy {
  /** vCPUs. Default 1. Fractional values are only valid on Fargate (checked by that layer). */
  readonly cpu?: number;
  /** Memory in MiB. Default 4096. */
  readonly memory?: number;
  /** GPUs, a whole number ≥ 0 (EC2 only). Default 0. */
  readonly gpu?: number;
  /** /dev/shm size in MiB (EC2). */
  readonly sharedMemory?: number;
  /** tmpfs size in MiB (EC2). */
  readonly tmpfs?: number;
  /** Ephemeral storage in GiB (Fargate, 21–200). */
  readonly ephemeralStorage?: number;
}

/** @retry — user-level retries. */
export interface RetryPolicy {
  /** Retries after the first attempt, 0–9. Default 3. `{times: 0}` opts out of `--with retry`. */
  readonly times?: number;
  /** Delay between attempts, in minutes. Default 2. */
  readonly minutesBetweenRetries?: number;
}

/** @timeout — per attempt; the parts are summed. */
export interface TimeoutPolicy {
  readonly seconds?: number;
  readonly minutes?: number;
  readonly hours?: number;
}

/** @catch — after the last attempt fails, the flow goes on and `var` holds the failure. */
export interface CatchPolicy {
  /** Name under which later steps see the failure (null when the step succeeded). */
  readonly var?: string;
  /** Print the failure when it is caught. Default true. */
  readonly printException?: boolean;
}

export interface StepPolicies {
  readonly resources?: ResourcesPolicy;
  readonly retry?: RetryPolicy;
  readonly timeout?: TimeoutPolicy;
  readonly catch?: CatchPolicy;
}

/** Metaflow's defaults. */
export const DEFAULT_RESOURCES = { cpu: 1, memory: 4096, gpu: 0 } as const;
export const DEFAULT_RETRY = { times: 3, minutesBetweenRetries: 2 } as const;

/** Policies after defaults and normalisation: what the orchestrator and every layer consume. */
export interface EffectivePolicies {
  readonly resources: {
    readonly cpu: number;
    readonly memory: number;
    readonly gpu: number;
    readonly sharedMemory?: number;
    readonly tmpfs?: number;
    readonly ephemeralStorage?: number;
  };
  /** Total attempts = retries + 1; attempts are numbered from 0. */
  readonly retries: number;
  readonly retryDelayMs: number;
  /** Per-attempt timeout in seconds, undefined when there is none. */
  readonly timeoutSeconds?: number;
  /** Present when the step has @catch. */
  readonly catch?: { readonly var?: string; readonly printException: boolean };
}

/**
 * ASL `Retry` of the compiled Task states.
 *
 * 1. Batch API throttling and service errors at submit time (`Batch.AWSBatchException`, which is
 *    what Step Functions reports for Batch's 429 TooManyRequestsException, plus the exception
 *    names themselves): exponential backoff with full jitter, so hundreds of parallel branches or
 *    map iterations do not retry in lockstep against Batch's ≈50 TPS.
 * 2. The user's @retry: a failed Batch job is `States.TaskFailed`; MaxAttempts = times,
 *    IntervalSeconds = minutesBetweenRetries × 60 rounded UP to a whole second, at least 1
 *    (ASL's minimum), BackoffRate 1 (the same delay every time, as on the other layers). Each
 *    retry is a fresh SubmitJob whose MF_RETRY_COUNT is `$$.State.RetryCount`.
 *
 * The throttling retrier comes first: `States.TaskFailed` in a retrier also matches every other
 * error but States.Timeout, and Step Functions uses the first retrier that matches.
 */

/** The Batch errors Step Functions may raise when SubmitJob is throttled or Batch fails. */
export const BATCH_THROTTLING_ERRORS = ['Batch.AWSBatchException', 'Batch.TooManyRequestsException', 'Batch.ServerException'] as const;

export const THROTTLING_RETRY = {
  ErrorEquals: [...BATCH_THROTTLING_ERRORS],
  IntervalSeconds: 2,
  BackoffRate: 2,
  MaxAttempts: 8,
  MaxDelaySeconds: 60,
  JitterStrategy: 'FULL',
} as const;

/** For the S3 calls of foreach states (getObject, putObject): a few quick tries. */
export const S3_RETRY = { ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, BackoffRate: 2, MaxAttempts: 3, JitterStrategy: 'FULL' } as const;

/** ASL's IntervalSeconds for a delay in ms: whole seconds rounded up, at least 1. */
export function retryIntervalSeconds(delayMs: number): number {
  return Math.max(1, Math.ceil(delayMs / 1000));
}

/** The Retry field of a step's SubmitJob task. */
export function taskRetry(policies: { readonly retries: number; readonly retryDelayMs: number }): object[] {
  const retry: object[] = [THROTTLING_RETRY];
  if (policies.retries > 0) {
    retry.push({ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: retryIntervalSeconds(policies.retryDelayMs), MaxAttempts: policies.retries, BackoffRate: 1 });
  }
  return retry;
}

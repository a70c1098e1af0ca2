/**
 * A finished Batch job (the watcher's TaskOutcome) as the runner's AttemptResult: outcome, exit
 * code, a one-line reason with Batch's failure classification and its hint, the infrastructure
 * retries Batch made inside the attempt, and `retryable: false` for failures another attempt
 * cannot change (runner/batch/failures.ts), and what it used (runner/usage/batch.ts). Shared by the
 * compute layer and `metaflow-cdk watch`.
 */
import type { AttemptResult } from '../compute/types';
import type { TaskOutcome } from './watcher';
import { BatchUsageContext, batchAttemptUsage } from '../usage/batch';

/**
 * `cancelledByRunner`: the runner itself terminated the run's jobs, so a `terminated` job is
 * `cancelled` rather than failed. `usage`: the job's queue and the step's resources, for the
 * attempt's usage (runner/usage/batch.ts).
 */
export function attemptResultOf(o: TaskOutcome, externalId: string, cancelledByRunner = false, usage: BatchUsageContext = {}): AttemptResult {
  const retries = o.infrastructureRetries;
  const infra = retries.length > 0 ? ` (Batch retried it ${retries.length} time${retries.length > 1 ? 's' : ''} after losing the host: ${retries.map((r) => r.statusReason).join('; ')})` : '';
  const used = o.placement ? { usage: batchAttemptUsage(o.placement, usage, o.failure?.kind === 'host-lost') } : {};
  const common = { startedAt: o.startedAt, finishedAt: o.stoppedAt ?? Date.now(), externalId, logRef: o.logStreamName, infrastructureRetries: retries.length || undefined, ...used };
  if (o.status === 'SUCCEEDED') return { ...common, outcome: 'succeeded', exitCode: o.exitCode ?? 0, reason: `exit code ${o.exitCode ?? 0}${infra}` };
  const failure = o.failure!;
  const outcome = failure.kind === 'timeout' ? 'timeout' : failure.kind === 'terminated' && cancelledByRunner ? 'cancelled' : 'failed';
  const hint = failure.hint ? `; ${failure.hint}` : '';
  const noRetry = failure.kind === 'cannot-pull' ? ' (another attempt pulls the same image)' : failure.kind === 'terminated' && !cancelledByRunner ? ' (stopped from outside this run)' : '';
  return { ...common, outcome, exitCode: o.exitCode ?? null, reason: `${failure.message}${hint}${noRetry}${infra}`, retryable: failure.retryable ? undefined : false };
}

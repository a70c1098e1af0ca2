/**
 * Batch job names: `[A-Za-z0-9_-]`, ≤128 characters, readable (`<flow>-<run>-<step>-<task>-a<attempt>`).
 * The `<flow>-<run>-` prefix is never cut, so a run's jobs can be found with ListJobs' JOB_NAME
 * filter after a crash; when the rest is too long it is shortened and a hash of the full name is
 * appended, so two long names never collide.
 */
import { BATCH_LIMITS, boundedBatchName, jobNameLead } from '../policy/batch';

/** Room kept for the step/task/attempt part of a name. */
const MAX_PREFIX = 72;

/** `<flow>-<run>-`: every job of the run starts with it (and with a letter or digit: {@link jobNameLead}). */
export function runJobNamePrefix(flow: string, runId: string): string {
  return `${boundedBatchName([jobNameLead(flow), runId], MAX_PREFIX - 1)}-`;
}

/** Name of the job for one task attempt. */
export function taskJobName(flow: string, runId: string, step: string, taskId: string, attempt: number): string {
  const prefix = runJobNamePrefix(flow, runId);
  return prefix + boundedBatchName([step, taskId, `a${attempt}`], BATCH_LIMITS.maxNameLength - prefix.length);
}

/** Name of an array job: `<flow>-<run>-<step>-<first>_<last>-a<attempt>` (child index range). */
export function arrayJobName(flow: string, runId: string, step: string, firstIndex: number, size: number, attempt: number): string {
  return taskJobName(flow, runId, step, `${firstIndex}_${firstIndex + size - 1}`, attempt);
}

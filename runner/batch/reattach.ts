/**
 * Watching a run again after its runner died: the run's jobs (found by findRunJobs) become
 * watched jobs again — an array parent with its size and index offset (from the job's own
 * MF_ARRAY_INDEX_OFFSET), a plain job with its step and task from its tags — so a new watcher
 * follows them to the end and reports every task.
 */
import type { JobDetail } from '@aws-sdk/client-batch';
import { METAFLOW_TAG_KEYS } from '../policy/batch';
import { MAIN_CONTAINER } from './failures';
import { ARRAY_INDEX_OFFSET_ENV } from './overrides';
import type { WatchedJob } from './watcher';

/** Who a re-attached job belongs to, from its tags. */
export interface ReattachedRef {
  readonly step?: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly jobName?: string;
}

function indexOffset(job: JobDetail): number | undefined {
  const env = job.container?.environment ?? job.ecsProperties?.taskProperties?.[0]?.containers?.find((c) => c.name === MAIN_CONTAINER)?.environment;
  const value = env?.find((e) => e.name === ARRAY_INDEX_OFFSET_ENV)?.value;
  return value === undefined ? undefined : Number(value);
}

/** Watched jobs for the run's top-level jobs; finished jobs too (the watcher reports them at once). */
export function reattachJobs(jobs: readonly JobDetail[]): (WatchedJob & { readonly ref: ReattachedRef })[] {
  return jobs.map((job) => {
    const tags = job.tags ?? {};
    const attempt = tags[METAFLOW_TAG_KEYS.attempt];
    return {
      jobId: job.jobId!,
      size: job.arrayProperties?.size ?? 1,
      firstIndex: indexOffset(job),
      queue: job.jobQueue,
      ref: { step: tags[METAFLOW_TAG_KEYS.step], taskId: tags[METAFLOW_TAG_KEYS.task], attempt: attempt === undefined ? undefined : Number(attempt), jobName: job.jobName },
    };
  });
}

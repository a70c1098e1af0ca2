/**
 * Watching a run again after its runner died: the run's jobs (found by findRunJobs) become
 * watched jobs again — an array parent with its size and index offset (from the job's own
 * MF_ARRAY_INDEX_OFFSET), a plain job with its step and task from its tags — so a new watcher
 * follows them to the end and reports every task.
 */
import type { JobDetail } from '@aws-sdk/client-batch';
import { METAFLOW_TAG_KEYS } from '../policy/batch';
import { ARRAY_INDEX_OFFSET_ENV, TASK_ID_PREFIX_ENV } from './job-shape';
import { MAIN_CONTAINER } from './failures';
import type { WatchedJob } from './watcher';

/** Who a re-attached job belongs to, from its tags. */
export interface ReattachedRef {
  readonly step?: string;
  readonly taskId?: string;
  readonly attempt?: number;
  readonly jobName?: string;
  /**
   * An array job's task-id prefix (its MF_TASK_ID_PREFIX, `2_` in a nested foreach): child i's
   * task id is the prefix + (firstIndex + i).
   *
   * @default - none: a plain job, whose task id is its tag
   */
  readonly taskIdPrefix?: string;
}

function envValue(job: JobDetail, name: string): string | undefined {
  const env = job.container?.environment ?? job.ecsProperties?.taskProperties?.[0]?.containers?.find((c) => c.name === MAIN_CONTAINER)?.environment;
  return env?.find((e) => e.name === name)?.value;
}

function indexOffset(job: JobDetail): number | undefined {
  const value = envValue(job, ARRAY_INDEX_OFFSET_ENV);
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
      ref: {
        step: tags[METAFLOW_TAG_KEYS.step],
        taskId: tags[METAFLOW_TAG_KEYS.task],
        attempt: attempt === undefined ? undefined : Number(attempt),
        jobName: job.jobName,
        ...((job.arrayProperties?.size ?? 1) > 1 ? { taskIdPrefix: envValue(job, TASK_ID_PREFIX_ENV) ?? '' } : {}),
      },
    };
  });
}

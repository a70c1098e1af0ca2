/**
 * Stopping a run's jobs: on Ctrl-C/SIGTERM (the jobs the watcher follows) and after a crash
 * (found by name and tag). TerminateJob on an array parent terminates its children, so children
 * are never listed one by one.
 *
 * Finding a run's jobs: ListJobs' JOB_NAME filter (a prefix with a trailing `*`, any status) per
 * queue finds candidates by the `<flow>-<run>-` name prefix (runner/batch/names.ts never cuts
 * it); DescribeJobs (≤100 per call) then keeps only jobs whose `metaflow.flow`/`metaflow.run_id`
 * tags match. The Resource Groups Tagging API does not list Batch jobs in moto, and ListJobs
 * has no tag filter, so this pairing is the one that works in both places.
 */
import { BatchClient, DescribeJobsCommand, DescribeJobsCommandOutput, JobDetail, paginateListJobs, TerminateJobCommand } from '@aws-sdk/client-batch';
import { METAFLOW_TAG_KEYS } from '../policy/batch';
import { ApiCallCounter } from './api-calls';
import { runJobNamePrefix } from './names';
import { DESCRIBE_JOBS_MAX } from './watcher';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED']);

export interface TerminateResult {
  readonly terminated: readonly string[];
  /** Jobs already finished: left alone. */
  readonly alreadyFinished: readonly string[];
  /** Jobs TerminateJob failed for, with the error (the user must stop them by hand). */
  readonly failed: readonly { readonly jobId: string; readonly error: string }[];
}

/** Terminate every job not known to be finished. `reason` shows in the job's statusReason. */
export async function terminateJobs(
  batch: BatchClient,
  jobs: readonly { readonly jobId: string; readonly status?: string }[],
  reason: string,
  calls: ApiCallCounter = new ApiCallCounter(),
): Promise<TerminateResult> {
  const terminated: string[] = [];
  const alreadyFinished: string[] = [];
  const failed: { jobId: string; error: string }[] = [];
  await Promise.all(
    jobs.map(async (job) => {
      if (job.status && TERMINAL.has(job.status)) {
        alreadyFinished.push(job.jobId);
        return;
      }
      try {
        await calls.send(batch, new TerminateJobCommand({ jobId: job.jobId, reason }));
        terminated.push(job.jobId);
      } catch (err) {
        failed.push({ jobId: job.jobId, error: (err as Error).message });
      }
    }),
  );
  return { terminated: terminated.sort(), alreadyFinished: alreadyFinished.sort(), failed };
}

/** Every top-level job (plain jobs and array parents) of a run, in the given queues. */
export async function findRunJobs(
  batch: BatchClient,
  run: { readonly flow: string; readonly runId: string; readonly queues: readonly string[] },
  calls: ApiCallCounter = new ApiCallCounter(),
): Promise<JobDetail[]> {
  const prefix = runJobNamePrefix(run.flow, run.runId);
  const candidates = new Set<string>();
  for (const jobQueue of new Set(run.queues)) {
    const pages = paginateListJobs({ client: batch }, { jobQueue, filters: [{ name: 'JOB_NAME', values: [`${prefix}*`] }] });
    for await (const page of pages) {
      calls.count('ListJobs');
      for (const summary of page.jobSummaryList ?? []) {
        // array children are not listed by queue; skip them if a backend does
        if (summary.jobId && !summary.jobId.includes(':')) candidates.add(summary.jobId);
      }
    }
  }
  const ids = [...candidates];
  const found: JobDetail[] = [];
  for (let i = 0; i < ids.length; i += DESCRIBE_JOBS_MAX) {
    const out = await calls.send<DescribeJobsCommandOutput>(batch, new DescribeJobsCommand({ jobs: ids.slice(i, i + DESCRIBE_JOBS_MAX) }));
    for (const job of out.jobs ?? []) {
      if (job.tags?.[METAFLOW_TAG_KEYS.run] === run.runId && job.tags?.[METAFLOW_TAG_KEYS.flow] === run.flow) found.push(job);
    }
  }
  return found.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0));
}

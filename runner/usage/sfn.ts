/**
 * Usage of a Step Functions run's attempts. No runner watched its jobs, so its task records (the
 * status.json each task's upload helper wrote) carry only the Batch job id (`externalId`, from
 * AWS_BATCH_JOB_ID). `show` asks Batch about them when it shows the run: DescribeJobs (100 ids a
 * call) for resources, times and host, and each job's queue once (the QueueInspector) for the
 * compute environment that ran it — the same facts a runner records (runner/usage/batch.ts).
 * Batch describes finished jobs only for a limited time: a job it no longer knows stays without
 * usage, and `show` counts it as not recorded.
 */
import { BatchClient, DescribeJobsCommand, JobDetail } from '@aws-sdk/client-batch';
import { classifyFailure } from '../batch/failures';
import { QueueInspector } from '../batch/queues';
import type { RunRecord } from '../datastore/types';
import { isStepFunctionsRun } from '../datastore/step-functions-runs';
import { batchAttemptUsage, jobPlacement, regionOfArn } from './batch';

const DESCRIBE_JOBS_MAX = 100;

/**
 * The run with `usage` on every attempt Batch still describes, when it is a Step Functions run
 * (any other run is returned as it is, and nothing is asked). A failed lookup is one `warn` line;
 * the run is then shown as recorded.
 */
export async function withStepFunctionsUsage(run: RunRecord, warn: (line: string) => void, batchFor: (region: string) => BatchClient = defaultBatch()): Promise<RunRecord> {
  if (!isStepFunctionsRun(run)) return run;
  const wanted = run.tasks.flatMap((t) => t.attempts).filter((a) => !a.usage && a.externalId);
  const region = regionOfArn(run.executionArn);
  if (wanted.length === 0 || !region) return run;
  try {
    const batch = batchFor(region);
    const ids = [...new Set(wanted.map((a) => a.externalId!))];
    const jobs = new Map<string, JobDetail>();
    for (let i = 0; i < ids.length; i += DESCRIBE_JOBS_MAX) {
      const out = await batch.send(new DescribeJobsCommand({ jobs: ids.slice(i, i + DESCRIBE_JOBS_MAX) }));
      for (const job of out.jobs ?? []) if (job.jobId) jobs.set(job.jobId, job);
    }
    const queues = new QueueInspector(batch);
    const usage = new Map<string, NonNullable<RunRecord['tasks'][number]['attempts'][number]['usage']>>();
    for (const [id, job] of jobs) {
      if (job.status !== 'SUCCEEDED' && job.status !== 'FAILED') continue;
      // A queue that cannot be looked up (deleted since, no permission) leaves the environment unknown.
      const queue = job.jobQueue ? await queues.inspect(job.jobQueue).catch(() => undefined) : undefined;
      const hostLost = job.status === 'FAILED' && classifyFailure(job).kind === 'host-lost';
      usage.set(id, batchAttemptUsage(jobPlacement(job), { queue }, hostLost));
    }
    return {
      ...run,
      tasks: run.tasks.map((t) => ({ ...t, attempts: t.attempts.map((a) => (!a.usage && a.externalId && usage.has(a.externalId) ? { ...a, usage: usage.get(a.externalId) } : a)) })),
    };
  } catch (err) {
    warn(`could not ask AWS Batch what run ${run.runId}'s jobs used, its usage is left out (${(err as Error).message.split('\n')[0]})`);
    return run;
  }
}

function defaultBatch(): (region: string) => BatchClient {
  const clients = new Map<string, BatchClient>();
  return (region) => {
    let client = clients.get(region);
    if (!client) {
      const { createBatchClient } = require('../aws/clients') as typeof import('../aws/clients');
      clients.set(region, (client = createBatchClient({ region })));
    }
    return client;
  };
}

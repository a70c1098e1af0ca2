/**
 * Scheduled Lambda that publishes what AWS Batch does not: how many jobs each queue holds in each
 * active state (SUBMITTED … RUNNING) and the desired/maximum vCPUs of each compute environment.
 * Bundled into one index.js (lib/lambda-bundle: at build time for the package, at synth time from the sources).
 *
 * Every count that could be taken is published even when another failed; the run then fails with
 * a message naming each queue or call that failed (the function's Errors metric has an alarm).
 */
import { BatchClient, DescribeComputeEnvironmentsCommand, JobStatus, paginateListJobs } from '@aws-sdk/client-batch';
import { CloudWatchClient, MetricDatum, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { COUNTED_JOB_STATES, nameFromArn, QUEUE_METRICS, QUEUE_METRICS_ENV } from './contract';

export * from './contract';

/** Clients the handler uses (tests pass their own; aws-sdk-client-mock intercepts them). */
export interface QueueMetricsClients {
  readonly batch: BatchClient;
  readonly cloudWatch: CloudWatchClient;
}

/** What one run published. */
export interface QueueMetricsResult {
  readonly published: number;
  readonly failures: readonly string[];
}

/** PutMetricData takes at most this many data points per call. */
export const MAX_DATUMS_PER_CALL = 1000;

let defaultClients: QueueMetricsClients | undefined;

/** The Lambda entry point (clients with the SDK's standard retry strategy, more attempts for Batch's throttling). */
export async function handler(): Promise<QueueMetricsResult> {
  defaultClients ??= { batch: new BatchClient({ maxAttempts: 6 }), cloudWatch: new CloudWatchClient({ maxAttempts: 6 }) };
  return publishQueueMetrics(process.env, defaultClients, new Date());
}

function listFromEnv(env: NodeJS.ProcessEnv, name: string): string[] {
  return (env[name] ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** Count the jobs of one queue in one state (ListJobs pages of 100). */
export async function countJobs(batch: BatchClient, jobQueue: string, jobStatus: JobStatus): Promise<number> {
  let count = 0;
  for await (const page of paginateListJobs({ client: batch, pageSize: 100 }, { jobQueue, jobStatus })) {
    count += page.jobSummaryList?.length ?? 0;
  }
  return count;
}

function errorText(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
}

/** One run: count, publish, and fail (after publishing) if anything could not be counted. */
export async function publishQueueMetrics(env: NodeJS.ProcessEnv, clients: QueueMetricsClients, now: Date): Promise<QueueMetricsResult> {
  const queues = listFromEnv(env, QUEUE_METRICS_ENV.JOB_QUEUES);
  const environments = listFromEnv(env, QUEUE_METRICS_ENV.COMPUTE_ENVIRONMENTS);
  const namespace = env[QUEUE_METRICS_ENV.NAMESPACE];
  if (queues.length === 0 || !namespace) {
    throw new Error(`queue metrics: ${QUEUE_METRICS_ENV.JOB_QUEUES} and ${QUEUE_METRICS_ENV.NAMESPACE} must be set, got ${JSON.stringify({ queues, namespace })}`);
  }
  const datums: MetricDatum[] = [];
  const failures: string[] = [];

  await Promise.all(queues.flatMap((queue) => COUNTED_JOB_STATES.map(async (state) => {
    try {
      const count = await countJobs(clients.batch, queue, state);
      datums.push({
        MetricName: QUEUE_METRICS.JOBS_IN_STATE,
        Dimensions: [{ Name: 'JobQueue', Value: nameFromArn(queue) }, { Name: 'State', Value: state }],
        Value: count, Unit: 'Count', Timestamp: now,
      });
    } catch (err) {
      failures.push(`ListJobs ${nameFromArn(queue)} ${state}: ${errorText(err)}`);
    }
  })));

  if (environments.length > 0) {
    try {
      const { computeEnvironments = [] } = await clients.batch.send(new DescribeComputeEnvironmentsCommand({ computeEnvironments: environments }));
      for (const ce of computeEnvironments) {
        const dimensions = [{ Name: 'ComputeEnvironment', Value: ce.computeEnvironmentName ?? nameFromArn(ce.computeEnvironmentArn ?? '') }];
        const resources = ce.computeResources;
        if (resources?.desiredvCpus !== undefined) datums.push({ MetricName: QUEUE_METRICS.DESIRED_VCPUS, Dimensions: dimensions, Value: resources.desiredvCpus, Unit: 'Count', Timestamp: now });
        if (resources?.maxvCpus !== undefined) datums.push({ MetricName: QUEUE_METRICS.MAX_VCPUS, Dimensions: dimensions, Value: resources.maxvCpus, Unit: 'Count', Timestamp: now });
      }
    } catch (err) {
      failures.push(`DescribeComputeEnvironments: ${errorText(err)}`);
    }
  }

  for (let i = 0; i < datums.length; i += MAX_DATUMS_PER_CALL) {
    await clients.cloudWatch.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: datums.slice(i, i + MAX_DATUMS_PER_CALL) }));
  }
  if (failures.length > 0) {
    throw new Error(`queue metrics: published ${datums.length} values, but ${failures.length} call(s) failed: ${failures.sort().join('; ')}`);
  }
  return { published: datums.length, failures };
}

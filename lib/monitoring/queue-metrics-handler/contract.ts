/**
 * The queue-metrics function's contract, shared by the construct that deploys it and the handler:
 * environment variable names, the metric namespace layout and the states it counts. The construct
 * imports this file only, not the handler (which the Lambda runtime's AWS SDK serves).
 */
/** Environment variables of the function. */
export const QUEUE_METRICS_ENV = {
  /** Comma-separated job queue ARNs to count jobs in. */
  JOB_QUEUES: 'JOB_QUEUES',
  /** Comma-separated compute environment ARNs whose desired vCPUs to publish (may be empty). */
  COMPUTE_ENVIRONMENTS: 'COMPUTE_ENVIRONMENTS',
  /** CloudWatch namespace to publish into. */
  NAMESPACE: 'METRIC_NAMESPACE',
} as const;

/** Job states counted per queue (finished jobs pile up for days, so they are not counted here). */
export const COUNTED_JOB_STATES = ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING', 'RUNNING'] as const;
/** A Batch job state the queue-metrics function counts per queue. */
export type CountedJobState = (typeof COUNTED_JOB_STATES)[number];

/** Metric names and dimensions the function publishes. */
export const QUEUE_METRICS = {
  /** Jobs in a state, dimensions JobQueue (name) and State. Array jobs count once. */
  JOBS_IN_STATE: 'JobsInState',
  /** Desired vCPUs of a compute environment, dimension ComputeEnvironment (name). */
  DESIRED_VCPUS: 'DesiredvCpus',
  /** Most vCPUs of a compute environment, dimension ComputeEnvironment (name). */
  MAX_VCPUS: 'MaxvCpus',
} as const;

/** `arn:…:job-queue/default` → `default` (Batch ARNs end in `<type>/<name>`). */
export function nameFromArn(arn: string): string {
  return arn.slice(arn.lastIndexOf('/') + 1);
}

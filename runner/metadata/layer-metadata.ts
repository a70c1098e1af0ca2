/**
 * Task metadata a compute layer adds to each attempt, under the field names Metaflow's own
 * decorator for that layer records, so the Metaflow UI's task page and `task.metadata_dict` show
 * the same things for our tasks as for a Python flow's.
 */

/** What the registrar knows of one attempt from its layer (AttemptStart and AttemptResult). */
export interface AttemptLayerFacts {
  /** The layer's id of the attempt (Batch: the job id, `<array job id>:<index>` for a child). */
  readonly externalId?: string;
  /** Where the layer keeps the attempt's log (Batch: the CloudWatch log stream). */
  readonly logRef?: string;
  /** Host losses the layer retried inside the attempt (Batch spot reclaims); known once it ended. */
  readonly infrastructureRetries?: number;
  /** Whether the attempt has ended. */
  readonly ended: boolean;
}

/** Metadata fields (field name → value) of one attempt; each field is sent once per attempt. */
export type AttemptMetadata = (step: string, facts: AttemptLayerFacts) => Record<string, string>;

/** Where a Batch layer's jobs log. */
export interface BatchLogSettings {
  /** The jobs' CloudWatch Logs group (`awslogs-group`). */
  readonly logGroup: string;
  /** The region of the group, when the layer knows it. @default - not recorded */
  readonly region?: string;
}

/**
 * The Batch layer's attempt metadata, named as Metaflow's @batch records them
 * (metaflow/plugins/aws/batch/batch_decorator.py, task_pre_step: `aws-batch-job-id`,
 * `aws-batch-job-attempt`, `aws-batch-awslogs-group`, `-region`, `-stream`; type = field name).
 *
 * `aws-batch-job-attempt` is Batch's own attempt number, AWS_BATCH_JOB_ATTEMPT: "The first attempt
 * is numbered 1, and subsequent attempts are in ascending order" (AWS Batch User Guide, "Automated
 * job retries"). Batch retries a job whose host was lost (a spot reclaim) through its
 * retryStrategy, inside one of our attempts: the number is 1 + those retries, so a spot retry
 * shows as `aws-batch-job-attempt` 2 or more. It is known when the attempt ends (Metaflow's runs
 * inside the container and records it at start).
 */
export function batchAttemptMetadata(logs: BatchLogSettings): AttemptMetadata {
  return (_step, facts) => {
    const out: Record<string, string> = {};
    if (facts.externalId) out['aws-batch-job-id'] = facts.externalId;
    if (facts.logRef) {
      out['aws-batch-awslogs-group'] = logs.logGroup;
      out['aws-batch-awslogs-stream'] = facts.logRef;
      if (logs.region) out['aws-batch-awslogs-region'] = logs.region;
    }
    if (facts.ended && facts.externalId) out['aws-batch-job-attempt'] = String(1 + (facts.infrastructureRetries ?? 0));
    return out;
  };
}

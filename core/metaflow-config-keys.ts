/**
 * The one module that owns Metaflow's client configuration keys.
 *
 * The stack's outputs, the `configure` command that writes `~/.metaflowconfig/config.json`,
 * and the runner's config reader all take key names, descriptions and output ids from here,
 * so a key is spelled once.
 *
 * Metaflow reads each key from the environment as `METAFLOW_<KEY>` or from its config file
 * (`$METAFLOW_HOME/config.json`, or `config_<profile>.json` with `METAFLOW_PROFILE`), where the
 * file's keys are also written with the `METAFLOW_` prefix.
 */

/** Every Metaflow configuration key this project determines, with what it means. */
export const METAFLOW_CONFIG_KEYS = {
  DEFAULT_DATASTORE: 'Default datastore type (always "s3" for this stack)',
  DEFAULT_METADATA: 'Default metadata provider (always "service" when the metadata service is deployed)',
  DATASTORE_SYSROOT_S3: 'S3 root of the Metaflow datastore (s3://<bucket>/metaflow)',
  DATATOOLS_S3ROOT: 'S3 root for Metaflow data tools (s3://<bucket>/data)',
  SERVICE_URL: 'Metadata service URL clients use (the API Gateway endpoint)',
  SERVICE_INTERNAL_URL: 'Metadata service URL for tasks inside the VPC (the internal NLB)',
  SERVICE_AUTH_KEY: 'API key clients send as x-api-key (kept in Secrets Manager, never in outputs)',
  BATCH_JOB_QUEUE: 'AWS Batch job queue for @batch steps (the default queue)',
  BATCH_JOB_QUEUE_GPU: 'AWS Batch job queue for steps that ask for GPUs (metaflow-cdk runner; Metaflow itself ignores it)',
  ECS_S3_ACCESS_IAM_ROLE: 'IAM role that Batch job containers assume (S3 datastore access)',
  ECS_FARGATE_EXECUTION_ROLE: 'ECS task execution role for Fargate compute environments',
  BATCH_CONTAINER_REGISTRY: 'Default container registry for Batch steps',
  BATCH_CONTAINER_IMAGE: 'Default container image for Batch steps',
  BATCH_ASSIGN_PUBLIC_IP: '"true" when compute runs in public subnets: Fargate job definitions must set networkConfiguration.assignPublicIp ENABLED to pull images (metaflow-cdk runner; Metaflow itself ignores it)',
  SFN_IAM_ROLE: 'IAM role that AWS Step Functions state machines run as',
  EVENTS_SFN_ACCESS_IAM_ROLE: 'IAM role EventBridge uses to start scheduled state machines',
  SFN_DYNAMO_DB_TABLE: 'DynamoDB table Step Functions foreach joins use (key "pathspec", TTL "ttl")',
  SFN_STATE_MACHINE_PREFIX: 'Prefix of the state machine names this stack may start',
  SFN_EXECUTION_LOG_GROUP_ARN: 'CloudWatch Logs group ARN for Step Functions execution history',
  BATCH_TEAM_JOB_QUEUE: 'Fair-share job queue of the TEAM (metaflow-cdk runner, for runs of that team; Metaflow itself ignores it and submits to BATCH_JOB_QUEUE, which stays FIFO)',
  BATCH_TEAM_JOB_QUEUE_GPU: 'Fair-share job queue of the TEAM\'s GPU steps (metaflow-cdk runner, for runs of that team; BATCH_JOB_QUEUE_GPU stays the FIFO GPU queue)',
  BATCH_JOB_LOG_GROUP: 'CloudWatch Logs group of the jobs metaflow-cdk submits (their job definitions name it; default /aws/batch/job; Metaflow itself ignores it)',
  TEAM: 'Team of runs on fair-share queues: their jobs\' share identifier and `metaflow.team` tag (metaflow-cdk runner; run --team replaces it; Metaflow itself ignores it)',
  UI_URL: 'URL of the Metaflow UI (when it is deployed); Metaflow links runs and cards to it',
} as const;

/** A Metaflow configuration key, without the `METAFLOW_` prefix. */
export type MetaflowConfigKey = keyof typeof METAFLOW_CONFIG_KEYS;

/** All keys, in a stable order. */
export const ALL_METAFLOW_CONFIG_KEYS = Object.keys(METAFLOW_CONFIG_KEYS) as MetaflowConfigKey[];

/** A Metaflow client profile: key → value, keys without the prefix. */
export type MetaflowProfile = Partial<Record<MetaflowConfigKey, string>>;

/** Keys whose value is a secret: never put into stack outputs or SSM parameters. */
export const SECRET_METAFLOW_CONFIG_KEYS: readonly MetaflowConfigKey[] = ['SERVICE_AUTH_KEY'];

/** The prefix Metaflow uses in environment variables and in its config file. */
export const METAFLOW_KEY_PREFIX = 'METAFLOW_';

/** `BATCH_JOB_QUEUE` → `METAFLOW_BATCH_JOB_QUEUE`, as Metaflow writes it in config.json. */
export function metaflowEnvName(key: MetaflowConfigKey): string {
  return `${METAFLOW_KEY_PREFIX}${key}`;
}

/** Is `name` a known key, with or without the `METAFLOW_` prefix? Returns the bare key or undefined. */
export function parseMetaflowConfigKey(name: string): MetaflowConfigKey | undefined {
  const bare = name.startsWith(METAFLOW_KEY_PREFIX) ? name.slice(METAFLOW_KEY_PREFIX.length) : name;
  return bare in METAFLOW_CONFIG_KEYS ? (bare as MetaflowConfigKey) : undefined;
}

/**
 * The CloudFormation output id (logical id) under which the stack publishes a key:
 * `DATASTORE_SYSROOT_S3` → `MetaflowDatastoreSysrootS3`. Output ids must be alphanumeric.
 */
export function metaflowOutputId(key: MetaflowConfigKey): string {
  const pascal = key
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
  return `Metaflow${pascal}`;
}

/** Output ids of the stack's outputs that are not single config keys. */
export const METAFLOW_STACK_OUTPUTS = {
  /** The whole profile (secrets excluded) as one JSON object, keys with the METAFLOW_ prefix. */
  PROFILE_JSON: 'MetaflowProfileJson',
  /** ARN of the Secrets Manager secret holding the metadata service API key value. */
  API_KEY_SECRET_ARN: 'MetaflowApiKeySecretArn',
  /** ARN of the GPU job queue. */
  GPU_JOB_QUEUE_ARN: 'MetaflowGpuJobQueueArn',
  /** ARN of the Fargate job queue, when Fargate is enabled. */
  FARGATE_JOB_QUEUE_ARN: 'MetaflowFargateJobQueueArn',
  /** Name of the Lambda function that runs metadata database migrations. */
  MIGRATION_FUNCTION_NAME: 'MetaflowMigrationFunctionName',
  /** Id of the VPC everything runs in. */
  VPC_ID: 'MetaflowVpcId',
  /** Comma-separated ids of the subnets compute (Batch, Fargate, services) runs in. */
  COMPUTE_SUBNET_IDS: 'MetaflowComputeSubnetIds',
  /** Id of the security group of Batch hosts and tasks. */
  COMPUTE_SECURITY_GROUP_ID: 'MetaflowComputeSecurityGroupId',
  /** Name of the datastore bucket. */
  DATASTORE_BUCKET_NAME: 'MetaflowDatastoreBucketName',
  /** ARN of the datastore bucket. */
  DATASTORE_BUCKET_ARN: 'MetaflowDatastoreBucketArn',
  /** Id of the metadata service's REST API (API Gateway). */
  API_ID: 'MetaflowApiId',
  /** DNS name of the UI load balancer (point the Cognito-mode domain's DNS record at it). */
  UI_LOAD_BALANCER_DNS_NAME: 'MetaflowUiLoadBalancerDnsName',
  /** ARN of the managed policy that lets a person or CI role run flows on this stack. */
  USER_ACCESS_POLICY_ARN: 'MetaflowUserAccessPolicyArn',
  /** ARN of the SNS topic the stack's alarms notify. */
  ALARM_TOPIC_ARN: 'MetaflowAlarmTopicArn',
  /** Name of the CloudWatch dashboard. */
  DASHBOARD_NAME: 'MetaflowDashboardName',
  TEAMS_JSON: 'MetaflowTeamsJson',
  JOB_LOG_GROUP_NAME: 'MetaflowJobLogGroupName',
} as const;

/**
 * Render a profile the way Metaflow's own `metaflow configure` writes config.json: keys with
 * the `METAFLOW_` prefix, in the order of {@link ALL_METAFLOW_CONFIG_KEYS}, empty values left out.
 */
export function toMetaflowConfigFile(profile: MetaflowProfile): Record<string, string> {
  const file: Record<string, string> = {};
  for (const key of ALL_METAFLOW_CONFIG_KEYS) {
    const value = profile[key];
    if (value !== undefined && value !== '') {
      file[metaflowEnvName(key)] = value;
    }
  }
  return file;
}

import { Duration, PermissionsBoundary, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct, Node } from 'constructs';
import { AL2_RETIRED_REASON, Ec2EnvironmentOptions, FargateEnvironmentOptions, GpuEnvironmentOptions, GpuImageType } from '../compute/environment-options';
import { DatastoreEncryption } from '../datastore/metaflow-datastore';
import { GatewayEndpointPolicy } from '../network/metaflow-network';
import { describeValue, MetaflowValidationError } from '../validation';
import { MetaflowUiAuth } from '../ui/metaflow-ui-auth';
import { MetaflowTeam, parseTeamSpecs } from '../teams/metaflow-teams';
import { MetaflowStackProps, MetaflowStackUiProps } from './metaflow-stack';

/** A context value after parsing. */
type ContextValue = string | number | boolean | string[];

/** Mutable stack props under construction. */
interface PropsDraft {
  network: Record<string, unknown>;
  imageCache: Record<string, unknown>;
  datastore: Record<string, unknown>;
  metadataService: Record<string, unknown> & { database: Record<string, unknown>; api: Record<string, unknown> };
  stepFunctions: Record<string, unknown>;
  ui: Record<string, unknown> & { authMode?: string; certificateArn?: string; domainName?: string; allowedCidrs?: string[] };
  compute: Record<string, unknown> & {
    onDemand: Record<string, unknown>;
    spot: Record<string, unknown>;
    gpu: Record<string, unknown>;
    fargate: Record<string, unknown>;
  };
  permissionsBoundaryArn?: string;
  kmsKeyArn?: string;
  client: Record<string, unknown>;
  monitoring: Record<string, unknown>;
  removalPolicy?: RemovalPolicy;
}

/** One `-c key=value` option of the CDK app. */
export interface ContextKeySpec {
  /** The context key. */
  readonly key: string;
  /** Its type, as shown in the README. */
  readonly type: 'integer' | 'boolean' | 'string' | 'list' | 'enum';
  /** For enums: the accepted values. @default - any value of the type */
  readonly values?: readonly string[];
  /** For enums: values no longer accepted, with the reason shown when one is given. @default - none */
  readonly retired?: Readonly<Record<string, string>>;
  /** For strings: a pattern the value must match. @default - any string */
  readonly pattern?: RegExp;
  /** For strings with a pattern: how the message describes it. @default - the pattern itself */
  readonly patternDescription?: string;
  /** For integers: the smallest accepted value (inclusive). @default - no lower bound */
  readonly min?: number;
  /** For integers: the largest accepted value (inclusive). @default - no upper bound */
  readonly max?: number;
  /** The default, as shown in the README. */
  readonly defaultValue: string;
  /** What it does. */
  readonly description: string;
  /** Put the parsed value into the props draft. @default - the key is read by {@link metaflowSettingsFromContext} itself */
  readonly apply?: (draft: PropsDraft, value: ContextValue) => void;
  /**
   * The construct props this key sets, as `<construct path under the stack>:<prop>` (as the
   * construct names them in its errors), so a value a construct rejects is reported under the
   * `-c` key.
   * @default - none
   */
  readonly props?: readonly string[];
  /** Another key this one only makes sense with (e.g. `gpuSpot` needs `gpu=true`). @default - none */
  readonly requires?: { readonly key: string; readonly value: string | boolean };
}

const KEYS: ContextKeySpec[] = [
  { key: 'stackName', type: 'string', defaultValue: 'Metaflow', description: 'Name of the CloudFormation stack' },
  { key: 'nag', type: 'boolean', defaultValue: 'true', description: 'Run cdk-nag AwsSolutions checks during synth (unacknowledged findings fail the synth)' },
  { key: 'maxAzs', type: 'integer', min: 2, max: 6, defaultValue: '2', description: 'Availability Zones of the new VPC', props: ['Network:maxAzs'], apply: (d, v) => { d.network.maxAzs = v; } },
  { key: 'availabilityZones', type: 'list', defaultValue: '(first maxAzs zones)', description: 'Comma-separated AZ names of the new VPC instead of maxAzs (cfn-lint then warns W3010: hard-coded AZs)', props: ['Network:availabilityZones'], apply: (d, v) => { d.network.availabilityZones = v; } },
  { key: 'natGateways', type: 'integer', min: 0, max: 16, defaultValue: '1', description: 'NAT gateways; 0 keeps compute in private subnets without a route to the internet (AWS services through interface endpoints, public images through the ECR pull-through cache; see computeSubnets). First deploy only when compute is public (docs/operations.md)', props: ['Network:natGateways'], apply: (d, v) => { d.network.natGateways = v; } },
  { key: 'computeSubnets', type: 'enum', values: ['private', 'public'], defaultValue: 'private', description: 'private: compute in private subnets (through NAT, or isolated with endpoints when natGateways=0); public: compute in the public subnets with public IPs (needs natGateways=0; Fargate job definitions then ask for a public IP, published as METAFLOW_BATCH_ASSIGN_PUBLIC_IP). First deploy only', props: ['Network:computeSubnetType'], apply: (d, v) => { d.network.computeSubnetType = v === 'public' ? ec2.SubnetType.PUBLIC : undefined; } },
  { key: 'interfaceEndpoints', type: 'boolean', defaultValue: '(true with natGateways=0 and private compute)', description: 'Interface endpoints in the compute subnets for ECR (api, dkr), CloudWatch Logs, STS, Secrets Manager and ECS (ecs, ecs-agent, ecs-telemetry); billed per AZ-hour (docs/networking.md)', props: ['Network:interfaceEndpoints'], apply: (d, v) => { d.network.interfaceEndpoints = v; } },
  { key: 'imageCache', type: 'boolean', defaultValue: '(true with natGateways=0 and private compute)', description: 'ECR pull-through cache rules (ECR Public; Docker Hub with dockerHubCredentialArn) and the stack\'s own images pulled through them', apply: (d, v) => { d.imageCache.enabled = v; } },
  { key: 'dockerHubCredentialArn', type: 'string', pattern: /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/.+$/, patternDescription: 'a Secrets Manager secret ARN whose name starts with ecr-pullthroughcache/ (ECR requires that prefix)', defaultValue: '(none; required with natGateways=0, private compute and the metadata service)', description: 'Secret with Docker Hub credentials (username, accessToken) for the Docker Hub pull-through cache rule; without NAT the metadata service image comes through it', props: [':imageCache.dockerHubCredentialArn', 'ImageCache:dockerHubCredentialArn'], apply: (d, v) => { d.imageCache.dockerHubCredentialArn = v; } },
  { key: 'vpcCidr', type: 'string', defaultValue: '10.0.0.0/16', description: 'CIDR of the new VPC', props: ['Network:cidr'], apply: (d, v) => { d.network.cidr = v; } },
  { key: 'flowLogs', type: 'boolean', defaultValue: 'true', description: 'VPC flow logs to CloudWatch Logs', apply: (d, v) => { d.network.flowLogs = v; } },
  { key: 'gatewayEndpoints', type: 'boolean', defaultValue: 'true', description: 'S3 and DynamoDB gateway endpoints (free) on the compute subnets\' route tables', apply: (d, v) => { d.network.gatewayEndpoints = v; } },
  { key: 'gatewayEndpointPolicy', type: 'enum', values: ['account', 'open'], defaultValue: 'account', description: 'account: the endpoints admit only this account\'s principals (plus unsigned reads of ECR image layers and the Amazon Linux 2023 repositories); open: AWS\'s full-access default (e.g. for unsigned open-data reads)', apply: (d, v) => { d.network.gatewayEndpointPolicy = v === 'open' ? GatewayEndpointPolicy.OPEN : GatewayEndpointPolicy.ACCOUNT; } },
  { key: 'bucketName', type: 'string', defaultValue: '(generated)', description: 'Physical name of the new datastore bucket', props: ['Datastore:bucketName', ':datastore.bucketName'], apply: (d, v) => { d.datastore.bucketName = v; } },
  { key: 'existingBucketName', type: 'string', defaultValue: '(none)', description: 'Use this existing bucket as the datastore instead of creating one', props: [':Datastore bucketName'], apply: (d, v) => { d.datastore.existingBucketName = v; } },
  { key: 'encryption', type: 'enum', values: ['s3', 'kms'], defaultValue: 's3', description: 'Datastore encryption: SSE-S3 or SSE-KMS', props: [':datastore.encryption'], apply: (d, v) => { d.datastore.encryption = v === 'kms' ? DatastoreEncryption.KMS : DatastoreEncryption.S3_MANAGED; } },
  { key: 'kmsKeyArn', type: 'string', pattern: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/, patternDescription: 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)', defaultValue: '(created when encryption=kms)', description: 'Existing KMS key for SSE-KMS: of a new bucket (needs encryption=kms) or of the existingBucketName bucket (the roles get kms:Decrypt/GenerateDataKey on it)', apply: (d, v) => { d.kmsKeyArn = v as string; } },
  { key: 'versioned', type: 'boolean', defaultValue: 'false', description: 'Bucket versioning', props: [':datastore.versioned'], apply: (d, v) => { d.datastore.versioned = v; } },
  { key: 'noncurrentVersionExpirationDays', type: 'integer', min: 1, max: 36500, defaultValue: '(keep)', description: 'Delete non-current versions after this many days (needs versioned=true)', requires: { key: 'versioned', value: true }, props: [':datastore.noncurrentVersionExpiration'], apply: (d, v) => { d.datastore.noncurrentVersionExpiration = Duration.days(v as number); } },
  { key: 'accessLogs', type: 'boolean', defaultValue: 'true', description: 'S3 server access logs for the datastore', props: [':datastore.serverAccessLogs'], apply: (d, v) => { d.datastore.serverAccessLogs = v; } },
  { key: 'removalPolicy', type: 'enum', values: ['retain', 'destroy'], defaultValue: 'retain', description: 'What stack deletion does: retain keeps buckets, table, log groups, key and a database snapshot (deletion protection on); destroy deletes everything (buckets emptied, database without protection or snapshot) so a failed or test stack can be deleted', apply: (d, v) => { d.removalPolicy = v === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN; } },
  { key: 'spot', type: 'boolean', defaultValue: 'true', description: 'Spot CPU environment, first in the default queue', apply: (d, v) => { d.compute.spot.enabled = v; } },
  { key: 'spotMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of the Spot environment', props: ['Compute:spot.maxvCpus'], requires: { key: 'spot', value: true }, apply: (d, v) => { d.compute.spot.maxvCpus = v; } },
  { key: 'onDemand', type: 'boolean', defaultValue: 'true', description: 'On-demand CPU environment, second in the default queue (takes jobs the Spot environment cannot place; not a Spot-shortage fallback)', apply: (d, v) => { d.compute.onDemand.enabled = v; } },
  { key: 'onDemandMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of the on-demand environment', props: ['Compute:onDemand.maxvCpus'], requires: { key: 'onDemand', value: true }, apply: (d, v) => { d.compute.onDemand.maxvCpus = v; } },
  { key: 'minvCpus', type: 'integer', min: 0, max: 100000, defaultValue: '0', description: 'vCPUs the on-demand environment keeps warm (0 scales to zero)', props: ['Compute:onDemand.minvCpus'], requires: { key: 'onDemand', value: true }, apply: (d, v) => { d.compute.onDemand.minvCpus = v; } },
  { key: 'instanceTypes', type: 'list', defaultValue: 'default_x86_64', description: 'Comma-separated CPU instance types/families for Spot and on-demand', props: ['Compute:spot.instanceTypes', 'Compute:onDemand.instanceTypes'], apply: (d, v) => { d.compute.onDemand.instanceTypes = v; d.compute.spot.instanceTypes = v; } },
  { key: 'gpu', type: 'boolean', defaultValue: 'true', description: 'GPU environment and the gpu queue', apply: (d, v) => { d.compute.gpu.enabled = v; } },
  { key: 'gpuMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '64', description: 'Most vCPUs of the GPU environment', props: ['Compute:gpu.maxvCpus'], requires: { key: 'gpu', value: true }, apply: (d, v) => { d.compute.gpu.maxvCpus = v; } },
  { key: 'gpuInstanceTypes', type: 'list', defaultValue: 'g4dn,g5,g6', description: 'Comma-separated NVIDIA GPU instance types/families', props: ['Compute:gpu.instanceTypes'], requires: { key: 'gpu', value: true }, apply: (d, v) => { d.compute.gpu.instanceTypes = v; } },
  { key: 'gpuImageType', type: 'enum', values: ['al2023'], retired: { al2: AL2_RETIRED_REASON }, defaultValue: 'al2023', description: 'NVIDIA ECS AMI of GPU hosts (al2 is no longer accepted: Batch stopped creating AL2 environments on 2026-06-30)', requires: { key: 'gpu', value: true }, apply: (d) => { d.compute.gpu.imageType = GpuImageType.AL2023_NVIDIA; } },
  { key: 'gpuSpot', type: 'boolean', defaultValue: 'false', description: 'Spot GPU environment in front of the on-demand one', requires: { key: 'gpu', value: true }, apply: (d, v) => { d.compute.gpu.spot = v; } },
  { key: 'fargate', type: 'boolean', defaultValue: 'false', description: 'Fargate environments and the fargate queue', apply: (d, v) => { d.compute.fargate.enabled = v; } },
  { key: 'fargateSpot', type: 'boolean', defaultValue: 'true', description: 'Fargate Spot in front of Fargate in the fargate queue', requires: { key: 'fargate', value: true }, apply: (d, v) => { d.compute.fargate.spot = v; } },
  { key: 'fargateMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of each Fargate environment', props: ['Compute:fargate.maxvCpus'], requires: { key: 'fargate', value: true }, apply: (d, v) => { d.compute.fargate.maxvCpus = v; } },
  { key: 'rootVolumeGiB', type: 'integer', min: 30, max: 16384, defaultValue: '100', description: 'Encrypted gp3 root volume of EC2 hosts, GiB', props: ['Compute/LaunchTemplate:rootVolumeSizeGiB', 'Compute:rootVolumeSizeGiB'], apply: (d, v) => { d.compute.rootVolumeSizeGiB = v; } },
  { key: 'runnableTimeoutMinutes', type: 'integer', min: 10, max: 1440, defaultValue: '30', description: 'Cancel jobs no environment can ever run after this long RUNNABLE', props: ['Compute:runnableTimeout'], apply: (d, v) => { d.compute.runnableTimeout = Duration.minutes(v as number); } },
  { key: 'capacityTimeoutMinutes', type: 'integer', min: 10, max: 1440, defaultValue: '(off)', description: 'Cancel jobs stuck RUNNABLE this long because no environment of their queue has instance capacity (CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY); off by default', props: ['Compute:capacityTimeout'], apply: (d, v) => { d.compute.capacityTimeout = Duration.minutes(v as number); } },
  { key: 'metadataService', type: 'boolean', defaultValue: 'true', description: 'Deploy the metadata service (ECS Fargate + RDS PostgreSQL + NLB + API Gateway)', apply: (d, v) => { d.metadataService.enabled = v; } },
  { key: 'metadataServiceVersion', type: 'string', defaultValue: 'v2.5.1', description: 'Tag of netflixoss/metaflow_metadata_service, for the service and the UI backend (v2.4.12 and older have an SQL injection in update_row)', props: ['MetadataService:imageVersion'], requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.imageVersion = v; } },
  { key: 'metadataServiceDesiredCount', type: 'integer', min: 0, max: 100, defaultValue: '1', description: 'Metadata service tasks (0 stops the service; a deploy with 0 runs no migration check)', props: ['MetadataService:desiredCount'], requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.desiredCount = v; } },
  { key: 'dbInstanceType', type: 'string', defaultValue: 't4g.small', description: 'RDS instance type (without "db.")', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.database.instanceType = dbInstanceType(v as string); } },
  { key: 'dbEngineVersion', type: 'string', defaultValue: '17', description: 'PostgreSQL version: a major (17; minors move by automatic minor upgrades) or a full version (16.10; pinned, automatic minor upgrades off); use one AWS still supports', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.database.engineVersion = postgresVersion(v as string); } },
  { key: 'dbMultiAz', type: 'boolean', defaultValue: 'false', description: 'RDS standby in a second AZ', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.database.multiAz = v; } },
  { key: 'dbDeletionProtection', type: 'boolean', defaultValue: 'true', description: 'RDS deletion protection', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.database.deletionProtection = v; } },
  { key: 'dbRemovalPolicy', type: 'enum', values: ['snapshot', 'retain', 'destroy'], defaultValue: 'snapshot', description: 'What stack deletion does to the database', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.database.removalPolicy = { snapshot: RemovalPolicy.SNAPSHOT, retain: RemovalPolicy.RETAIN, destroy: RemovalPolicy.DESTROY }[v as string]; } },
  { key: 'apiRateLimit', type: 'integer', min: 1, max: 10000, defaultValue: '100', description: 'Metadata API steady requests per second (usage plan)', props: ['MetadataService/Api:rateLimit'], requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.api.rateLimit = v; } },
  { key: 'apiBurstLimit', type: 'integer', min: 1, max: 5000, defaultValue: '200', description: 'Metadata API burst (usage plan)', props: ['MetadataService/Api:burstLimit'], requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.api.burstLimit = v; } },
  { key: 'apiCloudWatchRole', type: 'boolean', defaultValue: 'true', description: 'Create the account-level API Gateway CloudWatch role (retained on delete) that stage access logs need; false only if the account already has one set', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.api.cloudWatchRole = v; } },
  { key: 'webAclArn', type: 'string', pattern: /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/, patternDescription: 'a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)', defaultValue: '(none)', description: 'Regional WAF web ACL to attach to the metadata API', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.metadataService.api.webAclArn = v; } },
  { key: 'stepFunctions', type: 'boolean', defaultValue: 'true', description: 'Step Functions support (DynamoDB table, roles, log group)', apply: (d, v) => { d.stepFunctions.enabled = v; } },
  { key: 'stateMachinePrefix', type: 'string', defaultValue: '(stack name)', description: 'Prefix of state machine names (`<prefix>_<flow>`; letters, digits, `-`) the EventBridge role may start', props: ['StepFunctions:stateMachinePrefix'], requires: { key: 'stepFunctions', value: true }, apply: (d, v) => { d.stepFunctions.stateMachinePrefix = v; } },
  { key: 'ui', type: 'boolean', defaultValue: 'false', description: 'Deploy the Metaflow UI (needs the metadata service)', requires: { key: 'metadataService', value: true }, apply: (d, v) => { d.ui.enabled = v; } },
  { key: 'uiAuth', type: 'enum', values: ['internal', 'cognito'], defaultValue: 'internal', description: 'internal: internal ALB open to uiAllowedCidrs only; cognito: public HTTPS ALB with Cognito login', apply: (d, v) => { d.ui.authMode = v as string; } },
  { key: 'uiAllowedCidrs', type: 'list', defaultValue: '(required for internal)', description: 'Comma-separated CIDRs allowed to reach the UI load balancer', props: ['Ui:auth.allowedCidrs'], apply: (d, v) => { d.ui.allowedCidrs = v as string[]; } },
  { key: 'uiCertificateArn', type: 'string', defaultValue: '(required for cognito)', description: 'ACM certificate ARN for the UI HTTPS listener', props: ['Ui:auth.certificateArn'], apply: (d, v) => { d.ui.certificateArn = v as string; } },
  { key: 'uiDomainName', type: 'string', defaultValue: '(required for cognito)', description: 'Domain name users open the UI at (Cognito callback)', props: ['Ui:auth.domainName'], apply: (d, v) => { d.ui.domainName = v as string; } },
  { key: 'uiVersion', type: 'string', defaultValue: 'v1.2.4', description: 'Tag of public.ecr.aws/outerbounds/metaflow_ui', props: ['Ui:staticImageVersion'], apply: (d, v) => { d.ui.staticImageVersion = v; } },
  { key: 'monitoring', type: 'boolean', defaultValue: 'true', description: 'CloudWatch dashboard, queue-depth metrics and alarms', apply: (d, v) => { d.monitoring.enabled = v; } },
  { key: 'alarmEmail', type: 'string', pattern: /^[^\s@]+@[^\s@]+\.[^\s@]+$/, patternDescription: 'an email address', defaultValue: '(none)', description: 'Subscribe this address to the created alarm topic', requires: { key: 'monitoring', value: true }, apply: (d, v) => { d.monitoring.alarmEmail = v; } },
  { key: 'alarmTopicArn', type: 'string', pattern: /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, patternDescription: 'an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)', defaultValue: '(created)', description: 'Your own SNS topic for the alarms instead of a created one', requires: { key: 'monitoring', value: true }, apply: (d, v) => { d.monitoring.alarmTopicArn = v; } },
  { key: 'failedJobsAlarmThreshold', type: 'integer', min: 1, max: 100000, defaultValue: '10', description: 'Alarm when this many Batch jobs fail within 15 minutes', requires: { key: 'monitoring', value: true }, apply: (d, v) => { d.monitoring.failedJobsThreshold = v; } },
  { key: 'userAccessPolicy', type: 'boolean', defaultValue: 'true', description: 'Managed policy people and CI attach to run flows (output MetaflowUserAccessPolicyArn)', apply: (d, v) => { d.client.userAccessPolicy = v; } },
  { key: 'teams', type: 'list', defaultValue: '(none)', description: 'Teams sharing the stack, `name[:weight[:maxvCpus]]` comma-separated (e.g. `ml:3,research:1`): a fair-share queue beside the FIFO ones (and a fair-share GPU queue when the stack has GPUs), a job role, datastore folder and access policy per team; maxvCpus gives a team its own environment and queue', apply: (d, v) => { d.client.teams = teamsOf(v as string[]); } },
  { key: 'batchContainerImage', type: 'string', defaultValue: '(unset)', description: 'Default image of Batch steps, written to the client config as METAFLOW_BATCH_CONTAINER_IMAGE', props: [':batchContainerImage'], apply: (d, v) => { d.client.batchContainerImage = v; } },
  { key: 'batchContainerRegistry', type: 'string', defaultValue: '(unset)', description: 'Default registry of Batch step images, written as METAFLOW_BATCH_CONTAINER_REGISTRY', props: [':batchContainerRegistry'], apply: (d, v) => { d.client.batchContainerRegistry = v; } },
  { key: 'permissionsBoundaryArn', type: 'string', pattern: /^arn:aws[a-z-]*:iam::\d{12}:policy\/.+$/, patternDescription: 'an IAM managed policy ARN (arn:aws:iam::<account>:policy/<name>)', defaultValue: '(none)', description: 'Managed policy ARN applied as permissions boundary to every role', apply: (d, v) => { d.permissionsBoundaryArn = v as string; } },
];

/** Every context key the CDK app reads, for documentation and validation. */
export const CONTEXT_KEYS: readonly ContextKeySpec[] = KEYS;

/** The UI's auth from its context keys; the construct validates each value. */
function uiProps(draft: PropsDraft['ui']): MetaflowStackUiProps {
  const { authMode = 'internal', certificateArn, domainName, allowedCidrs, ...rest } = draft;
  if (!rest.enabled) {
    const stray = Object.entries({ uiAuth: draft.authMode, uiCertificateArn: certificateArn, uiDomainName: domainName, uiAllowedCidrs: allowedCidrs })
      .filter(([, v]) => v !== undefined).map(([k]) => k);
    if (stray.length > 0) throw new MetaflowValidationError(`context key${stray.length > 1 ? 's' : ''} ${stray.join(', ')}: need -c ui=true, got ui=false`);
    return rest;
  }
  if (authMode === 'cognito') {
    const missing = Object.entries({ uiCertificateArn: certificateArn, uiDomainName: domainName }).filter(([, v]) => v === undefined).map(([k]) => k);
    if (missing.length > 0 || certificateArn === undefined || domainName === undefined) {
      throw new MetaflowValidationError(`context key${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}: required with -c uiAuth=cognito, got none`);
    }
    return { ...rest, auth: MetaflowUiAuth.cognito({ certificateArn, domainName, allowedCidrs }) };
  }
  if (certificateArn !== undefined || domainName !== undefined) {
    throw new MetaflowValidationError('context keys uiCertificateArn/uiDomainName: need -c uiAuth=cognito, got uiAuth=internal');
  }
  if (allowedCidrs === undefined) {
    throw new MetaflowValidationError('context key uiAllowedCidrs: required with -c ui=true and uiAuth=internal (who may reach the UI), got none');
  }
  return { ...rest, auth: MetaflowUiAuth.internal({ allowedCidrs }) };
}

/** `ml:3,research:1` → teams; a bad entry is one line naming it. */
function teamsOf(entries: string[]): MetaflowTeam[] {
  const parsed = parseTeamSpecs(entries);
  if ('bad' in parsed) {
    throw new MetaflowValidationError(`context key teams: expected name[:weight[:maxvCpus]] per team (name: lowercase letters and digits, starting with a letter, at most 32, unique; weight: 0.001–10000; maxvCpus: 1–100000), got ${describeValue(parsed.bad)} (set it with -c teams=ml:3,research:1)`);
  }
  return parsed.teams;
}

/** `t4g.small` (or `db.t4g.small`) → an instance type. */
function dbInstanceType(value: string): ec2.InstanceType {
  const bare = value.replace(/^db\./, '');
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(bare)) {
    throw new MetaflowValidationError(`context key dbInstanceType: expected an instance type like "t4g.small", got ${describeValue(value)}`);
  }
  return new ec2.InstanceType(bare);
}

/** `17` or `16.10` → the RDS engine version object (a full version must exist in RDS; cfn-lint checks). */
function postgresVersion(version: string): rds.PostgresEngineVersion {
  const match = /^(\d+)(\.\d+)?$/.exec(version);
  if (!match) {
    throw new MetaflowValidationError(`context key dbEngineVersion: expected a PostgreSQL major version like "17" or a full one like "17.9", got ${describeValue(version)}`);
  }
  return rds.PostgresEngineVersion.of(version, match[1]);
}

function contextError(spec: ContextKeySpec, raw: unknown, expected: string): never {
  throw new MetaflowValidationError(
    `context key ${spec.key}: expected ${expected}, got ${describeValue(raw)} (set it with -c ${spec.key}=<value>)`,
  );
}

/** Parse one raw context value (a string from `-c`, or a JSON value from cdk.json). */
export function parseContextValue(spec: ContextKeySpec, raw: unknown): ContextValue {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.type) {
    case 'integer': {
      const n = typeof text === 'number' ? text : typeof text === 'string' && /^-?\d+$/.test(text) ? Number(text) : NaN;
      if (!Number.isInteger(n) || n < (spec.min ?? -Infinity) || n > (spec.max ?? Infinity)) {
        contextError(spec, raw, `an integer from ${spec.min} to ${spec.max}`);
      }
      return n;
    }
    case 'boolean':
      if (text === true || text === 'true') return true;
      if (text === false || text === 'false') return false;
      return contextError(spec, raw, 'true or false');
    case 'enum':
      if (typeof text === 'string' && spec.values!.includes(text.toLowerCase())) return text.toLowerCase();
      if (typeof text === 'string' && spec.retired?.[text.toLowerCase()]) {
        return contextError(spec, raw, `one of ${spec.values!.join(', ')} (${spec.retired[text.toLowerCase()]})`);
      }
      return contextError(spec, raw, `one of ${spec.values!.join(', ')}`);
    case 'list': {
      const items = Array.isArray(text) ? text : typeof text === 'string' ? text.split(',') : undefined;
      const cleaned = items?.map((item) => (typeof item === 'string' ? item.trim() : item));
      if (!cleaned || cleaned.length === 0 || cleaned.some((item) => typeof item !== 'string' || item === '')) {
        return contextError(spec, raw, 'a comma-separated list of non-empty values');
      }
      return cleaned as string[];
    }
    case 'string':
      if (typeof text !== 'string' || text === '') return contextError(spec, raw, 'a non-empty string');
      if (spec.pattern && !spec.pattern.test(text)) return contextError(spec, raw, spec.patternDescription!);
      return text;
  }
}

/** The value a key has: its `-c` value parsed, else its documented default. */
function effectiveValue(scope: Construct, key: string): ContextValue | undefined {
  const spec = KEYS.find((k) => k.key === key)!;
  const raw = scope.node.tryGetContext(key) ?? spec.defaultValue;
  try {
    return parseContextValue(spec, raw);
  } catch {
    return raw as string;
  }
}

function checkRequirement(scope: Construct, spec: ContextKeySpec, requires: NonNullable<ContextKeySpec['requires']>): void {
  const actual = effectiveValue(scope, requires.key);
  if (actual !== requires.value) {
    throw new MetaflowValidationError(
      `context key ${spec.key}: ${describeValue(scope.node.tryGetContext(spec.key))} needs -c ${requires.key}=${requires.value}, got ${requires.key}=${describeValue(actual)}`,
    );
  }
}

/**
 * A construct rejected a prop that a `-c` key set: the same problem, told in terms of the key
 * and the value the user typed. Other errors come back unchanged.
 */
export function explainInContextTerms(error: unknown, scope: Construct, stackPath: string): unknown {
  if (!(error instanceof MetaflowValidationError) || !error.prop) return error;
  const path = error.prop.path === stackPath ? '' : error.prop.path.slice(stackPath.length + 1);
  const where = `${path}:${error.prop.name}`;
  const spec = KEYS.find((k) => k.props?.includes(where) && scope.node.tryGetContext(k.key) !== undefined);
  if (!spec) return error;
  return new MetaflowValidationError(
    `context key ${spec.key}: expected ${error.prop.expected}, got ${describeValue(scope.node.tryGetContext(spec.key))} (set it with -c ${spec.key}=<value>)`,
  );
}

/** Keys that look like ours (plain identifiers) but are not: most likely typos. */
function unknownKeys(node: Node): string[] {
  const all = node.getAllContext() as Record<string, unknown>;
  const known = new Set(KEYS.map((k) => k.key));
  return Object.keys(all).filter((key) => /^[a-z][A-Za-z0-9]*$/.test(key) && !known.has(key));
}

/**
 * The network keys that only make sense together: public compute is the no-NAT alternative, and
 * compute without NAT in private subnets reaches Docker Hub (the metadata service image) only
 * through the pull-through cache with Docker Hub credentials.
 */
function checkNetworkChoices(scope: Construct): void {
  const kmsKeyArn = scope.node.tryGetContext('kmsKeyArn');
  if (kmsKeyArn !== undefined && effectiveValue(scope, 'encryption') !== 'kms' && scope.node.tryGetContext('existingBucketName') === undefined) {
    throw new MetaflowValidationError(`context key kmsKeyArn: ${describeValue(kmsKeyArn)} needs -c encryption=kms (a new bucket) or -c existingBucketName (an existing SSE-KMS bucket), got encryption=${describeValue(effectiveValue(scope, 'encryption'))}`);
  }
  const natGateways = effectiveValue(scope, 'natGateways');
  const publicCompute = effectiveValue(scope, 'computeSubnets') === 'public';
  if (publicCompute && natGateways !== 0) {
    throw new MetaflowValidationError(`context key computeSubnets: "public" needs -c natGateways=0 (with NAT, private compute is the better choice), got natGateways=${describeValue(natGateways)}`);
  }
  if (natGateways !== 0 || publicCompute || effectiveValue(scope, 'metadataService') === false) return;
  const why = 'the metadata service image is on Docker Hub, which compute without NAT reaches only through the ECR pull-through cache; or use -c computeSubnets=public or -c natGateways=1';
  if (scope.node.tryGetContext('imageCache') !== undefined && effectiveValue(scope, 'imageCache') === false) {
    throw new MetaflowValidationError(`context key imageCache: false needs a route to Docker Hub (${why}), got false with natGateways=0`);
  }
  if (scope.node.tryGetContext('dockerHubCredentialArn') === undefined) {
    throw new MetaflowValidationError(`context key dockerHubCredentialArn: required with -c natGateways=0 and private compute (${why}), got none`);
  }
}

/** What the CDK app builds from its context. */
export interface MetaflowAppSettings {
  /** Name of the stack (`-c stackName`). */
  readonly stackName: string;
  /** Whether cdk-nag's AwsSolutions checks run during synth (`-c nag`). */
  readonly nag: boolean;
  /** The stack's props, built from every other context key. */
  readonly props: MetaflowStackProps;
}

/**
 * Read the app's `-c key=value` context into stack props. Every value is checked; a bad one
 * throws a {@link MetaflowValidationError} naming the key and the value.
 */
export function metaflowSettingsFromContext(scope: Construct): MetaflowAppSettings {
  const unknown = unknownKeys(scope.node);
  if (unknown.length > 0) {
    throw new MetaflowValidationError(
      `unknown context key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known keys: ${KEYS.map((k) => k.key).join(', ')})`,
    );
  }
  const draft: PropsDraft = {
    network: {}, imageCache: {}, datastore: {}, compute: { onDemand: {}, spot: {}, gpu: {}, fargate: {} },
    metadataService: { database: {}, api: {} }, stepFunctions: {}, ui: {}, client: {}, monitoring: {},
  };
  let stackName = 'Metaflow';
  let nag = true;
  for (const spec of KEYS) {
    const raw = scope.node.tryGetContext(spec.key);
    if (raw === undefined) continue;
    const value = parseContextValue(spec, raw);
    if (spec.key === 'stackName') stackName = value as string;
    else if (spec.key === 'nag') nag = value as boolean;
    else spec.apply!(draft, value);
  }
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    contextError(KEYS[0], stackName, 'a CloudFormation stack name (letters, digits, hyphens; starting with a letter)');
  }
  for (const spec of KEYS) {
    // A switch turned off (-c gpuSpot=false, -c ui=false) needs nothing else.
    const raw = scope.node.tryGetContext(spec.key);
    if (spec.requires && raw !== undefined && !(spec.type === 'boolean' && parseContextValue(spec, raw) === false)) {
      checkRequirement(scope, spec, spec.requires);
    }
  }
  checkNetworkChoices(scope);
  const minvCpus = draft.compute.onDemand.minvCpus as number | undefined;
  const onDemandMax = (draft.compute.onDemand.maxvCpus as number | undefined) ?? 256;
  if (minvCpus !== undefined && minvCpus > onDemandMax) {
    contextError(KEYS.find((k) => k.key === 'minvCpus')!, scope.node.tryGetContext('minvCpus'), `at most onDemandMaxvCpus (${onDemandMax})`);
  }

  const props: MetaflowStackProps = {
    stackName,
    network: draft.network,
    imageCache: draft.imageCache,
    datastore: {
      ...draft.datastore,
      encryptionKeyArn: draft.kmsKeyArn,
    },
    compute: {
      ...draft.compute,
      onDemand: draft.compute.onDemand as Ec2EnvironmentOptions,
      spot: draft.compute.spot as Ec2EnvironmentOptions,
      gpu: draft.compute.gpu as GpuEnvironmentOptions,
      fargate: draft.compute.fargate as FargateEnvironmentOptions,
    },
    metadataService: draft.metadataService,
    stepFunctions: draft.stepFunctions,
    ui: uiProps(draft.ui),
    monitoring: draft.monitoring,
    ...draft.client,
    permissionsBoundary: draft.permissionsBoundaryArn ? PermissionsBoundary.fromArn(draft.permissionsBoundaryArn) : undefined,
    removalPolicy: draft.removalPolicy,
  };
  return { stackName, nag, props };
}

import { Duration, PermissionsBoundary, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { Construct, Node } from 'constructs';
import { Ec2EnvironmentOptions, FargateEnvironmentOptions, GpuEnvironmentOptions, GpuImageType } from '../compute/environment-options';
import { DatastoreEncryption } from '../datastore/metaflow-datastore';
import { describeValue, MetaflowValidationError } from '../validation';
import { MetaflowUiAuth } from '../ui/metaflow-ui-auth';
import { MetaflowStackProps, MetaflowStackUiProps } from './metaflow-stack';

/** A context value after parsing. */
type ContextValue = string | number | boolean | string[];

/** Mutable stack props under construction. */
interface PropsDraft {
  network: Record<string, unknown>;
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
}

/** One `-c key=value` option of the CDK app. */
export interface ContextKeySpec {
  /** The context key. */
  readonly key: string;
  /** Its type, as shown in the README. */
  readonly type: 'integer' | 'boolean' | 'string' | 'list' | 'enum';
  /** For enums: the accepted values. @default - any value of the type */
  readonly values?: readonly string[];
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
}

const KEYS: ContextKeySpec[] = [
  { key: 'stackName', type: 'string', defaultValue: 'Metaflow', description: 'Name of the CloudFormation stack' },
  { key: 'nag', type: 'boolean', defaultValue: 'true', description: 'Run cdk-nag AwsSolutions checks during synth (unacknowledged findings fail the synth)' },
  { key: 'maxAzs', type: 'integer', min: 2, max: 6, defaultValue: '2', description: 'Availability Zones of the new VPC', apply: (d, v) => { d.network.maxAzs = v; } },
  { key: 'availabilityZones', type: 'list', defaultValue: '(first maxAzs zones)', description: 'Comma-separated AZ names of the new VPC instead of maxAzs (cfn-lint then warns W3010: hard-coded AZs)', apply: (d, v) => { d.network.availabilityZones = v; } },
  { key: 'natGateways', type: 'integer', min: 0, max: 16, defaultValue: '1', description: 'NAT gateways; 0 runs compute in public subnets with public IPs (no NAT cost)', apply: (d, v) => { d.network.natGateways = v; } },
  { key: 'vpcCidr', type: 'string', defaultValue: '10.0.0.0/16', description: 'CIDR of the new VPC', apply: (d, v) => { d.network.cidr = v; } },
  { key: 'flowLogs', type: 'boolean', defaultValue: 'true', description: 'VPC flow logs to CloudWatch Logs', apply: (d, v) => { d.network.flowLogs = v; } },
  { key: 'bucketName', type: 'string', defaultValue: '(generated)', description: 'Physical name of the new datastore bucket', apply: (d, v) => { d.datastore.bucketName = v; } },
  { key: 'existingBucketName', type: 'string', defaultValue: '(none)', description: 'Use this existing bucket as the datastore instead of creating one', apply: (d, v) => { d.datastore.existingBucketName = v; } },
  { key: 'encryption', type: 'enum', values: ['s3', 'kms'], defaultValue: 's3', description: 'Datastore encryption: SSE-S3 or SSE-KMS', apply: (d, v) => { d.datastore.encryption = v === 'kms' ? DatastoreEncryption.KMS : DatastoreEncryption.S3_MANAGED; } },
  { key: 'kmsKeyArn', type: 'string', pattern: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/.+$/, patternDescription: 'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)', defaultValue: '(created when encryption=kms)', description: 'Existing KMS key for SSE-KMS (needs encryption=kms)', apply: (d, v) => { d.kmsKeyArn = v as string; } },
  { key: 'versioned', type: 'boolean', defaultValue: 'false', description: 'Bucket versioning', apply: (d, v) => { d.datastore.versioned = v; } },
  { key: 'noncurrentVersionExpirationDays', type: 'integer', min: 1, max: 36500, defaultValue: '(keep)', description: 'Delete non-current versions after this many days (needs versioned=true)', apply: (d, v) => { d.datastore.noncurrentVersionExpiration = Duration.days(v as number); } },
  { key: 'accessLogs', type: 'boolean', defaultValue: 'true', description: 'S3 server access logs for the datastore', apply: (d, v) => { d.datastore.serverAccessLogs = v; } },
  { key: 'removalPolicy', type: 'enum', values: ['retain', 'destroy'], defaultValue: 'retain', description: 'What stack deletion does to the buckets (destroy also empties them)', apply: (d, v) => { d.datastore.removalPolicy = v === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN; } },
  { key: 'spot', type: 'boolean', defaultValue: 'true', description: 'Spot CPU environment, first in the default queue', apply: (d, v) => { d.compute.spot.enabled = v; } },
  { key: 'spotMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of the Spot environment', apply: (d, v) => { d.compute.spot.maxvCpus = v; } },
  { key: 'onDemand', type: 'boolean', defaultValue: 'true', description: 'On-demand CPU environment, fallback of the default queue', apply: (d, v) => { d.compute.onDemand.enabled = v; } },
  { key: 'onDemandMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of the on-demand environment', apply: (d, v) => { d.compute.onDemand.maxvCpus = v; } },
  { key: 'minvCpus', type: 'integer', min: 0, max: 100000, defaultValue: '0', description: 'vCPUs the on-demand environment keeps warm (0 scales to zero)', apply: (d, v) => { d.compute.onDemand.minvCpus = v; } },
  { key: 'instanceTypes', type: 'list', defaultValue: 'default_x86_64', description: 'Comma-separated CPU instance types/families for Spot and on-demand', apply: (d, v) => { d.compute.onDemand.instanceTypes = v; d.compute.spot.instanceTypes = v; } },
  { key: 'gpu', type: 'boolean', defaultValue: 'true', description: 'GPU environment and the gpu queue', apply: (d, v) => { d.compute.gpu.enabled = v; } },
  { key: 'gpuMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '64', description: 'Most vCPUs of the GPU environment', apply: (d, v) => { d.compute.gpu.maxvCpus = v; } },
  { key: 'gpuInstanceTypes', type: 'list', defaultValue: 'g4dn,g5,g6', description: 'Comma-separated NVIDIA GPU instance types/families', apply: (d, v) => { d.compute.gpu.instanceTypes = v; } },
  { key: 'gpuImageType', type: 'enum', values: ['al2023', 'al2'], defaultValue: 'al2023', description: 'NVIDIA ECS AMI of GPU hosts', apply: (d, v) => { d.compute.gpu.imageType = v === 'al2' ? GpuImageType.AL2_NVIDIA : GpuImageType.AL2023_NVIDIA; } },
  { key: 'gpuSpot', type: 'boolean', defaultValue: 'false', description: 'Spot GPU environment in front of the on-demand one', apply: (d, v) => { d.compute.gpu.spot = v; } },
  { key: 'fargate', type: 'boolean', defaultValue: 'false', description: 'Fargate environments and the fargate queue', apply: (d, v) => { d.compute.fargate.enabled = v; } },
  { key: 'fargateSpot', type: 'boolean', defaultValue: 'true', description: 'Fargate Spot in front of Fargate in the fargate queue', apply: (d, v) => { d.compute.fargate.spot = v; } },
  { key: 'fargateMaxvCpus', type: 'integer', min: 1, max: 100000, defaultValue: '256', description: 'Most vCPUs of each Fargate environment', apply: (d, v) => { d.compute.fargate.maxvCpus = v; } },
  { key: 'rootVolumeGiB', type: 'integer', min: 30, max: 16384, defaultValue: '100', description: 'Encrypted gp3 root volume of EC2 hosts, GiB', apply: (d, v) => { d.compute.rootVolumeSizeGiB = v; } },
  { key: 'runnableTimeoutMinutes', type: 'integer', min: 10, max: 1440, defaultValue: '30', description: 'Cancel jobs no environment can ever run after this long RUNNABLE', apply: (d, v) => { d.compute.runnableTimeout = Duration.minutes(v as number); } },
  { key: 'metadataService', type: 'boolean', defaultValue: 'true', description: 'Deploy the metadata service (ECS Fargate + RDS PostgreSQL + NLB + API Gateway)', apply: (d, v) => { d.metadataService.enabled = v; } },
  { key: 'metadataServiceVersion', type: 'string', defaultValue: 'v2.4.12', description: 'Tag of netflixoss/metaflow_metadata_service', apply: (d, v) => { d.metadataService.imageVersion = v; } },
  { key: 'metadataServiceDesiredCount', type: 'integer', min: 0, max: 100, defaultValue: '1', description: 'Metadata service tasks', apply: (d, v) => { d.metadataService.desiredCount = v; } },
  { key: 'dbInstanceType', type: 'string', defaultValue: 't4g.small', description: 'RDS instance type (without "db.")', apply: (d, v) => { d.metadataService.database.instanceType = dbInstanceType(v as string); } },
  { key: 'dbEngineVersion', type: 'string', defaultValue: '17.9', description: 'PostgreSQL version (full, e.g. 16.10); use one AWS still supports', apply: (d, v) => { d.metadataService.database.engineVersion = postgresVersion(v as string); } },
  { key: 'dbMultiAz', type: 'boolean', defaultValue: 'false', description: 'RDS standby in a second AZ', apply: (d, v) => { d.metadataService.database.multiAz = v; } },
  { key: 'dbDeletionProtection', type: 'boolean', defaultValue: 'true', description: 'RDS deletion protection', apply: (d, v) => { d.metadataService.database.deletionProtection = v; } },
  { key: 'dbRemovalPolicy', type: 'enum', values: ['snapshot', 'retain', 'destroy'], defaultValue: 'snapshot', description: 'What stack deletion does to the database', apply: (d, v) => { d.metadataService.database.removalPolicy = { snapshot: RemovalPolicy.SNAPSHOT, retain: RemovalPolicy.RETAIN, destroy: RemovalPolicy.DESTROY }[v as string]; } },
  { key: 'apiRateLimit', type: 'integer', min: 1, max: 10000, defaultValue: '100', description: 'Metadata API steady requests per second (usage plan)', apply: (d, v) => { d.metadataService.api.rateLimit = v; } },
  { key: 'apiBurstLimit', type: 'integer', min: 1, max: 5000, defaultValue: '200', description: 'Metadata API burst (usage plan)', apply: (d, v) => { d.metadataService.api.burstLimit = v; } },
  { key: 'webAclArn', type: 'string', pattern: /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/, patternDescription: 'a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)', defaultValue: '(none)', description: 'Regional WAF web ACL to attach to the metadata API', apply: (d, v) => { d.metadataService.api.webAclArn = v; } },
  { key: 'stepFunctions', type: 'boolean', defaultValue: 'true', description: 'Step Functions support (DynamoDB table, roles, log group)', apply: (d, v) => { d.stepFunctions.enabled = v; } },
  { key: 'stateMachinePrefix', type: 'string', defaultValue: '(stack name)', description: 'Prefix of state machine names the EventBridge role may start', apply: (d, v) => { d.stepFunctions.stateMachinePrefix = v; } },
  { key: 'ui', type: 'boolean', defaultValue: 'false', description: 'Deploy the Metaflow UI (needs the metadata service)', apply: (d, v) => { d.ui.enabled = v; } },
  { key: 'uiAuth', type: 'enum', values: ['internal', 'cognito'], defaultValue: 'internal', description: 'internal: internal ALB open to uiAllowedCidrs only; cognito: public HTTPS ALB with Cognito login', apply: (d, v) => { d.ui.authMode = v as string; } },
  { key: 'uiAllowedCidrs', type: 'list', defaultValue: '(required for internal)', description: 'Comma-separated CIDRs allowed to reach the UI load balancer', apply: (d, v) => { d.ui.allowedCidrs = v as string[]; } },
  { key: 'uiCertificateArn', type: 'string', defaultValue: '(required for cognito)', description: 'ACM certificate ARN for the UI HTTPS listener', apply: (d, v) => { d.ui.certificateArn = v as string; } },
  { key: 'uiDomainName', type: 'string', defaultValue: '(required for cognito)', description: 'Domain name users open the UI at (Cognito callback)', apply: (d, v) => { d.ui.domainName = v as string; } },
  { key: 'uiVersion', type: 'string', defaultValue: 'v1.2.4', description: 'Tag of public.ecr.aws/outerbounds/metaflow_ui', apply: (d, v) => { d.ui.staticImageVersion = v; } },
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

/** `t4g.small` (or `db.t4g.small`) → an instance type. */
function dbInstanceType(value: string): ec2.InstanceType {
  const bare = value.replace(/^db\./, '');
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(bare)) {
    throw new MetaflowValidationError(`context key dbInstanceType: expected an instance type like "t4g.small", got ${describeValue(value)}`);
  }
  return new ec2.InstanceType(bare);
}

/** `16.10` → the RDS engine version object (the version must exist in RDS; cfn-lint checks). */
function postgresVersion(full: string): rds.PostgresEngineVersion {
  const match = /^(\d+)\.(\d+)$/.exec(full);
  if (!match) {
    throw new MetaflowValidationError(`context key dbEngineVersion: expected a PostgreSQL version like "17.9", got ${describeValue(full)}`);
  }
  return rds.PostgresEngineVersion.of(full, match[1]);
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

/** Keys that look like ours (plain identifiers) but are not: most likely typos. */
function unknownKeys(node: Node): string[] {
  const all = node.getAllContext() as Record<string, unknown>;
  const known = new Set(KEYS.map((k) => k.key));
  return Object.keys(all).filter((key) => /^[a-z][A-Za-z0-9]*$/.test(key) && !known.has(key));
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
    network: {}, datastore: {}, compute: { onDemand: {}, spot: {}, gpu: {}, fargate: {} },
    metadataService: { database: {}, api: {} }, stepFunctions: {}, ui: {},
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
  if (draft.kmsKeyArn !== undefined && draft.datastore.encryption !== DatastoreEncryption.KMS) {
    throw new MetaflowValidationError(
      `context key kmsKeyArn: needs -c encryption=kms, got encryption=${describeValue(scope.node.tryGetContext('encryption') ?? 's3')}`,
    );
  }

  const props: MetaflowStackProps = {
    stackName,
    network: draft.network,
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
    permissionsBoundary: draft.permissionsBoundaryArn ? PermissionsBoundary.fromArn(draft.permissionsBoundaryArn) : undefined,
  };
  return { stackName, nag, props };
}

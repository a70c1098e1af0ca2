import { Aws, CfnCondition, CfnMapping, Duration, Fn, ICfnConditionExpression, RemovalPolicy } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { acknowledge } from '../nag/acknowledgements';

/** Properties of {@link AlbAccessLogs}. */
export interface AlbAccessLogsProps {
  /** The bucket to log to (SSE-S3; its policy must already let ELB deliver logs). @default - created */
  readonly bucket?: s3.IBucket;
  /** Key prefix of the logs, without slashes at either end. */
  readonly prefix: string;
  /** What happens to a created bucket when the stack is deleted. */
  readonly removalPolicy: RemovalPolicy;
  /** Expire log objects after this long (created bucket only). */
  readonly expiration: Duration;
}

/**
 * ALB access logs for an environment-agnostic stack. CDK's `logAccessLogs` needs a concrete
 * region to pick the log-delivery principal; here it is picked at deploy time: Regions opened
 * before August 2022 deliver as their regional ELB account (from CDK's region facts), later ones
 * as the `logdelivery.elasticloadbalancing.amazonaws.com` service principal.
 */
export class AlbAccessLogs extends Construct {
  /** The bucket logs go to. */
  public readonly bucket: s3.IBucket;
  /** The bucket, when this construct created it. */
  public readonly createdBucket?: s3.Bucket;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: AlbAccessLogsProps) {
    super(scope, id);
    this.prefix = props.prefix;
    if (props.bucket) {
      this.bucket = props.bucket;
      return;
    }
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    this.createdBucket = new s3.Bucket(this, 'Bucket', {
      // ELB delivers access logs to SSE-S3 buckets only (not SSE-KMS).
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: props.expiration }],
      removalPolicy: props.removalPolicy,
      autoDeleteObjects: destroy,
    });
    acknowledge(this.createdBucket, ['AwsSolutions-S1'],
      'This bucket only receives the UI load balancer access logs; logging access to the log bucket itself would need yet another bucket and adds no audit value.');
    this.bucket = this.createdBucket;
    this.allowDelivery(this.createdBucket);
  }

  /** Turn access logging on for `loadBalancer`. */
  public attach(loadBalancer: elbv2.ApplicationLoadBalancer): void {
    loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
    loadBalancer.setAttribute('access_logs.s3.bucket', this.bucket.bucketName);
    loadBalancer.setAttribute('access_logs.s3.prefix', this.prefix);
    if (this.createdBucket?.policy) loadBalancer.node.addDependency(this.createdBucket.policy);
  }

  private allowDelivery(bucket: s3.Bucket): void {
    const logObjects = bucket.arnForObjects(`${this.prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`);
    const legacy = RegionInfo.regions.filter((region) => region.elbv2Account !== undefined);
    const accounts = new CfnMapping(this, 'ElbAccounts', {
      mapping: Object.fromEntries(legacy.map((region) => [region.name, { account: region.elbv2Account! }])),
    });
    const inLegacyRegion = new CfnCondition(this, 'LegacyRegion', {
      expression: anyOf(legacy.map((region) => Fn.conditionEquals(Aws.REGION, region.name))),
    });
    // In newer Regions the mapping has no entry: grant the stack's own account instead (a no-op).
    const elbAccountRoot = Fn.conditionIf(
      inLegacyRegion.logicalId,
      `arn:${Aws.PARTITION}:iam::${accounts.findInMap(Aws.REGION, 'account')}:root`,
      `arn:${Aws.PARTITION}:iam::${Aws.ACCOUNT_ID}:root`,
    ).toString();
    bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'ElbAccountDelivery',
      actions: ['s3:PutObject'],
      principals: [new iam.ArnPrincipal(elbAccountRoot)],
      resources: [logObjects],
    }));
    bucket.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'ElbServiceDelivery',
      actions: ['s3:PutObject'],
      principals: [new iam.ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com')],
      resources: [logObjects],
    }));
  }
}

/** `Fn::Or` of any number of conditions (CloudFormation allows 2–10 per `Fn::Or`). */
function anyOf(conditions: ICfnConditionExpression[]): ICfnConditionExpression {
  if (conditions.length === 1) return conditions[0];
  if (conditions.length <= 10) return Fn.conditionOr(...conditions);
  const groups: ICfnConditionExpression[] = [];
  for (let i = 0; i < conditions.length; i += 10) groups.push(anyOf(conditions.slice(i, i + 10)));
  return anyOf(groups);
}

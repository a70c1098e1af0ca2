import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { MetaflowBatchCompute, MetaflowBatchComputeProps } from '../compute/metaflow-batch-compute';
import { METAFLOW_STACK_OUTPUTS, MetaflowProfile } from '../config/metaflow-config-keys';
import { MetaflowConfigOutputs } from '../config/metaflow-config-outputs';
import { IMetaflowDatastore, MetaflowDatastore, MetaflowDatastoreProps } from '../datastore/metaflow-datastore';
import { MetaflowNetwork, MetaflowNetworkProps } from '../network/metaflow-network';
import { invalidProp } from '../validation';

/** Compute options of the stack: everything of {@link MetaflowBatchComputeProps} the stack does not wire itself. */
export type MetaflowStackComputeProps = Omit<MetaflowBatchComputeProps, 'vpc' | 'vpcSubnets' | 'datastore' | 'permissionsBoundary'>;

/** Datastore options of the stack. */
export interface MetaflowStackDatastoreProps extends MetaflowDatastoreProps {
  /**
   * Use this existing bucket (by name) instead of creating one; the other datastore options
   * that shape a new bucket must then be left unset.
   *
   * @default - a bucket is created
   */
  readonly existingBucketName?: string;

  /**
   * ARN of an existing KMS key for SSE-KMS (instead of `encryptionKey`), with `encryption: KMS`.
   *
   * @default - see `encryptionKey`
   */
  readonly encryptionKeyArn?: string;
}

/**
 * Properties of a {@link MetaflowStack}. A permissions boundary for every role in the stack is
 * set with the standard `permissionsBoundary` stack prop (`PermissionsBoundary.fromArn(...)`).
 */
export interface MetaflowStackProps extends StackProps {
  /** @default - a new VPC with the {@link MetaflowNetwork} defaults */
  readonly network?: MetaflowNetworkProps;
  /** @default - a new bucket with the {@link MetaflowDatastore} defaults */
  readonly datastore?: MetaflowStackDatastoreProps;
  /** @default - the {@link MetaflowBatchCompute} defaults */
  readonly compute?: MetaflowStackComputeProps;
}

/**
 * The whole Metaflow compute layer in one stack: network, S3 datastore, AWS Batch environments
 * and queues, IAM roles, and outputs that form a Metaflow client configuration.
 */
export class MetaflowStack extends Stack {
  public readonly network: MetaflowNetwork;
  public readonly datastore: IMetaflowDatastore;
  public readonly compute: MetaflowBatchCompute;
  public readonly configOutputs: MetaflowConfigOutputs;

  constructor(scope: Construct, id: string, props: MetaflowStackProps = {}) {
    super(scope, id, {
      description: 'Metaflow compute layer: VPC, S3 datastore, AWS Batch (Spot, on-demand, GPU, Fargate), IAM (metaflow-cdk)',
      ...props,
    });
    this.network = new MetaflowNetwork(this, 'Network', props.network);

    const { existingBucketName, encryptionKeyArn, ...rest } = props.datastore ?? {};
    if (encryptionKeyArn && rest.encryptionKey) {
      invalidProp(this, 'datastore.encryptionKeyArn', encryptionKeyArn, 'left unset when datastore.encryptionKey is given');
    }
    const datastoreProps: MetaflowDatastoreProps = {
      ...rest,
      encryptionKey: rest.encryptionKey ?? (encryptionKeyArn ? kms.Key.fromKeyArn(this, 'DatastoreKey', encryptionKeyArn) : undefined),
    };
    if (existingBucketName !== undefined) {
      const shaping = (['bucketName', 'encryption', 'versioned', 'noncurrentVersionExpiration', 'lifecycleRules', 'serverAccessLogs', 'serverAccessLogsBucket', 'removalPolicy', 'abortIncompleteMultipartUploadAfter'] as const)
        .filter((key) => rest[key] !== undefined);
      if (shaping.length > 0) {
        invalidProp(this, `datastore.${shaping.join('/')}`, shaping.map((key) => rest[key]), `left unset with existingBucketName ${JSON.stringify(existingBucketName)} (they shape a new bucket)`);
      }
      this.datastore = MetaflowDatastore.fromBucketName(this, 'Datastore', existingBucketName, {
        encryptionKey: datastoreProps.encryptionKey,
        sysrootPrefix: datastoreProps.sysrootPrefix,
        datatoolsPrefix: datastoreProps.datatoolsPrefix,
      });
    } else {
      this.datastore = new MetaflowDatastore(this, 'Datastore', datastoreProps);
    }

    this.compute = new MetaflowBatchCompute(this, 'Compute', {
      ...props.compute,
      vpc: this.network.vpc,
      vpcSubnets: this.network.computeSubnets,
      datastore: this.datastore,
    });

    this.configOutputs = new MetaflowConfigOutputs(this, 'MetaflowConfig', { profile: this.metaflowProfile() });
    if (this.compute.gpuQueue) {
      new CfnOutput(this, METAFLOW_STACK_OUTPUTS.GPU_JOB_QUEUE_ARN, {
        value: this.compute.gpuQueue.jobQueueArn,
        description: 'AWS Batch job queue for GPU steps (use with @batch(queue=...) or --queue)',
      });
    }
    if (this.compute.fargateQueue && this.compute.fargateQueue !== this.compute.defaultQueue) {
      new CfnOutput(this, METAFLOW_STACK_OUTPUTS.FARGATE_JOB_QUEUE_ARN, {
        value: this.compute.fargateQueue.jobQueueArn,
        description: 'AWS Batch job queue for Fargate steps',
      });
    }
  }

  /** The Metaflow configuration this stack determines. */
  public metaflowProfile(): MetaflowProfile {
    return {
      DEFAULT_DATASTORE: 's3',
      DATASTORE_SYSROOT_S3: this.datastore.datastoreSysrootS3,
      DATATOOLS_S3ROOT: this.datastore.datatoolsS3Root,
      BATCH_JOB_QUEUE: this.compute.defaultQueue.jobQueueArn,
      ECS_S3_ACCESS_IAM_ROLE: this.compute.jobRole.roleArn,
      ECS_FARGATE_EXECUTION_ROLE: this.compute.fargateExecutionRole?.roleArn,
    };
  }
}

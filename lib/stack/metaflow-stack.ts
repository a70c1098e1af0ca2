import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { MetaflowBatchCompute, MetaflowBatchComputeProps } from '../compute/metaflow-batch-compute';
import { METAFLOW_STACK_OUTPUTS, MetaflowProfile } from '../config/metaflow-config-keys';
import { MetaflowConfigOutputs } from '../config/metaflow-config-outputs';
import { IMetaflowDatastore, MetaflowDatastore, MetaflowDatastoreProps } from '../datastore/metaflow-datastore';
import { MetaflowMetadataService, MetaflowMetadataServiceProps } from '../metadata/metaflow-metadata-service';
import { MetaflowNetwork, MetaflowNetworkProps } from '../network/metaflow-network';
import { MetaflowStepFunctionsSupport, MetaflowStepFunctionsSupportProps } from '../step-functions/metaflow-step-functions-support';
import { MetaflowUi, MetaflowUiProps } from '../ui/metaflow-ui';
import { MetaflowUiAuth } from '../ui/metaflow-ui-auth';
import { invalidProp } from '../validation';
import { withoutRedundantDependsOn } from './redundant-dependencies';

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

/** Metadata service options of the stack. */
export interface MetaflowStackMetadataServiceProps extends Omit<MetaflowMetadataServiceProps, 'vpc' | 'vpcSubnets' | 'assignPublicIp'> {
  /**
   * Deploy the metadata service (without it Metaflow records metadata locally).
   *
   * @default true
   */
  readonly enabled?: boolean;
}

/** Step Functions support options of the stack. */
export interface MetaflowStackStepFunctionsProps extends Omit<MetaflowStepFunctionsSupportProps, 'compute' | 'datastore'> {
  /**
   * Deploy Step Functions support.
   *
   * @default true
   */
  readonly enabled?: boolean;
}

/** UI options of the stack (the UI needs the metadata service: it shares its cluster and database). */
export interface MetaflowStackUiProps extends Omit<MetaflowUiProps, 'vpc' | 'vpcSubnets' | 'assignPublicIp' | 'cluster' | 'database' | 'datastore' | 'auth'> {
  /**
   * Deploy the Metaflow UI.
   *
   * @default false
   */
  readonly enabled?: boolean;

  /** How the UI is protected; required when enabled. @default - none */
  readonly auth?: MetaflowUiAuth;
}

/**
 * Properties of a {@link MetaflowStack}. A permissions boundary for every role in the stack is
 * set with the standard `permissionsBoundary` stack prop (`PermissionsBoundary.fromArn(...)`).
 */
export interface MetaflowStackProps extends StackProps {
  /** The network: a new VPC, or an existing one. @default - a new VPC with the {@link MetaflowNetwork} defaults */
  readonly network?: MetaflowNetworkProps;
  /** The datastore: a new bucket, or an existing one. @default - a new bucket with the {@link MetaflowDatastore} defaults */
  readonly datastore?: MetaflowStackDatastoreProps;
  /** Batch compute environments and queues. @default - the {@link MetaflowBatchCompute} defaults */
  readonly compute?: MetaflowStackComputeProps;
  /** The metadata service. @default - deployed with the {@link MetaflowMetadataService} defaults */
  readonly metadataService?: MetaflowStackMetadataServiceProps;
  /** Step Functions support. @default - deployed with the {@link MetaflowStepFunctionsSupport} defaults */
  readonly stepFunctions?: MetaflowStackStepFunctionsProps;
  /** The Metaflow UI. @default - no UI */
  readonly ui?: MetaflowStackUiProps;
}

/**
 * The whole Metaflow compute layer in one stack: network, S3 datastore, AWS Batch environments
 * and queues, IAM roles, and outputs that form a Metaflow client configuration.
 */
export class MetaflowStack extends Stack {
  /** The VPC and its subnets. */
  public readonly network: MetaflowNetwork;
  /** The S3 datastore. */
  public readonly datastore: IMetaflowDatastore;
  /** The Batch compute environments, queues and roles. */
  public readonly compute: MetaflowBatchCompute;
  /** The metadata service, unless turned off. */
  public readonly metadataService?: MetaflowMetadataService;
  /** Step Functions support, unless turned off. */
  public readonly stepFunctions?: MetaflowStepFunctionsSupport;
  /** The UI, when turned on. */
  public readonly ui?: MetaflowUi;
  /** The stack outputs that form a Metaflow client configuration (read by `metaflow-cdk configure`). */
  public readonly configOutputs: MetaflowConfigOutputs;

  constructor(scope: Construct, id: string, props: MetaflowStackProps = {}) {
    super(scope, id, {
      description: 'Metaflow compute layer: VPC, S3 datastore, AWS Batch (Spot, on-demand, GPU, Fargate), metadata service, Step Functions support, IAM (metaflow-cdk)',
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

    const { enabled: metadataOn = true, ...metadataProps } = props.metadataService ?? {};
    if (metadataOn) {
      this.metadataService = new MetaflowMetadataService(this, 'MetadataService', {
        ...metadataProps,
        vpc: this.network.vpc,
        vpcSubnets: this.network.computeSubnets,
        assignPublicIp: this.network.computeNeedsPublicIp,
      });
      this.output(METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN, this.metadataService.api.apiKeySecret.secretArn,
        'Secrets Manager secret holding the metadata service API key (METAFLOW_SERVICE_AUTH_KEY)');
      if (this.metadataService.migrations) {
        this.output(METAFLOW_STACK_OUTPUTS.MIGRATION_FUNCTION_NAME, this.metadataService.migrations.function.functionName,
          'Lambda function that runs metadata database migrations (invoke by hand to re-run them)');
      }
    }

    const { enabled: uiOn = false, auth: uiAuth, ...uiProps } = props.ui ?? {};
    if (uiOn) {
      if (!this.metadataService) {
        invalidProp(this, 'ui.enabled', true, 'false when the metadata service is turned off (the UI reads its database)');
      }
      if (!uiAuth) {
        invalidProp(this, 'ui.auth', uiAuth, 'MetaflowUiAuth.cognito(...) or MetaflowUiAuth.internal(...) when the UI is enabled');
      }
      const database = this.metadataService.database;
      this.ui = new MetaflowUi(this, 'Ui', {
        ...uiProps,
        auth: uiAuth,
        vpc: this.network.vpc,
        vpcSubnets: this.network.computeSubnets,
        assignPublicIp: this.network.computeNeedsPublicIp,
        cluster: this.metadataService.cluster,
        database: { host: database.host, port: database.portNumber, name: database.databaseName, credentials: database.credentials, connections: database.connections },
        datastore: this.datastore,
        backendImageVersion: uiProps.backendImageVersion ?? props.metadataService?.imageVersion,
      });
      this.output(METAFLOW_STACK_OUTPUTS.UI_URL, this.ui.url, 'Metaflow UI');
    } else if (uiAuth) {
      invalidProp(this, 'ui.auth', uiAuth.mode, 'left unset unless ui.enabled is true');
    }

    const { enabled: stepFunctionsOn = true, ...stepFunctionsProps } = props.stepFunctions ?? {};
    if (stepFunctionsOn) {
      this.stepFunctions = new MetaflowStepFunctionsSupport(this, 'StepFunctions', {
        ...stepFunctionsProps,
        compute: this.compute,
        datastore: this.datastore,
      });
    }

    this.configOutputs = new MetaflowConfigOutputs(this, 'MetaflowConfig', { profile: this.metaflowProfile() });
    if (this.compute.gpuQueue) {
      this.output(METAFLOW_STACK_OUTPUTS.GPU_JOB_QUEUE_ARN, this.compute.gpuQueue.jobQueueArn,
        'AWS Batch job queue for GPU steps (use with @batch(queue=...) or --queue)');
    }
    if (this.compute.fargateQueue && this.compute.fargateQueue !== this.compute.defaultQueue) {
      this.output(METAFLOW_STACK_OUTPUTS.FARGATE_JOB_QUEUE_ARN, this.compute.fargateQueue.jobQueueArn, 'AWS Batch job queue for Fargate steps');
    }
  }

  /** The template, without the DependsOn entries its own references already imply (cfn-lint W3005). */
  protected _toCloudFormation(): any {
    return withoutRedundantDependsOn(super._toCloudFormation());
  }

  private output(id: string, value: string, description: string): CfnOutput {
    return new CfnOutput(this, id, { value, description });
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
      DEFAULT_METADATA: this.metadataService ? 'service' : undefined,
      SERVICE_URL: this.metadataService?.url,
      SERVICE_INTERNAL_URL: this.metadataService?.internalUrl,
      SFN_IAM_ROLE: this.stepFunctions?.stateMachineRole.roleArn,
      EVENTS_SFN_ACCESS_IAM_ROLE: this.stepFunctions?.eventsRole.roleArn,
      SFN_DYNAMO_DB_TABLE: this.stepFunctions?.table.tableName,
      SFN_STATE_MACHINE_PREFIX: this.stepFunctions?.stateMachinePrefix,
      SFN_EXECUTION_LOG_GROUP_ARN: this.stepFunctions?.logGroupArn,
    };
  }
}

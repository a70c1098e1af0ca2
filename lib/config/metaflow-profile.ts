import { IMetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { IMetaflowMetadataService } from '../metadata/metaflow-metadata-service';
import { IMetaflowStepFunctionsSupport } from '../step-functions/metaflow-step-functions-support';
import { MetaflowProfile } from '../../core/metaflow-config-keys';

/** The pieces of a deployment a Metaflow client configuration is read from (created or imported). */
export interface MetaflowProfileSources {
  /** The datastore. */
  readonly datastore: IMetaflowDatastore;
  /** The Batch compute layer (its default queue is BATCH_JOB_QUEUE). */
  readonly compute: IMetaflowBatchCompute;
  /** The metadata service. @default - none: Metaflow records metadata locally */
  readonly metadataService?: IMetaflowMetadataService;
  /** Step Functions support. @default - none */
  readonly stepFunctions?: IMetaflowStepFunctionsSupport;
  /** URL of the Metaflow UI. @default - none */
  readonly uiUrl?: string;
  /** Metaflow's BATCH_CONTAINER_IMAGE. @default - none */
  readonly batchContainerImage?: string;
  /** Metaflow's BATCH_CONTAINER_REGISTRY. @default - none */
  readonly batchContainerRegistry?: string;
  /** Compute runs in public subnets: Fargate job definitions must ask for a public IP (BATCH_ASSIGN_PUBLIC_IP). @default false */
  readonly batchAssignPublicIp?: boolean;
}

/**
 * The Metaflow client configuration these pieces determine (secrets excluded); give it to
 * {@link MetaflowConfigOutputs} to publish it. Keys whose piece is absent are left out.
 */
export function metaflowProfileOf(sources: MetaflowProfileSources): MetaflowProfile {
  const { datastore, compute, metadataService, stepFunctions } = sources;
  return {
    DEFAULT_DATASTORE: 's3',
    DATASTORE_SYSROOT_S3: datastore.datastoreSysrootS3,
    DATATOOLS_S3ROOT: datastore.datatoolsS3Root,
    BATCH_JOB_QUEUE: compute.defaultQueue.jobQueueArn,
    BATCH_JOB_QUEUE_GPU: compute.gpuQueue?.jobQueueArn,
    ECS_S3_ACCESS_IAM_ROLE: compute.jobRole.roleArn,
    ECS_FARGATE_EXECUTION_ROLE: compute.fargateExecutionRole?.roleArn,
    DEFAULT_METADATA: metadataService ? 'service' : undefined,
    SERVICE_URL: metadataService?.url,
    SERVICE_INTERNAL_URL: metadataService?.internalUrl,
    SFN_IAM_ROLE: stepFunctions?.stateMachineRole.roleArn,
    EVENTS_SFN_ACCESS_IAM_ROLE: stepFunctions?.eventsRole.roleArn,
    SFN_DYNAMO_DB_TABLE: stepFunctions?.table.tableName,
    SFN_STATE_MACHINE_PREFIX: stepFunctions?.stateMachinePrefix,
    SFN_EXECUTION_LOG_GROUP_ARN: stepFunctions?.logGroupArn,
    UI_URL: sources.uiUrl,
    BATCH_CONTAINER_IMAGE: sources.batchContainerImage,
    BATCH_CONTAINER_REGISTRY: sources.batchContainerRegistry,
    BATCH_ASSIGN_PUBLIC_IP: sources.batchAssignPublicIp ? 'true' : undefined,
  };
}

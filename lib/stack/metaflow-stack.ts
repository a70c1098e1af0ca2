import { CfnOutput, CfnResource, Fn, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { grantRunFlows, MetaflowUserAccess, MetaflowUserAccessProps } from '../access/metaflow-user-access';
import { MetaflowBatchCompute, MetaflowBatchComputeProps } from '../compute/metaflow-batch-compute';
import { METAFLOW_STACK_OUTPUTS, MetaflowProfile } from '../../core/metaflow-config-keys';
import { MetaflowConfigOutputs } from '../config/metaflow-config-outputs';
import { metaflowProfileOf } from '../config/metaflow-profile';
import { IMetaflowDatastore, MetaflowDatastore, MetaflowDatastoreProps } from '../datastore/metaflow-datastore';
import { MetaflowMetadataService, MetaflowMetadataServiceProps } from '../metadata/metaflow-metadata-service';
import { MetaflowMonitoring, MetaflowMonitoringProps } from '../monitoring/metaflow-monitoring';
import { MetaflowImageCache, MetaflowImageCacheProps } from '../network/metaflow-image-cache';
import { MetaflowNetwork, MetaflowNetworkProps } from '../network/metaflow-network';
import { METADATA_SERVICE_IMAGE_REPOSITORY } from '../metadata/metaflow-metadata-service';
import { UI_BACKEND_IMAGE, UI_STATIC_IMAGE } from '../ui/metaflow-ui';
import { MetaflowStepFunctionsSupport, MetaflowStepFunctionsSupportProps } from '../step-functions/metaflow-step-functions-support';
import { MetaflowUi, MetaflowUiProps } from '../ui/metaflow-ui';
import { MetaflowUiAuth } from '../ui/metaflow-ui-auth';
import { invalidProp } from '../validation';
import { MetaflowTeam, MetaflowTeams } from '../teams/metaflow-teams';
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

/** ECR pull-through cache options of the stack. */
export interface MetaflowStackImageCacheProps extends MetaflowImageCacheProps {
  /**
   * Create ECR pull-through cache rules and pull the stack's own images (metadata service, UI)
   * through them. Compute without NAT reaches no public registry, so there it is on by default
   * and the metadata service's Docker Hub image needs `dockerHubCredentialArn` (or
   * `metadataService.imageRepository`, a mirror). With NAT it avoids Docker Hub's anonymous
   * pull limits, which all hosts share through the NAT's one address.
   *
   * @default true when compute runs in isolated subnets (natGateways=0 with private compute), else false
   */
  readonly enabled?: boolean;
}

/** Monitoring options of the stack. */
export interface MetaflowStackMonitoringProps extends Omit<MetaflowMonitoringProps, 'compute' | 'computeEnvironments' | 'metadataService' | 'alarmTopic'> {
  /**
   * Deploy the dashboard, the queue-metrics function and the alarms.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * ARN of an existing SNS topic for the alarms (instead of a created one).
   *
   * @default - a topic is created
   */
  readonly alarmTopicArn?: string;
}

/**
 * Properties of a {@link MetaflowStack}. A permissions boundary for every role in the stack is
 * set with the standard `permissionsBoundary` stack prop (`PermissionsBoundary.fromArn(...)`).
 */
export interface MetaflowStackProps extends StackProps {
  /**
   * What deleting the stack does to its stateful resources. RETAIN keeps the datastore bucket,
   * the Step Functions table, the log groups, the KMS key and a final database snapshot, with
   * database deletion protection on. DESTROY makes a failed or test stack deletable: buckets are
   * emptied and deleted, the database is deleted without deletion protection or snapshot, log
   * groups, table and key go too. Explicit per-construct settings (e.g.
   * `metadataService.database.deletionProtection`) still win. The account-level API Gateway
   * CloudWatch role and setting are always retained (other APIs of the account use them).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /** The network: a new VPC, or an existing one. @default - a new VPC with the {@link MetaflowNetwork} defaults */
  readonly network?: MetaflowNetworkProps;
  /** The datastore: a new bucket, or an existing one. @default - a new bucket with the {@link MetaflowDatastore} defaults */
  readonly datastore?: MetaflowStackDatastoreProps;
  /** ECR pull-through cache rules for public images. @default - see {@link MetaflowStackImageCacheProps.enabled} */
  readonly imageCache?: MetaflowStackImageCacheProps;
  /** Batch compute environments and queues. @default - the {@link MetaflowBatchCompute} defaults */
  readonly compute?: MetaflowStackComputeProps;
  /** The metadata service. @default - deployed with the {@link MetaflowMetadataService} defaults */
  readonly metadataService?: MetaflowStackMetadataServiceProps;
  /** Step Functions support. @default - deployed with the {@link MetaflowStepFunctionsSupport} defaults */
  readonly stepFunctions?: MetaflowStackStepFunctionsProps;
  /** The Metaflow UI. @default - no UI */
  readonly ui?: MetaflowStackUiProps;
  /** Monitoring: dashboard, queue metrics and alarms. @default - dashboard, queue metrics and alarms with the {@link MetaflowMonitoring} defaults */
  readonly monitoring?: MetaflowStackMonitoringProps;

  /**
   * Create the {@link MetaflowUserAccess} managed policy (output `MetaflowUserAccessPolicyArn`)
   * that people and CI roles attach to run flows on this stack.
   *
   * @default true
   */
  readonly userAccessPolicy?: boolean;

  /**
   * Teams sharing the stack (see {@link MetaflowTeams}): fair-share team queues beside the FIFO
   * queues (which stay as they are), a job role, a datastore folder and a managed policy per team.
   * Output `MetaflowTeamsJson` names each team's queue, role, root and policy.
   *
   * @default - no teams: the stack as without them
   */
  readonly teams?: readonly MetaflowTeam[];

  /**
   * Default container image of Batch steps that name none (Metaflow's BATCH_CONTAINER_IMAGE),
   * written into the client config. An image reference: no whitespace.
   *
   * @default - not set (Metaflow picks a python image matching the client's version)
   */
  readonly batchContainerImage?: string;

  /**
   * Default registry of Batch step images (Metaflow's BATCH_CONTAINER_REGISTRY), written into
   * the client config. A registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
   *
   * @default - not set (Docker Hub)
   */
  readonly batchContainerRegistry?: string;
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
  /** The ECR pull-through cache, when enabled. */
  public readonly imageCache?: MetaflowImageCache;
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
  /** Dashboard, queue metrics and alarms, unless turned off. */
  public readonly monitoring?: MetaflowMonitoring;
  /** The managed policy for people and CI that run flows, unless turned off. */
  public readonly userAccess?: MetaflowUserAccess;
  /** The teams' queues, roles and policies, when `teams` is given. */
  public readonly teams?: MetaflowTeams;
  /** Metaflow's BATCH_CONTAINER_IMAGE, when set. */
  public readonly batchContainerImage?: string;
  /** Metaflow's BATCH_CONTAINER_REGISTRY, when set. */
  public readonly batchContainerRegistry?: string;

  constructor(scope: Construct, id: string, props: MetaflowStackProps = {}) {
    super(scope, id, {
      description: 'Metaflow compute layer: VPC, S3 datastore, AWS Batch (Spot, on-demand, GPU, Fargate), metadata service, Step Functions support, IAM (metaflow-cdk)',
      ...props,
    });
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (removalPolicy !== RemovalPolicy.RETAIN && removalPolicy !== RemovalPolicy.DESTROY) {
      invalidProp(this, 'removalPolicy', removalPolicy, 'RemovalPolicy.RETAIN or RemovalPolicy.DESTROY');
    }
    const destroy = removalPolicy === RemovalPolicy.DESTROY;
    this.network = new MetaflowNetwork(this, 'Network', props.network);
    const { enabled: cacheOn = this.network.computeIsolated, ...cacheProps } = props.imageCache ?? {};
    if (cacheOn) {
      this.imageCache = new MetaflowImageCache(this, 'ImageCache', cacheProps);
    } else if (Object.values(cacheProps).some((v) => v !== undefined)) {
      invalidProp(this, 'imageCache', cacheProps, 'left unset when imageCache.enabled is false');
    }

    const { existingBucketName, encryptionKeyArn, ...given } = props.datastore ?? {};
    const rest = existingBucketName === undefined && destroy ? { removalPolicy, ...given } : given;
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
      imageCache: this.imageCache,
    });

    const { enabled: metadataOn = true, ...givenMetadataProps } = props.metadataService ?? {};
    const metadataProps = destroy
      ? { ...givenMetadataProps, database: { removalPolicy, deletionProtection: false, ...givenMetadataProps.database } }
      : givenMetadataProps;
    if (metadataOn) {
      const imageRepository = metadataProps.imageRepository ?? this.cachedRepository(METADATA_SERVICE_IMAGE_REPOSITORY,
        'metadataService.imageRepository', 'imageCache.dockerHubCredentialArn');
      this.metadataService = new MetaflowMetadataService(this, 'MetadataService', {
        ...metadataProps,
        imageRepository,
        vpc: this.network.vpc,
        vpcSubnets: this.network.computeSubnets,
        assignPublicIp: this.network.computeNeedsPublicIp,
      });
      if (imageRepository !== metadataProps.imageRepository) this.imageCache!.grantPull(this.metadataService.taskDefinition.obtainExecutionRole());
      // Batch jobs (and Step Functions' Batch jobs) call SERVICE_INTERNAL_URL.
      this.metadataService.allowInternalClients(this.compute.securityGroup);
      this.output(METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN, this.metadataService.api.apiKeySecret.secretArn,
        'Secrets Manager secret holding the metadata service API key (METAFLOW_SERVICE_AUTH_KEY)');
      if (this.metadataService.migrations) {
        this.output(METAFLOW_STACK_OUTPUTS.MIGRATION_FUNCTION_NAME, this.metadataService.migrations.function.functionName,
          'Lambda function that runs metadata database migrations (invoke by hand to re-run them)');
      }
    }

    const { enabled: uiOn = false, auth: uiAuth, ...givenUiProps } = props.ui ?? {};
    const uiProps = destroy ? { removalPolicy, ...givenUiProps } : givenUiProps;
    if (uiOn) {
      if (!this.metadataService) {
        invalidProp(this, 'ui.enabled', true, 'false when the metadata service is turned off (the UI reads its database)');
      }
      if (!uiAuth) {
        invalidProp(this, 'ui.auth', uiAuth, 'MetaflowUiAuth.cognito(...) or MetaflowUiAuth.internal(...) when the UI is enabled');
      }
      const database = this.metadataService.database;
      const backendImageRepository = uiProps.backendImageRepository ?? metadataProps.imageRepository
        ?? this.cachedRepository(UI_BACKEND_IMAGE, 'ui.backendImageRepository', 'imageCache.dockerHubCredentialArn');
      const staticImageRepository = uiProps.staticImageRepository
        ?? this.cachedRepository(UI_STATIC_IMAGE, 'ui.staticImageRepository', 'imageCache.ecrPublic');
      this.ui = new MetaflowUi(this, 'Ui', {
        ...uiProps,
        backendImageRepository,
        staticImageRepository,
        auth: uiAuth,
        vpc: this.network.vpc,
        vpcSubnets: this.network.computeSubnets,
        assignPublicIp: this.network.computeNeedsPublicIp,
        cluster: this.metadataService.cluster,
        database: { host: database.host, port: database.portNumber, name: database.databaseName, credentials: database.credentials, connections: database.connections },
        datastore: this.datastore,
        backendImageVersion: uiProps.backendImageVersion ?? props.metadataService?.imageVersion,
      });
      // The backend reads the tables the migrations create; started before them (a first deploy,
      // before any metadata service task has migrated the database) it fails its health checks
      // and the circuit breaker rolls the stack back. Start it only once the schema is there.
      const migrations = this.metadataService.migrations?.resource.node.defaultChild;
      if (migrations) this.ui.backendService.node.defaultChild!.node.addDependency(migrations);
      if (backendImageRepository !== (uiProps.backendImageRepository ?? metadataProps.imageRepository)) {
        this.imageCache!.grantPull(this.ui.backendService.taskDefinition.obtainExecutionRole());
      }
      if (staticImageRepository !== uiProps.staticImageRepository) this.imageCache!.grantPull(this.ui.staticService.taskDefinition.obtainExecutionRole());
      this.output(METAFLOW_STACK_OUTPUTS.UI_LOAD_BALANCER_DNS_NAME, this.ui.loadBalancer.loadBalancerDnsName,
        'DNS name of the UI load balancer (with uiAuth=cognito, point the uiDomainName record at it)');
    } else if (uiAuth) {
      invalidProp(this, 'ui.auth', uiAuth.mode, 'left unset unless ui.enabled is true');
    }

    const { enabled: stepFunctionsOn = true, ...givenStepFunctionsProps } = props.stepFunctions ?? {};
    const stepFunctionsProps = destroy ? { removalPolicy, ...givenStepFunctionsProps } : givenStepFunctionsProps;
    if (stepFunctionsOn) {
      this.stepFunctions = new MetaflowStepFunctionsSupport(this, 'StepFunctions', {
        ...stepFunctionsProps,
        compute: this.compute,
        datastore: this.datastore,
      });
    }

    for (const [prop, value] of Object.entries({ batchContainerImage: props.batchContainerImage, batchContainerRegistry: props.batchContainerRegistry })) {
      if (value !== undefined && !/^[^\s]{1,1024}$/.test(value)) {
        invalidProp(this, prop, value, 'an image reference or registry host without whitespace (1–1024 characters)');
      }
    }
    this.batchContainerImage = props.batchContainerImage;
    this.batchContainerRegistry = props.batchContainerRegistry;

    this.configOutputs = new MetaflowConfigOutputs(this, 'MetaflowConfig', { profile: this.metaflowProfile() });
    this.infrastructureOutputs();

    const { enabled: monitoringOn = true, alarmTopicArn, ...monitoringProps } = props.monitoring ?? {};
    if (monitoringOn) {
      const compute = this.compute;
      this.monitoring = new MetaflowMonitoring(this, 'Monitoring', {
        ...monitoringProps,
        alarmTopic: alarmTopicArn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', alarmTopicArn) : undefined,
        compute,
        computeEnvironments: ([compute.spotEnvironment, compute.onDemandEnvironment, compute.gpuSpotEnvironment, compute.gpuEnvironment,
          compute.fargateSpotEnvironment, compute.fargateEnvironment] as Array<batch.IComputeEnvironment | undefined>)
          .filter((e): e is batch.IComputeEnvironment => e !== undefined),
        metadataService: this.metadataService,
      });
      this.output(METAFLOW_STACK_OUTPUTS.ALARM_TOPIC_ARN, this.monitoring.alarmTopic.topicArn, 'SNS topic the alarms notify (subscribe to it)');
      this.output(METAFLOW_STACK_OUTPUTS.DASHBOARD_NAME, this.monitoring.dashboard.dashboardName, 'CloudWatch dashboard of this stack');
    } else if (alarmTopicArn !== undefined || Object.values(monitoringProps).some((v) => v !== undefined)) {
      invalidProp(this, 'monitoring', { alarmTopicArn, ...monitoringProps }, 'left unset when monitoring.enabled is false');
    }

    if (props.userAccessPolicy ?? true) {
      this.userAccess = new MetaflowUserAccess(this, 'UserAccess', this.userAccessProps());
      this.output(METAFLOW_STACK_OUTPUTS.USER_ACCESS_POLICY_ARN, this.userAccess.managedPolicy.managedPolicyArn,
        'Managed policy to attach to roles that run flows on this stack (aws iam attach-role-policy --role-name <role> --policy-arn <this>)');
    }
    if (props.teams !== undefined) this.teams = this.teamsOf(props.teams, removalPolicy);
    if (destroy) this.destroyRetainedLeftovers();
    if (this.compute.gpuQueue) {
      this.output(METAFLOW_STACK_OUTPUTS.GPU_JOB_QUEUE_ARN, this.compute.gpuQueue.jobQueueArn,
        'AWS Batch job queue for GPU steps (use with @batch(queue=...) or --queue)');
    }
    if (this.compute.fargateQueue && this.compute.fargateQueue !== this.compute.defaultQueue) {
      this.output(METAFLOW_STACK_OUTPUTS.FARGATE_JOB_QUEUE_ARN, this.compute.fargateQueue.jobQueueArn, 'AWS Batch job queue for Fargate steps');
    }
  }

  /** The teams, their outputs, and the shared job role and user policy fenced off their folders. */
  private teamsOf(teams: readonly MetaflowTeam[], removalPolicy: RemovalPolicy): MetaflowTeams {
    const built = new MetaflowTeams(this, 'Teams', {
      teams, removalPolicy, datastore: this.datastore, compute: this.compute, vpc: this.network.vpc, vpcSubnets: this.network.computeSubnets,
      metadataService: this.metadataService, stepFunctions: this.stepFunctions,
    });
    if (this.compute.jobRole instanceof iam.Role) built.fenceOff(this.compute.jobRole);
    if (this.userAccess) built.fenceOff(this.userAccess.managedPolicy);
    this.output(METAFLOW_STACK_OUTPUTS.TEAMS_JSON, this.toJsonString(Object.fromEntries(built.teams.map((team) => [team.name, {
      jobQueue: team.jobQueue.jobQueueArn,
      ...(team.gpuJobQueue ? { gpuJobQueue: team.gpuJobQueue.jobQueueArn } : {}),
      jobRole: team.jobRole.roleArn,
      datastoreRoot: `s3://${this.datastore.bucket.bucketName}/${team.datastore.sysrootPrefix}`,
      datatoolsRoot: `s3://${this.datastore.bucket.bucketName}/${team.datastore.datatoolsPrefix}`,
      accessPolicy: team.access.managedPolicy.managedPolicyArn,
    }]))), 'Teams: each one\'s fair-share job queue (and GPU queue), job role, datastore root and access policy (read by metaflow-cdk configure --team)');
    this.output(METAFLOW_STACK_OUTPUTS.JOB_LOG_GROUP_NAME, built.jobLogGroupName, 'Log group team jobs write to (their job definitions name it)');
    return built;
  }

  /**
   * With removalPolicy DESTROY: log groups and KMS keys (created retained by the constructs,
   * which have no prop for it) are deleted with the stack too.
   */
  private destroyRetainedLeftovers(): void {
    const types = new Set(['AWS::Logs::LogGroup', 'AWS::KMS::Key']);
    for (const construct of this.node.findAll()) {
      if (construct instanceof CfnResource && types.has(construct.cfnResourceType)) construct.applyRemovalPolicy(RemovalPolicy.DESTROY);
    }
  }

  /** The template, without the DependsOn entries its own references already imply (cfn-lint W3005). */
  protected _toCloudFormation(): any {
    return withoutRedundantDependsOn(super._toCloudFormation());
  }

  /**
   * Let `grantee` run flows on this stack (inline statements; the same as the
   * `MetaflowUserAccessPolicyArn` managed policy): datastore, Batch jobs and job logs, Step
   * Functions flows and schedules, the API key, DescribeStacks for `metaflow-cdk configure`.
   */
  public grantRunFlows(grantee: iam.IGrantable): iam.Grant {
    return grantRunFlows(this, grantee, this.userAccessProps());
  }

  private userAccessProps(): MetaflowUserAccessProps {
    return { datastore: this.datastore, compute: this.compute, metadataService: this.metadataService, stepFunctions: this.stepFunctions };
  }

  /**
   * Where a public image of the stack's own services is pulled from: its ECR pull-through cache
   * when a rule covers it (undefined: the upstream registry). Compute without NAT reaches no
   * public registry, so there a missing rule is refused, naming the two props that would help.
   */
  private cachedRepository(repository: string, mirrorProp: string, cacheProp: string): string | undefined {
    const cached = this.imageCache?.imageUri(repository);
    if (cached === undefined && this.network.computeIsolated) {
      invalidProp(this, cacheProp, undefined, `set (or ${mirrorProp}, a mirror in ECR) when compute runs in isolated subnets without NAT: ${repository} is on a public registry they cannot reach`);
    }
    return cached;
  }

  /** Ids and names operators need outside Metaflow (network, bucket, API). */
  private infrastructureOutputs(): void {
    this.output(METAFLOW_STACK_OUTPUTS.VPC_ID, this.network.vpc.vpcId, 'VPC the compute layer runs in');
    this.output(METAFLOW_STACK_OUTPUTS.COMPUTE_SUBNET_IDS,
      Fn.join(',', this.network.vpc.selectSubnets(this.network.computeSubnets).subnetIds),
      'Comma-separated subnets Batch jobs and services run in');
    this.output(METAFLOW_STACK_OUTPUTS.COMPUTE_SECURITY_GROUP_ID, this.compute.securityGroup.securityGroupId,
      'Security group of Batch hosts and tasks');
    this.output(METAFLOW_STACK_OUTPUTS.DATASTORE_BUCKET_NAME, this.datastore.bucket.bucketName, 'Datastore bucket');
    this.output(METAFLOW_STACK_OUTPUTS.DATASTORE_BUCKET_ARN, this.datastore.bucket.bucketArn, 'Datastore bucket ARN');
    if (this.metadataService) {
      this.output(METAFLOW_STACK_OUTPUTS.API_ID, this.metadataService.api.restApi.restApiId, 'Metadata service REST API (API Gateway) id');
    }
  }

  private output(id: string, value: string, description: string): CfnOutput {
    return new CfnOutput(this, id, { value, description });
  }

  /** The Metaflow configuration this stack determines. */
  public metaflowProfile(): MetaflowProfile {
    return metaflowProfileOf({
      datastore: this.datastore,
      compute: this.compute,
      metadataService: this.metadataService,
      stepFunctions: this.stepFunctions,
      uiUrl: this.ui?.url,
      batchContainerImage: this.batchContainerImage,
      batchContainerRegistry: this.batchContainerRegistry,
      batchAssignPublicIp: this.network.computeNeedsPublicIp,
    });
  }
}

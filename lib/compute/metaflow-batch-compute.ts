import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { MetaflowImageCache } from '../network/metaflow-image-cache';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { invalidProp } from '../validation';
import { BatchLaunchTemplate } from './batch-launch-template';
import { BatchRoles } from './batch-roles';
import {
  checkEnvironmentOptions,
  Ec2EnvironmentOptions,
  FargateEnvironmentOptions,
  GpuEnvironmentOptions,
  GpuImageType,
  AL2_RETIRED_REASON,
} from './environment-options';
import { checkGpuInstanceTypes, DEFAULT_CPU_INSTANCE_TYPE, DEFAULT_GPU_INSTANCE_TYPES, parseInstanceTypes } from './instance-types';
import { checkRunnableTimeout, MetaflowJobQueue } from './metaflow-job-queue';

/** The Batch image type of each GPU AMI choice. */
const GPU_IMAGE_TYPES: Record<GpuImageType, batch.EcsMachineImageType> = {
  [GpuImageType.AL2023_NVIDIA]: batch.EcsMachineImageType.ECS_AL2023_NVIDIA,
};

import { METAFLOW_JOB_DEFINITION_PREFIX } from '../../core/job-definition-names';
export { METAFLOW_JOB_DEFINITION_PREFIX };

/**
 * The services `iam:PassRole` on the job role and the Fargate execution role is allowed for.
 *
 * The runner passes both roles in `RegisterJobDefinition` (`jobRoleArn`, and `executionRoleArn`
 * on Fargate); `SubmitJob` carries no role. The caller passes the role to AWS Batch, which hands
 * it to ECS only later, when it places the job. AWS Batch's own IAM policy example for
 * RegisterJobDefinition pairs it with `iam:PassRole` on the job role, without a service
 * condition; published policies that do condition it (e.g. Seqera's for Batch job and execution
 * roles) use `batch.amazonaws.com`. The old condition allowed only `ecs-tasks.amazonaws.com`, so a
 * principal registering job definitions was refused. `ecs-tasks` stays allowed for principals that
 * also register ECS task definitions with these roles; no other service (Lambda, EC2, …) may
 * receive them.
 */
export const JOB_ROLE_PASSED_TO_SERVICES: readonly string[] = ['batch.amazonaws.com', 'ecs-tasks.amazonaws.com'];

/** A Metaflow Batch compute layer: its queues and roles. */
export interface IMetaflowBatchCompute {
  /** The queue steps go to by default (Metaflow's BATCH_JOB_QUEUE). */
  readonly defaultQueue: batch.IJobQueue;
  /** The GPU queue, when there is one. */
  readonly gpuQueue?: batch.IJobQueue;
  /** The Fargate queue, when there is one. */
  readonly fargateQueue?: batch.IJobQueue;
  /** The role job containers assume (Metaflow's ECS_S3_ACCESS_IAM_ROLE). */
  readonly jobRole: iam.IRole;
  /** The Fargate task execution role (Metaflow's ECS_FARGATE_EXECUTION_ROLE), when Fargate is used. */
  readonly fargateExecutionRole?: iam.IRole;
  /** All queues of this compute layer. */
  readonly jobQueues: batch.IJobQueue[];
  /**
   * Let `grantee` run Metaflow jobs on these queues: register `metaflow_*` job definitions, submit
   * to the queues, describe/list, cancel/terminate, and pass the job (and Fargate execution) role
   * to AWS Batch (and ECS tasks) only — see {@link JOB_ROLE_PASSED_TO_SERVICES}.
   */
  grantSubmitJobs(grantee: iam.IGrantable): iam.Grant;
  /**
   * Let `grantee` run jobs of job definitions someone else registered: submit `metaflow_*` job
   * definitions to these queues (tagging the jobs), describe/list, cancel/terminate. No
   * RegisterJobDefinition and no iam:PassRole (SubmitJob carries no role) — what a state machine
   * running `batch:submitJob.sync` needs.
   */
  grantRunJobs(grantee: iam.IGrantable): iam.Grant;
}

/** Attributes to import an existing compute layer. */
export interface MetaflowBatchComputeAttributes {
  /** ARN of the default job queue. */
  readonly defaultQueueArn: string;
  /** ARN of the job role. */
  readonly jobRoleArn: string;
  /** ARN of the GPU queue. @default - none */
  readonly gpuQueueArn?: string;
  /** ARN of the Fargate queue. @default - none */
  readonly fargateQueueArn?: string;
  /** ARN of the Fargate execution role. @default - none */
  readonly fargateExecutionRoleArn?: string;
}

/** Properties of a {@link MetaflowBatchCompute}. */
export interface MetaflowBatchComputeProps {
  /** The VPC compute runs in. */
  readonly vpc: ec2.IVpc;

  /**
   * The subnets compute runs in.
   *
   * @default - the VPC's private subnets with egress if it has any, else its public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /** The datastore the job role may read and write. */
  readonly datastore: IMetaflowDatastore;

  /**
   * The on-demand EC2 environment (fallback of the default queue).
   *
   * @default - enabled, 0–256 vCPUs, `default_x86_64` instances
   */
  readonly onDemand?: Ec2EnvironmentOptions;

  /**
   * The Spot EC2 environment (first choice of the default queue), allocation strategy
   * SPOT_PRICE_CAPACITY_OPTIMIZED.
   *
   * @default - enabled, 0–256 vCPUs, `default_x86_64` instances
   */
  readonly spot?: Ec2EnvironmentOptions;

  /**
   * The GPU environment(s) and the `gpu` queue.
   *
   * @default - enabled, 0–64 vCPUs, g4dn/g5/g6 families, NVIDIA AL2023 AMI, on-demand only
   */
  readonly gpu?: GpuEnvironmentOptions;

  /**
   * The Fargate environments and the `fargate` queue.
   *
   * @default - disabled
   */
  readonly fargate?: FargateEnvironmentOptions;

  /**
   * Root volume of EC2 hosts, in GiB (encrypted gp3).
   *
   * @default 100
   */
  readonly rootVolumeSizeGiB?: number;

  /**
   * Cancel jobs stuck RUNNABLE because no environment can ever run them after this long
   * (10 minutes – 24 hours).
   *
   * @default Duration.minutes(30)
   */
  readonly runnableTimeout?: Duration;

  /**
   * Cancel a job that waits at the head of a queue RUNNABLE this long because every compute
   * environment of the queue reports insufficient instance capacity
   * (`CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY`), so the run fails visibly instead of waiting
   * for capacity indefinitely. 10 minutes to 24 hours. Batch does not move such a job to the
   * next environment of the queue by itself.
   *
   * @default - off: jobs wait for capacity
   */
  readonly capacityTimeout?: Duration;

  /**
   * The security group of compute hosts and tasks.
   *
   * @default - a group with no ingress and all egress
   */
  readonly securityGroup?: ec2.ISecurityGroup;

  /** An existing job role. @default - created */
  readonly jobRole?: iam.IRole;
  /** An existing EC2 instance role. @default - created */
  readonly instanceRole?: iam.IRole;
  /** An existing Fargate execution role. @default - created when Fargate is enabled */
  readonly fargateExecutionRole?: iam.IRole;

  /**
   * An ECR pull-through cache whose repositories the EC2 instance role and the Fargate execution
   * role may pull from (and create on the first pull), so steps can name cached images.
   *
   * @default - none
   */
  readonly imageCache?: MetaflowImageCache;

  /**
   * A permissions boundary for every role this construct creates.
   *
   * @default - none
   */
  readonly permissionsBoundary?: iam.IManagedPolicy;
}

abstract class BatchComputeBase extends Construct implements IMetaflowBatchCompute {
  abstract readonly defaultQueue: batch.IJobQueue;
  abstract readonly gpuQueue?: batch.IJobQueue;
  abstract readonly fargateQueue?: batch.IJobQueue;
  abstract readonly jobRole: iam.IRole;
  abstract readonly fargateExecutionRole?: iam.IRole;

  get jobQueues(): batch.IJobQueue[] {
    return [this.defaultQueue, this.gpuQueue, this.fargateQueue].filter((q): q is batch.IJobQueue => q !== undefined);
  }

  grantSubmitJobs(grantee: iam.IGrantable): iam.Grant {
    const passRoles = [this.jobRole, this.fargateExecutionRole].filter((r): r is iam.IRole => r !== undefined);
    return [
      this.grantRunJobs(grantee),
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['batch:RegisterJobDefinition', 'batch:TagResource'],
        resourceArns: [this.jobDefinitionsArn],
      }),
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['iam:PassRole'],
        resourceArns: passRoles.map((r) => r.roleArn),
        conditions: { StringEquals: { 'iam:PassedToService': [...JOB_ROLE_PASSED_TO_SERVICES] } },
      }),
    ].reduce((all, g) => all.combine(g));
  }

  private get jobDefinitionsArn(): string {
    return Stack.of(this).formatArn({
      service: 'batch',
      resource: 'job-definition',
      resourceName: `${METAFLOW_JOB_DEFINITION_PREFIX}*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  grantRunJobs(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    const jobDefinitions = this.jobDefinitionsArn;
    const jobs = stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      const principal = grantee.grantPrincipal;
      acknowledge(principal, [wildcardResourceFinding(this, jobDefinitions)],
        'Metaflow registers job definitions named metaflow_<hash of the definition> at run time; submitting (and registering, where granted) is limited to the metaflow_ prefix.');
      acknowledge(principal, [wildcardResourceFinding(this, jobs)],
        'Job ids are assigned by Batch at submission; cancel/terminate/tag apply to jobs of this account and region only.');
      acknowledge(principal, [wildcardResourceFinding(this, '*')],
        'batch:Describe*/ListJobs support no resource-level permissions (AWS Service Authorization Reference).');
    }
    return [
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['batch:SubmitJob'],
        resourceArns: [...this.jobQueues.map((q) => q.jobQueueArn), jobDefinitions],
      }),
      // Tags on SubmitJob (the compiler's run tags) need batch:TagResource on the job.
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['batch:CancelJob', 'batch:TerminateJob', 'batch:TagResource'],
        resourceArns: [jobs],
      }),
      // Describe/List calls support no resource-level permissions (Service Authorization Reference).
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['batch:DescribeJobs', 'batch:ListJobs', 'batch:DescribeJobDefinitions', 'batch:DescribeJobQueues', 'batch:DescribeComputeEnvironments'],
        resourceArns: ['*'],
      }),
    ].reduce((all, g) => all.combine(g));
  }
}

/**
 * The AWS Batch compute layer of a Metaflow deployment: Spot and on-demand CPU environments
 * behind the `default` queue (Spot first), a GPU environment behind the `gpu` queue, optional
 * Fargate / Fargate Spot behind the `fargate` queue — all scaling to zero — plus the launch
 * template, security group and IAM roles jobs need.
 */
export class MetaflowBatchCompute extends BatchComputeBase {
  /** Import an existing compute layer (queues and roles by ARN). */
  public static fromAttributes(scope: Construct, id: string, attrs: MetaflowBatchComputeAttributes): IMetaflowBatchCompute {
    class Import extends BatchComputeBase {
      readonly defaultQueue = batch.JobQueue.fromJobQueueArn(this, 'DefaultQueue', attrs.defaultQueueArn);
      readonly gpuQueue = attrs.gpuQueueArn ? batch.JobQueue.fromJobQueueArn(this, 'GpuQueue', attrs.gpuQueueArn) : undefined;
      readonly fargateQueue = attrs.fargateQueueArn ? batch.JobQueue.fromJobQueueArn(this, 'FargateQueue', attrs.fargateQueueArn) : undefined;
      readonly jobRole = iam.Role.fromRoleArn(this, 'JobRole', attrs.jobRoleArn, { mutable: false });
      readonly fargateExecutionRole = attrs.fargateExecutionRoleArn
        ? iam.Role.fromRoleArn(this, 'FargateExecutionRole', attrs.fargateExecutionRoleArn, { mutable: false })
        : undefined;
    }
    return new Import(scope, id);
  }

  /** The CPU queue jobs go to by default (METAFLOW_BATCH_JOB_QUEUE): Spot first, then on-demand. */
  public readonly defaultQueue: batch.IJobQueue;
  /** The GPU queue, when GPU environments are enabled. */
  public readonly gpuQueue?: batch.IJobQueue;
  /** The Fargate queue, when Fargate is enabled. */
  public readonly fargateQueue?: batch.IJobQueue;
  /** The role jobs run as (METAFLOW_ECS_S3_ACCESS_IAM_ROLE): read/write on the datastore's roots. */
  public readonly jobRole: iam.IRole;
  /** The execution role Fargate tasks pull images and write logs with, when Fargate is enabled. */
  public readonly fargateExecutionRole?: iam.IRole;
  /** The EC2 instance role of the hosts. */
  public readonly instanceRole: iam.IRole;
  /** The security group of hosts and tasks. */
  public readonly securityGroup: ec2.ISecurityGroup;
  /** The launch template of EC2 environments. */
  public readonly launchTemplate?: ec2.LaunchTemplate;
  /** The on-demand CPU environment. */
  public readonly onDemandEnvironment?: batch.ManagedEc2EcsComputeEnvironment;
  /** The Spot CPU environment. */
  public readonly spotEnvironment?: batch.ManagedEc2EcsComputeEnvironment;
  /** The on-demand GPU environment. */
  public readonly gpuEnvironment?: batch.ManagedEc2EcsComputeEnvironment;
  /** The Spot GPU environment. */
  public readonly gpuSpotEnvironment?: batch.ManagedEc2EcsComputeEnvironment;
  /** The Fargate environment. */
  public readonly fargateEnvironment?: batch.FargateComputeEnvironment;
  /** The Fargate Spot environment. */
  public readonly fargateSpotEnvironment?: batch.FargateComputeEnvironment;

  private readonly vpc: ec2.IVpc;
  private readonly vpcSubnets?: ec2.SubnetSelection;

  constructor(scope: Construct, id: string, props: MetaflowBatchComputeProps) {
    super(scope, id);
    if (!props.vpc) invalidProp(this, 'vpc', props.vpc, 'a VPC');
    if (!props.datastore) invalidProp(this, 'datastore', props.datastore, 'a datastore');
    this.vpc = props.vpc;
    this.vpcSubnets = props.vpcSubnets;

    const onDemand = checkEnvironmentOptions(this, 'onDemand', props.onDemand, 256);
    const spot = checkEnvironmentOptions(this, 'spot', props.spot, 256);
    const gpu = checkEnvironmentOptions(this, 'gpu', props.gpu, 64);
    const fargate = checkEnvironmentOptions(this, 'fargate', props.fargate, 256);
    const onDemandOn = onDemand.enabled ?? true;
    const spotOn = spot.enabled ?? true;
    const gpuOn = gpu.enabled ?? true;
    const fargateOn = fargate.enabled ?? false;
    if (!onDemandOn && !spotOn && !fargateOn) {
      invalidProp(this, 'onDemand.enabled/spot.enabled/fargate.enabled', false, 'true for at least one of them (the default queue needs an environment)');
    }
    if (props.runnableTimeout) checkRunnableTimeout(this, props.runnableTimeout);
    if (props.capacityTimeout) checkRunnableTimeout(this, props.capacityTimeout, 'capacityTimeout');
    if ((gpu.imageType as string) === 'ECS_AL2_NVIDIA') {
      invalidProp(this, 'gpu.imageType', gpu.imageType, `GpuImageType.AL2023_NVIDIA: ${AL2_RETIRED_REASON}`);
    }
    if (gpu.imageType !== undefined && !Object.values(GpuImageType).includes(gpu.imageType)) {
      invalidProp(this, 'gpu.imageType', gpu.imageType, `one of ${Object.values(GpuImageType).join(', ')}`);
    }

    if (props.permissionsBoundary) {
      iam.PermissionsBoundary.of(this).apply(props.permissionsBoundary);
    }

    const roles = new BatchRoles(this, 'Roles', {
      datastore: props.datastore,
      jobRole: props.jobRole,
      instanceRole: props.instanceRole,
      fargateExecutionRole: props.fargateExecutionRole,
      createFargateExecutionRole: fargateOn,
    });
    this.jobRole = roles.jobRole;
    this.instanceRole = roles.instanceRole;
    this.fargateExecutionRole = roles.fargateExecutionRole;
    if (props.imageCache) {
      if (onDemandOn || spotOn || gpuOn) props.imageCache.grantPull(this.instanceRole);
      if (this.fargateExecutionRole) props.imageCache.grantPull(this.fargateExecutionRole);
    }

    this.securityGroup = props.securityGroup ?? new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Metaflow Batch compute: no ingress, all egress',
      allowAllOutbound: true,
    });

    const ec2On = onDemandOn || spotOn || gpuOn;
    if (ec2On) {
      this.launchTemplate = new BatchLaunchTemplate(this, 'LaunchTemplate', {
        rootVolumeSizeGiB: props.rootVolumeSizeGiB,
      }).launchTemplate;
    } else if (props.rootVolumeSizeGiB !== undefined) {
      invalidProp(this, 'rootVolumeSizeGiB', props.rootVolumeSizeGiB, 'left unset when no EC2 environment is enabled');
    }

    if (spotOn) this.spotEnvironment = this.ec2Environment('SpotEnvironment', spot, true);
    if (onDemandOn) this.onDemandEnvironment = this.ec2Environment('OnDemandEnvironment', onDemand, false);
    if (gpuOn) {
      const types = gpu.instanceTypes ?? [...DEFAULT_GPU_INSTANCE_TYPES];
      checkGpuInstanceTypes(this, 'gpu.instanceTypes', types);
      const gpuOptions = { ...gpu, instanceTypes: types };
      const imageType = gpu.imageType ?? GpuImageType.AL2023_NVIDIA;
      if (gpu.spot) this.gpuSpotEnvironment = this.ec2Environment('GpuSpotEnvironment', gpuOptions, true, imageType);
      this.gpuEnvironment = this.ec2Environment('GpuEnvironment', gpuOptions, false, imageType);
    } else if (gpu.spot) {
      invalidProp(this, 'gpu.spot', true, 'left unset when gpu.enabled is false');
    }
    if (fargateOn) {
      if (fargate.spot ?? true) this.fargateSpotEnvironment = this.fargateEnvironmentOf('FargateSpotEnvironment', fargate.maxvCpus, true);
      this.fargateEnvironment = this.fargateEnvironmentOf('FargateEnvironment', fargate.maxvCpus, false);
    }

    const queueOf = (queueId: string, environments: Array<batch.IComputeEnvironment | undefined>) =>
      new MetaflowJobQueue(this, queueId, {
        computeEnvironments: environments.filter((e): e is batch.IComputeEnvironment => e !== undefined),
        runnableTimeout: props.runnableTimeout,
        capacityTimeout: props.capacityTimeout,
      }).jobQueue;
    if (fargateOn) this.fargateQueue = queueOf('FargateQueue', [this.fargateSpotEnvironment, this.fargateEnvironment]);
    if (gpuOn) this.gpuQueue = queueOf('GpuQueue', [this.gpuSpotEnvironment, this.gpuEnvironment]);
    this.defaultQueue = onDemandOn || spotOn
      ? queueOf('DefaultQueue', [this.spotEnvironment, this.onDemandEnvironment])
      : this.fargateQueue!;
  }

  private ec2Environment(
    id: string,
    options: Ec2EnvironmentOptions & { maxvCpus: number },
    spot: boolean,
    gpuImageType?: GpuImageType,
  ): batch.ManagedEc2EcsComputeEnvironment {
    const kind = gpuImageType ? 'gpu' : spot ? 'spot' : 'onDemand';
    const parsed = parseInstanceTypes(this, `${kind}.instanceTypes`, options.instanceTypes ?? [DEFAULT_CPU_INSTANCE_TYPE]);
    const environment = new batch.ManagedEc2EcsComputeEnvironment(this, id, {
      vpc: this.vpc,
      vpcSubnets: this.vpcSubnets,
      securityGroups: [this.securityGroup],
      instanceRole: this.instanceRole,
      launchTemplate: this.launchTemplate,
      spot,
      allocationStrategy: spot ? batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED : batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      minvCpus: options.minvCpus ?? 0,
      maxvCpus: options.maxvCpus,
      instanceTypes: parsed.instanceTypes,
      instanceClasses: parsed.instanceClasses,
      useOptimalInstanceClasses: false,
      images: gpuImageType ? [{ imageType: GPU_IMAGE_TYPES[gpuImageType] }] : undefined,
      updateToLatestImageVersion: true,
    });
    if (this.launchTemplate) {
      // Batch keeps the launch template version it resolved when the environment was created.
      // Naming the version number makes every template change (root volume, IMDS) an update of
      // the environment, which Batch rolls out to its instances.
      (environment.node.defaultChild as batch.CfnComputeEnvironment).addPropertyOverride(
        'ComputeResources.LaunchTemplate.Version', this.launchTemplate.latestVersionNumber);
    }
    return environment;
  }

  private fargateEnvironmentOf(id: string, maxvCpus: number, spot: boolean): batch.FargateComputeEnvironment {
    return new batch.FargateComputeEnvironment(this, id, {
      vpc: this.vpc,
      vpcSubnets: this.vpcSubnets,
      securityGroups: [this.securityGroup],
      maxvCpus,
      spot,
    });
  }
}

import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, wildcardActionFinding, wildcardResourceFinding } from '../nag/acknowledgements';

/** The CloudWatch Logs group AWS Batch writes container logs to. */
export const BATCH_JOB_LOG_GROUP = '/aws/batch/job';

/** ARN of every ECS cluster of the stack's account and region (Batch creates and names them). */
function ecsClusters(stack: Stack): string {
  return stack.formatArn({ service: 'ecs', resource: 'cluster', resourceName: '*' });
}

/** ARN of every ECS container instance of the stack's account and region. */
function ecsContainerInstances(stack: Stack): string {
  return stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: '*' });
}

/**
 * What the ECS container agent on a Batch host needs, scoped: the actions of AWS's
 * AmazonEC2ContainerServiceforEC2Role the agent uses (register, poll, state changes, telemetry;
 * not ecs:CreateCluster — Batch creates the cluster — nor ec2:DescribeTags, used only for
 * tag propagation from the instance), each on the resource type the Service Authorization
 * Reference gives it; ECR pulls on `repositories`; log writes on `logStreams`. A test fails if
 * the role gains an action or a resource beyond these.
 */
export function instanceRoleStatements(stack: Stack, repositories: string, logStreams: string): iam.PolicyStatement[] {
  const clusters = ecsClusters(stack);
  const instances = ecsContainerInstances(stack);
  return [
    new iam.PolicyStatement({
      sid: 'EcsAgentOnClusters',
      actions: ['ecs:RegisterContainerInstance', 'ecs:DeregisterContainerInstance', 'ecs:UpdateContainerInstancesState', 'ecs:Submit*'],
      resources: [clusters],
    }),
    new iam.PolicyStatement({
      sid: 'EcsAgentOnInstances',
      actions: ['ecs:Poll', 'ecs:StartTelemetrySession'],
      resources: [instances],
    }),
    new iam.PolicyStatement({
      sid: 'EcsAgentTagsOnRegistration',
      actions: ['ecs:TagResource'],
      resources: [clusters, instances],
      conditions: { StringEquals: { 'ecs:CreateAction': ['RegisterContainerInstance'] } },
    }),
    new iam.PolicyStatement({
      sid: 'NoResourceLevelPermissions',
      actions: ['ecs:DiscoverPollEndpoint', 'ecr:GetAuthorizationToken'],
      resources: ['*'],
    }),
    new iam.PolicyStatement({
      sid: 'ImagePulls',
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
      resources: [repositories],
    }),
    new iam.PolicyStatement({
      sid: 'JobLogs',
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [logStreams],
    }),
  ];
}

/** Properties of {@link BatchRoles}. */
export interface BatchRolesProps {
  /** The datastore jobs read and write. */
  readonly datastore: IMetaflowDatastore;

  /**
   * An existing role for job containers (trusted by ecs-tasks.amazonaws.com). It is granted
   * datastore access if it is mutable.
   *
   * @default - a role is created
   */
  readonly jobRole?: iam.IRole;

  /**
   * An existing EC2 instance role for EC2 compute environments.
   *
   * @default - a role is created with only what the ECS agent needs (see {@link BatchRoles.instanceRole})
   */
  readonly instanceRole?: iam.IRole;

  /**
   * An existing ECS task execution role for Fargate jobs.
   *
   * @default - a role is created when `createFargateExecutionRole` is true
   */
  readonly fargateExecutionRole?: iam.IRole;

  /**
   * Create the Fargate execution role (when none is given).
   *
   * @default false
   */
  readonly createFargateExecutionRole?: boolean;

  /**
   * The log group job containers write to.
   *
   * @default '/aws/batch/job'
   */
  readonly jobLogGroupName?: string;
}

/**
 * The IAM roles of a Batch compute layer: the job role containers assume (S3 access only to
 * the datastore roots, log writes only to the Batch job log group), the instance role of EC2
 * hosts, and the Fargate task execution role (image pulls and log writes).
 */
export class BatchRoles extends Construct {
  /** The role job containers assume (Metaflow's ECS_S3_ACCESS_IAM_ROLE). */
  public readonly jobRole: iam.IRole;
  /** The instance role of EC2 compute environment hosts. */
  public readonly instanceRole: iam.IRole;
  /** The Fargate task execution role (Metaflow's ECS_FARGATE_EXECUTION_ROLE), when Fargate is used. */
  public readonly fargateExecutionRole?: iam.IRole;
  /** ARN pattern of the job log group's streams. */
  public readonly jobLogStreamsArn: string;

  constructor(scope: Construct, id: string, props: BatchRolesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const logGroupName = props.jobLogGroupName ?? BATCH_JOB_LOG_GROUP;
    const logGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: logGroupName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.jobLogStreamsArn = `${logGroupArn}:log-stream:*`;
    const writeLogs = new iam.PolicyStatement({
      actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      resources: [this.jobLogStreamsArn],
    });

    this.jobRole = props.jobRole ?? new iam.Role(this, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Metaflow Batch job containers: datastore read/write, job log writes',
    });
    props.datastore.grantReadWrite(this.jobRole);
    this.jobRole.addToPrincipalPolicy(writeLogs);
    const logStreamsReason = 'Batch creates one log stream per job with a name not known at deploy time; access is limited to the Batch job log group.';
    acknowledge(this.jobRole, [wildcardResourceFinding(this, this.jobLogStreamsArn)], logStreamsReason);

    const repositories = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' });
    if (props.instanceRole) {
      this.instanceRole = props.instanceRole;
    } else {
      // ECS-EC2 Batch jobs use host networking, so every job can reach IMDS and this role's
      // credentials (docs/networking.md). Instead of the managed AmazonEC2ContainerServiceforEC2Role
      // (every action on "*"), the agent gets its own actions on this account's ECS clusters and
      // container instances in this region (Batch names its clusters), image pulls from this
      // account's repositories here, and log writes to the job log group only.
      const role = new iam.Role(this, 'InstanceRole', {
        assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
        description: 'Metaflow Batch EC2 hosts: ECS container agent, image pulls, job log writes',
      });
      for (const statement of instanceRoleStatements(stack, repositories, this.jobLogStreamsArn)) role.addToPolicy(statement);
      acknowledge(role, [wildcardResourceFinding(this, '*')],
        'ecs:DiscoverPollEndpoint and ecr:GetAuthorizationToken support no resource-level permissions (AWS Service Authorization Reference).');
      acknowledge(role, [ecsClusters(stack), ecsContainerInstances(stack)].map((arn) => wildcardResourceFinding(this, arn)),
        'AWS Batch creates and names the ECS cluster of each compute environment; the agent\'s actions are limited to clusters and container instances of this account and region.');
      acknowledge(role, [wildcardResourceFinding(this, repositories)],
        'Steps name their images at run time; pulls are limited to this account\'s ECR repositories in this region.');
      acknowledge(role, [wildcardResourceFinding(this, this.jobLogStreamsArn)], logStreamsReason);
      acknowledge(role, [wildcardActionFinding('ecs:Submit*')],
        'ecs:Submit* is the ECS agent\'s state-change family (container, task, attachment) as AWS\'s own agent policy grants it, on this account\'s clusters only.');
      this.instanceRole = role;
    }

    if (props.fargateExecutionRole) {
      this.fargateExecutionRole = props.fargateExecutionRole;
    } else if (props.createFargateExecutionRole) {
      const role = new iam.Role(this, 'FargateExecutionRole', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
        description: 'Metaflow Batch Fargate jobs: image pulls and job log writes',
      });
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }));
      role.addToPolicy(new iam.PolicyStatement({
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: [repositories],
      }));
      role.addToPolicy(writeLogs);
      acknowledge(role, [wildcardResourceFinding(this, '*')],
        'ecr:GetAuthorizationToken supports no resource-level permissions (it returns a registry token, not repository access).');
      acknowledge(role, [wildcardResourceFinding(this, repositories)],
        'Steps name their images at run time; pulls are limited to this account\'s ECR repositories in this region.');
      acknowledge(role, [wildcardResourceFinding(this, this.jobLogStreamsArn)], logStreamsReason);
      this.fargateExecutionRole = role;
    }
  }
}

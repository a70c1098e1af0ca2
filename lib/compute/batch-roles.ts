import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, managedPolicyFinding, wildcardResourceFinding } from '../nag/acknowledgements';

/** The CloudWatch Logs group AWS Batch writes container logs to. */
export const BATCH_JOB_LOG_GROUP = '/aws/batch/job';

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
   * @default - a role is created with AmazonEC2ContainerServiceforEC2Role
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

    if (props.instanceRole) {
      this.instanceRole = props.instanceRole;
    } else {
      const ecsForEc2 = iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role');
      this.instanceRole = new iam.Role(this, 'InstanceRole', {
        assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
        description: 'Metaflow Batch EC2 hosts (ECS container agent)',
        managedPolicies: [ecsForEc2],
      });
      acknowledge(this.instanceRole, [managedPolicyFinding(this, ecsForEc2.managedPolicyArn)],
        'AWS Batch requires this AWS-maintained policy on ECS container instances (the agent registers the host, pulls images and ships logs); AWS keeps it current with the agent.');
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
      const repositories = stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: '*' });
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

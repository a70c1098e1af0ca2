import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { IMetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { invalidProp } from '../validation';

/** The managed EventBridge rule Step Functions creates for `batch:submitJob.sync` integrations. */
export const BATCH_SYNC_EVENTS_RULE = 'StepFunctionsGetEventsForBatchJobsRule';

/** Properties of {@link MetaflowStepFunctionsSupport}. */
export interface MetaflowStepFunctionsSupportProps {
  /** The Batch compute layer state machines submit jobs to. */
  readonly compute: IMetaflowBatchCompute;
  /** The datastore state machines (and their tasks) use. */
  readonly datastore: IMetaflowDatastore;

  /**
   * Prefix of the state machine names this deployment owns; the EventBridge role may start only
   * those. Metaflow's SFN_STATE_MACHINE_PREFIX.
   *
   * @default the stack name
   */
  readonly stateMachinePrefix?: string;

  /**
   * Retention of the execution-history log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What stack deletion does to the DynamoDB table.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * What Metaflow (and this project's compiler) needs to run flows on AWS Step Functions: the
 * DynamoDB table foreach joins use (partition key `pathspec`, TTL `ttl`), the role state
 * machines run as (Batch jobs on this stack's queues only, the managed rule `.sync` needs, the
 * datastore, the table, log delivery), the EventBridge role that starts only this deployment's
 * state machines, and a log group for execution history. The Batch job role gains access to
 * the table.
 */
export class MetaflowStepFunctionsSupport extends Construct {
  /** The DynamoDB table Metaflow's Step Functions integration keeps foreach state in (SFN_DYNAMO_DB_TABLE). */
  public readonly table: dynamodb.Table;
  /** The role state machines run as (Metaflow's SFN_IAM_ROLE). */
  public readonly stateMachineRole: iam.Role;
  /** The role EventBridge schedules use (Metaflow's EVENTS_SFN_ACCESS_IAM_ROLE). */
  public readonly eventsRole: iam.Role;
  /** Execution history (Metaflow's SFN_EXECUTION_LOG_GROUP_ARN). */
  public readonly logGroup: logs.LogGroup;
  /** The name prefix of the state machines the role may run and the schedules may start. */
  public readonly stateMachinePrefix: string;

  constructor(scope: Construct, id: string, props: MetaflowStepFunctionsSupportProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.stateMachinePrefix = props.stateMachinePrefix ?? stack.stackName;
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(this.stateMachinePrefix)) {
      invalidProp(this, 'stateMachinePrefix', this.stateMachinePrefix, '1–40 letters, digits, "-" or "_" (state machine names allow no more)');
    }

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'pathspec', type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: 'ttl',
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.logGroup = new logs.LogGroup(this, 'ExecutionLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.stateMachineRole = new iam.Role(this, 'StateMachineRole', {
      assumedBy: new iam.ServicePrincipal('states.amazonaws.com'),
      description: 'Metaflow state machines: Batch jobs on this stack\'s queues, datastore, foreach table, logs',
    });
    props.compute.grantSubmitJobs(this.stateMachineRole);
    props.datastore.grantReadWrite(this.stateMachineRole);
    this.table.grant(this.stateMachineRole, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    const syncRule = stack.formatArn({ service: 'events', resource: 'rule', resourceName: BATCH_SYNC_EVENTS_RULE });
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [syncRule],
    }));
    // Log delivery APIs take no resource ARNs (Step Functions logging documentation).
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({
      actions: [
        'logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups',
      ],
      resources: ['*'],
    }));
    acknowledge(this.stateMachineRole, [wildcardResourceFinding(this, '*')],
      'CloudWatch Logs delivery APIs and Batch Describe/List calls support no resource-level permissions.');

    const stateMachines = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: `${this.stateMachinePrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.eventsRole = new iam.Role(this, 'EventsRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `EventBridge schedules: start only ${this.stateMachinePrefix}* state machines`,
    });
    this.eventsRole.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachines] }));
    acknowledge(this.eventsRole, [wildcardResourceFinding(this, stateMachines)],
      'State machines are created per flow at run time; schedules may start only those named with this deployment\'s prefix.');

    this.table.grant(props.compute.jobRole, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
  }

  /** ARN of the execution-history log group (Metaflow's SFN_EXECUTION_LOG_GROUP_ARN). */
  public get logGroupArn(): string {
    return this.logGroup.logGroupArn;
  }
}

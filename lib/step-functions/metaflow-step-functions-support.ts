import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { IMetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { STATE_MACHINE_NAME_SEPARATOR, STATE_MACHINE_PREFIX_PATTERN, stateMachineName } from '../../core/state-machine-names';
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
   * Prefix of the state machine names this deployment owns (Metaflow's SFN_STATE_MACHINE_PREFIX):
   * state machines are named `<prefix>_<flow>` and the EventBridge role may start only those.
   * Letters, digits and "-" (no "_", the separator).
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

/** Check a state machine prefix: letters, digits and "-" only (the separator "_" would make grants ambiguous). */
function checkStateMachinePrefix(scope: Construct, prefix: string): string {
  if (!STATE_MACHINE_PREFIX_PATTERN.test(prefix)) {
    invalidProp(scope, 'stateMachinePrefix', prefix,
      `1–40 letters, digits or "-" (state machines are named <prefix>${STATE_MACHINE_NAME_SEPARATOR}<flow>, so the prefix may not contain "${STATE_MACHINE_NAME_SEPARATOR}")`);
  }
  return prefix;
}

/** Step Functions support of a Metaflow deployment, created here or imported. */
export interface IMetaflowStepFunctionsSupport {
  /** Metaflow's SFN_STATE_MACHINE_PREFIX (without the separator). */
  readonly stateMachinePrefix: string;
  /** The role state machines run as (Metaflow's SFN_IAM_ROLE). */
  readonly stateMachineRole: iam.IRole;
  /** The role EventBridge schedules use (Metaflow's EVENTS_SFN_ACCESS_IAM_ROLE). */
  readonly eventsRole: iam.IRole;
  /** The foreach-join table (Metaflow's SFN_DYNAMO_DB_TABLE). */
  readonly table: dynamodb.ITable;
  /** ARN of the execution-history log group (Metaflow's SFN_EXECUTION_LOG_GROUP_ARN). */
  readonly logGroupArn: string;
  /** ARN pattern of this deployment's state machines: `…:stateMachine:<prefix>_*`. */
  readonly stateMachineArnPattern: string;
  /** ARN pattern of their executions: `…:execution:<prefix>_*`. */
  readonly executionArnPattern: string;
  /** ARN pattern of the EventBridge schedule rules of these state machines: `…:rule/<prefix>_*`. */
  readonly eventRuleArnPattern: string;
  /**
   * Let `grantee` deploy, trigger and watch this deployment's flows on Step Functions: create,
   * update, delete, describe and start `<prefix>_*` state machines, describe/stop their
   * executions and read their history, manage `<prefix>_*` EventBridge schedule rules, and pass
   * the state machine role to Step Functions and the EventBridge role to EventBridge only.
   */
  grantDeployFlows(grantee: iam.IGrantable): iam.Grant;
}

/** Attributes to import existing Step Functions support. */
export interface MetaflowStepFunctionsSupportAttributes {
  /** Metaflow's SFN_STATE_MACHINE_PREFIX. */
  readonly stateMachinePrefix: string;
  /** ARN of the role state machines run as. */
  readonly stateMachineRoleArn: string;
  /** ARN of the EventBridge role. */
  readonly eventsRoleArn: string;
  /** Name of the foreach-join DynamoDB table. */
  readonly tableName: string;
  /** ARN of the execution-history log group. */
  readonly logGroupArn: string;
}

abstract class StepFunctionsSupportBase extends Construct implements IMetaflowStepFunctionsSupport {
  abstract readonly stateMachinePrefix: string;
  abstract readonly stateMachineRole: iam.IRole;
  abstract readonly eventsRole: iam.IRole;
  abstract readonly table: dynamodb.ITable;
  abstract readonly logGroupArn: string;

  get stateMachineArnPattern(): string {
    return this.namePattern('stateMachine', ArnFormat.COLON_RESOURCE_NAME);
  }

  get executionArnPattern(): string {
    return this.namePattern('execution', ArnFormat.COLON_RESOURCE_NAME);
  }

  get eventRuleArnPattern(): string {
    return this.namePattern('rule', ArnFormat.SLASH_RESOURCE_NAME);
  }

  grantDeployFlows(grantee: iam.IGrantable): iam.Grant {
    const stateMachines = this.stateMachineArnPattern;
    const executions = this.executionArnPattern;
    const rules = this.eventRuleArnPattern;
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      acknowledge(grantee.grantPrincipal, [stateMachines, executions, rules].map((arn) => wildcardResourceFinding(this, arn)),
        'State machines (and their schedule rules and executions) are created per flow at run time; access is limited to this deployment\'s <prefix>_ names.');
      acknowledge(grantee.grantPrincipal, [wildcardResourceFinding(this, '*')],
        'states:ListStateMachines supports no resource-level permissions (AWS Service Authorization Reference).');
    }
    const passRole = (role: iam.IRole, service: string) => iam.Grant.addToPrincipal({
      grantee,
      actions: ['iam:PassRole'],
      resourceArns: [role.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': service } },
    });
    return [
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['states:CreateStateMachine', 'states:UpdateStateMachine', 'states:DeleteStateMachine', 'states:DescribeStateMachine',
          'states:StartExecution', 'states:ListExecutions', 'states:TagResource', 'states:ListTagsForResource'],
        resourceArns: [stateMachines],
      }),
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['states:DescribeExecution', 'states:StopExecution', 'states:GetExecutionHistory'],
        resourceArns: [executions],
      }),
      iam.Grant.addToPrincipal({ grantee, actions: ['states:ListStateMachines'], resourceArns: ['*'] }),
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['events:PutRule', 'events:DeleteRule', 'events:DescribeRule', 'events:EnableRule', 'events:DisableRule',
          'events:PutTargets', 'events:RemoveTargets', 'events:ListTargetsByRule'],
        resourceArns: [rules],
      }),
      // CreateStateMachine passes the execution role to Step Functions; PutTargets passes the
      // schedule's role to EventBridge.
      passRole(this.stateMachineRole, 'states.amazonaws.com'),
      passRole(this.eventsRole, 'events.amazonaws.com'),
    ].reduce((all, g) => all.combine(g));
  }

  private namePattern(resource: string, arnFormat: ArnFormat): string {
    return Stack.of(this).formatArn({
      service: resource === 'rule' ? 'events' : 'states',
      resource,
      resourceName: `${stateMachineName(this.stateMachinePrefix, '')}*`,
      arnFormat,
    });
  }
}

/**
 * What Metaflow (and this project's compiler) needs to run flows on AWS Step Functions: the
 * DynamoDB table foreach joins use (partition key `pathspec`, TTL `ttl`), the role state
 * machines run as (Batch jobs on this stack's queues only, the managed rule `.sync` needs, the
 * datastore, the table, log delivery), the EventBridge role that starts only this deployment's
 * state machines, and a log group for execution history. The Batch job role gains access to
 * the table.
 */
export class MetaflowStepFunctionsSupport extends StepFunctionsSupportBase {
  /** Import existing Step Functions support (roles, table, log group) by name and ARN. */
  public static fromAttributes(scope: Construct, id: string, attrs: MetaflowStepFunctionsSupportAttributes): IMetaflowStepFunctionsSupport {
    class Import extends StepFunctionsSupportBase {
      readonly stateMachinePrefix = checkStateMachinePrefix(this, attrs.stateMachinePrefix);
      readonly stateMachineRole = iam.Role.fromRoleArn(this, 'StateMachineRole', attrs.stateMachineRoleArn, { mutable: false });
      readonly eventsRole = iam.Role.fromRoleArn(this, 'EventsRole', attrs.eventsRoleArn, { mutable: false });
      readonly table = dynamodb.Table.fromTableName(this, 'Table', attrs.tableName);
      readonly logGroupArn = attrs.logGroupArn;
    }
    return new Import(scope, id);
  }

  /** The DynamoDB table Metaflow's Step Functions integration keeps foreach state in (SFN_DYNAMO_DB_TABLE). */
  public readonly table: dynamodb.Table;
  /** The role state machines run as (Metaflow's SFN_IAM_ROLE). */
  public readonly stateMachineRole: iam.Role;
  /** The role EventBridge schedules use (Metaflow's EVENTS_SFN_ACCESS_IAM_ROLE). */
  public readonly eventsRole: iam.Role;
  /** Execution history (Metaflow's SFN_EXECUTION_LOG_GROUP_ARN). */
  public readonly logGroup: logs.LogGroup;
  /** Metaflow's SFN_STATE_MACHINE_PREFIX (without the separator). */
  public readonly stateMachinePrefix: string;

  constructor(scope: Construct, id: string, props: MetaflowStepFunctionsSupportProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.stateMachinePrefix = checkStateMachinePrefix(this, props.stateMachinePrefix ?? stack.stackName);

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
      description: 'Metaflow state machines: Batch jobs on this stack\'s queues, datastore, foreach table, logs, traces',
    });
    // Compiled machines only submit jobs (batch:submitJob.sync); the deployer registers their job
    // definitions, so no RegisterJobDefinition and no iam:PassRole here.
    props.compute.grantRunJobs(this.stateMachineRole);
    props.datastore.grantReadWrite(this.stateMachineRole);
    this.table.grant(this.stateMachineRole, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
    const syncRule = stack.formatArn({ service: 'events', resource: 'rule', resourceName: BATCH_SYNC_EVENTS_RULE });
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [syncRule],
    }));
    // A nested foreach runs its outer children as a Distributed Map: child executions of the
    // state machine itself ("IAM policies for using Distributed Map states", Step Functions
    // developer guide). Only this deployment's machines and their executions.
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArnPattern] }));
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:StopExecution'], resources: [this.executionArnPattern] }));
    acknowledge(this.stateMachineRole, [this.stateMachineArnPattern, this.executionArnPattern].map((arn) => wildcardResourceFinding(this, arn)),
      'A nested foreach starts, watches and stops child executions of the flow\'s own state machine (a Distributed Map); state machines are created per flow at run time, named with this deployment\'s prefix.');
    // Log delivery APIs take no resource ARNs (Step Functions logging documentation).
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({
      actions: [
        'logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups',
      ],
      resources: ['*'],
    }));
    // The deployer turns X-Ray tracing on; the state machine role sends the traces (Step Functions
    // "IAM policies for AWS X-Ray"). These X-Ray actions take no resource ARNs.
    this.stateMachineRole.addToPolicy(new iam.PolicyStatement({
      actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
      resources: ['*'],
    }));
    acknowledge(this.stateMachineRole, [wildcardResourceFinding(this, '*')],
      'The CloudWatch Logs delivery APIs Step Functions logging calls and the X-Ray trace upload it makes with tracing on support no resource-level permissions.');

    const stateMachines = this.stateMachineArnPattern;
    this.eventsRole = new iam.Role(this, 'EventsRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: `EventBridge schedules: start only ${stateMachineName(this.stateMachinePrefix, '')}* state machines`,
    });
    this.eventsRole.addToPolicy(new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [stateMachines] }));
    acknowledge(this.eventsRole, [wildcardResourceFinding(this, stateMachines)],
      'State machines are created per flow at run time; schedules may start only those named with this deployment\'s prefix.');

    this.table.grant(props.compute.jobRole, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem');
  }

  /** ARN of the execution-history log group (Metaflow's SFN_EXECUTION_LOG_GROUP_ARN). */
  get logGroupArn(): string {
    return this.logGroup.logGroupArn;
  }
}

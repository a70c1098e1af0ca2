import { existsSync, statSync } from 'node:fs';
import { ArnFormat, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct, IConstruct } from 'constructs';
import { UserInputError } from '../../runner/errors';
import { Flow, FlowTrigger, isFlow } from '../../runner/flow/model';
import { resolveParameters } from '../../runner/flow/parameters';
import { FlowGraph, validateFlow } from '../../runner/flow/validate';
import { compileFlow } from '../../runner/sfn/compiler';
import type { CompiledFlow, QueuePlatform } from '../../runner/sfn/compiler/types';
import type { AslDefinition } from '../../runner/sfn/deploy';
import { flowStateMachineName, scheduleRuleName } from '../../runner/sfn/names';
import { IMetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { IMetaflowMetadataService } from '../metadata/metaflow-metadata-service';
import { graphInfoPackageFile } from '../../runner/metadata/graph-info';
import { currentUser } from '../../runner/config/user';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { invalidProp } from '../validation';
import { CompileStandIns } from './compile-stand-ins';
import { DefinitionNeeds, definitionNeeds } from './definition-needs';
import { FlowCodePackage, FlowCodePackageSource } from './flow-code-package';
import { FlowJobDefinition } from './flow-job-definition';
import { addTriggerRules, dropRoleDependsOn, RunStatusRecorder } from './flow-event-rules';
import { datastoreLoopProblem, triggerProblems, unsetParameterProblems } from '../../runner/sfn/triggers';
import {
  BATCH_SYNC_EVENTS_RULE,
  IMetaflowStepFunctionsSupport,
  MetaflowStepFunctionsSupport,
} from './metaflow-step-functions-support';
import { STATE_MACHINE_NAME_SEPARATOR, STATE_MACHINE_PREFIX_PATTERN } from '../../core/state-machine-names';
import { fairShareWithoutTeamProblem, teamNameProblem } from '../../core/teams';
import { SCHEDULING_PRIORITY_RANGE } from '../../runner/policy/batch';

/** A flow deployed as a Step Functions state machine, created here or imported. */
export interface IFlowStateMachine extends IConstruct {
  /** The flow's name. */
  readonly flowName: string;
  /** Metaflow's SFN_STATE_MACHINE_PREFIX the state machine is named under. */
  readonly stateMachinePrefix: string;
  /** `<prefix>_<flow>`. */
  readonly stateMachineName: string;
  /** ARN of the state machine. */
  readonly stateMachineArn: string;
  /** The state machine (for metrics and the other grants of aws-stepfunctions). */
  readonly stateMachine: sfn.IStateMachine;
  /** Let `grantee` start executions (runs) of the flow. */
  grantStartExecution(grantee: iam.IGrantable): iam.Grant;
  /** Let `grantee` read the state machine, its executions and their history. */
  grantRead(grantee: iam.IGrantable): iam.Grant;
  /** Let `grantee` perform `actions` (e.g. `states:StopExecution`) on the flow's executions. */
  grantExecution(grantee: iam.IGrantable, ...actions: string[]): iam.Grant;
}

/** Properties of a {@link FlowStateMachine}. */
export interface FlowStateMachineProps {
  /** The flow (from `defineFlow`), validated and compiled with the compiler `metaflow-cdk sfn compile` uses. */
  readonly flow: Flow;

  /** The datastore: tasks read and write under its sysroot (Metaflow's DATASTORE_SYSROOT_S3). */
  readonly datastore: IMetaflowDatastore;

  /**
   * The Batch compute layer (created, or imported with `MetaflowBatchCompute.fromAttributes`):
   * the default of every queue and role below.
   *
   * @default - none: give `jobQueue` (and the roles the steps need)
   */
  readonly compute?: IMetaflowBatchCompute;

  /**
   * The queue of steps without GPUs and without a queue of their own (Metaflow's BATCH_JOB_QUEUE).
   *
   * @default - `compute.defaultQueue`
   */
  readonly jobQueue?: batch.IJobQueue;

  /**
   * The queue of steps with `resources.gpu > 0`.
   *
   * @default - `compute.gpuQueue`, else the default queue
   */
  readonly gpuJobQueue?: batch.IJobQueue;

  /**
   * The queue whose compute environments are Fargate: steps sent to it get Fargate job
   * definitions (give it as `jobQueue` too when every step runs on Fargate).
   *
   * @default - `compute.fargateQueue`; without one every queue is EC2
   */
  readonly fargateJobQueue?: batch.IJobQueue;

  /**
   * The team whose share the flow's jobs use on fair-share queues: every SubmitJob state of a step
   * on one carries `ShareIdentifier` (this) and `SchedulingPriorityOverride` (the step's
   * `batch.schedulingPriority`, else `schedulingPriority`), and every job the `metaflow.team` tag.
   * A fair-share queue refuses jobs without a share and a FIFO queue jobs with one, so the queues
   * must be known: a queue created with a scheduling policy (e.g. a `MetaflowTeams` team queue) is
   * seen as fair-share; an imported one only when listed in `fairShareJobQueues`. For a team's
   * flow give its `jobQueue`, `jobRole` and `datastore` too (`MetaflowTeams.teams`).
   *
   * @default - the flow's `team`; without one, no fair-share queue may be used
   */
  readonly team?: string;

  /**
   * SchedulingPriorityOverride of steps without their own `batch.schedulingPriority` on
   * fair-share queues: 0–9999, higher runs first among the team's jobs.
   *
   * @default 0
   */
  readonly schedulingPriority?: number;

  /**
   * Imported queues that have a fair-share scheduling policy (an imported `IJobQueue` does not
   * say): steps on them carry the team's share.
   *
   * @default - only queues created here with a scheduling policy are fair-share
   */
  readonly fairShareJobQueues?: batch.IJobQueue[];

  /**
   * The role job containers assume (Metaflow's ECS_S3_ACCESS_IAM_ROLE).
   *
   * @default - `compute.jobRole`; without compute, none
   */
  readonly jobRole?: iam.IRole;

  /**
   * The Fargate task execution role (Metaflow's ECS_FARGATE_EXECUTION_ROLE), needed by Fargate steps.
   *
   * @default - `compute.fargateExecutionRole`
   */
  readonly fargateExecutionRole?: iam.IRole;

  /**
   * Step Functions support (created, or imported with `MetaflowStepFunctionsSupport.fromAttributes`):
   * the state machine prefix, the execution-history log group and the schedule's EventBridge role.
   *
   * @default - none: the prefix, log group and schedule role below
   */
  readonly support?: IMetaflowStepFunctionsSupport;

  /**
   * Prefix of the state machine's name `<prefix>_<flow>` (Metaflow's SFN_STATE_MACHINE_PREFIX):
   * 1–40 letters, digits or "-". Only without `support`, whose prefix is used otherwise.
   *
   * @default - the stack name
   */
  readonly stateMachinePrefix?: string;

  /**
   * The role the state machine runs as. It is granted what the compiled definition calls (see
   * the docs); an immutable imported role must already allow that.
   *
   * @default - a role that may do exactly what the definition calls
   */
  readonly role?: iam.IRole;

  /**
   * Where execution history is logged.
   *
   * @default - the support's log group; without support, a log group created here (retention one year)
   */
  readonly logGroup?: logs.ILogGroup;

  /**
   * What is logged: `ALL`, `ERROR` or `FATAL` (logging cannot be turned off).
   *
   * @default sfn.LogLevel.ALL
   */
  readonly logLevel?: sfn.LogLevel;

  /**
   * Log execution data (inputs and outputs of states, which include the flow's parameters: turn
   * it off for flows that take secrets).
   *
   * @default true
   */
  readonly includeExecutionData?: boolean;

  /**
   * Values of the flow's parameters, written as `--param name=value` takes them, that replace the
   * flow's defaults in the definition; an execution's input still wins.
   *
   * @default - the flow's defaults
   */
  readonly parameters?: Readonly<Record<string, string>>;

  /**
   * Start the flow on this schedule (an EventBridge rule named like the state machine, whose
   * target passes `{}` as the input, so scheduled runs use `parameters` and the flow's defaults).
   *
   * @default - no schedule
   */
  readonly schedule?: events.Schedule;

  /**
   * The role EventBridge starts scheduled runs with.
   *
   * @default - the support's events role; without support, a role created for the target
   */
  readonly scheduleRole?: iam.IRole;

  /**
   * What deleting the stack does to the state machine, its job definitions and schedule, and
   * the log group created here. `SNAPSHOT` does not apply.
   *
   * @default - RemovalPolicy.DESTROY, except a log group created here, which is retained
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Give Fargate jobs a public IP: needed where the compute environments' subnets are public with
   * no NAT (MetaflowStack's `-c computeSubnets=public`, which publishes BATCH_ASSIGN_PUBLIC_IP;
   * `MetaflowNetwork.computeNeedsPublicIp`), or a Fargate task cannot pull its image. A step's own
   * `batch.assignPublicIp` wins.
   *
   * @default false
   */
  readonly assignPublicIp?: boolean;

  /**
   * Register every run with this Metaflow metadata service from inside its jobs, so the Metaflow UI
   * and client show the runs: each job's task runtime calls the service's internal URL (Metaflow's
   * SERVICE_INTERNAL_URL, as Metaflow's `@batch` jobs do; no API key), and the code package
   * carries the flow's graph for the UI (docs/metadata-service.md, "Step Functions runs"). The
   * jobs' security group must reach it: `metadataService.allowInternalClients(…)` (MetaflowStack
   * does so for its compute environments).
   *
   * @default - runs are not registered
   */
  readonly metadataService?: IMetaflowMetadataService;

  /**
   * The runs' `user:<name>` in the metadata service (with `metadataService`).
   *
   * @default - METAFLOW_USER, else the OS user who synthesizes the app
   */
  readonly metadataUser?: string;

  /**
   * The flow's code package, which every job's loader downloads and unpacks as the task's working
   * directory: a tgz built beforehand (`file`), shipped as a file asset and copied at deploy to its
   * content-addressed key in the datastore (`<sysroot>/<flow>/data/<sha[:2]>/<sha1>`), because job
   * roles cannot read the CDK bootstrap bucket. Leave `file` unset for flows whose steps use only
   * their image: a package of the task runtime alone is packed at synth.
   *
   * @default - a package of the task runtime alone, packed at synth and copied at deploy
   */
  readonly codePackage?: FlowCodePackageSource;

  /**
   * A code package already in the datastore (`s3://<bucket>/…/<sha1>`, e.g. what `metaflow-cdk
   * run --compute batch` stored); nothing is shipped or copied. Not with `codePackage`.
   *
   * @default - `codePackage`
   */
  readonly codePackageUrl?: string;

  /**
   * Events that start the flow, besides the flow's own `triggers` field: an S3 object created
   * under a prefix (the bucket must send events to EventBridge; the stack's datastore bucket
   * does), another flow deployed under the same prefix succeeding, or a custom EventBridge event,
   * each with event fields mapped to parameters (runner/sfn/triggers.ts). Each is an EventBridge
   * rule whose target role may start this state machine only.
   *
   * @default - the flow's own triggers only
   */
  readonly triggers?: readonly FlowTrigger[];

  /**
   * Record the final status of runs that end outside their own states (stopped, timed out,
   * failed outside the run record's Catch): an EventBridge rule on this state machine's status
   * change events starts a small Express state machine that writes it into the run record.
   * Delivery is best-effort; `runs` and `show` reconcile such runs anyway.
   *
   * @default true
   */
  readonly recordRunStatus?: boolean;
}

/** Attributes to import a flow's state machine by name. */
export interface FlowStateMachineAttributes {
  /** The flow's name. */
  readonly flowName: string;
  /**
   * Metaflow's SFN_STATE_MACHINE_PREFIX.
   *
   * @default - the support's prefix
   */
  readonly stateMachinePrefix?: string;
  /**
   * Step Functions support the flow was deployed with.
   *
   * @default - none: give stateMachinePrefix
   */
  readonly support?: IMetaflowStepFunctionsSupport;
}

const LOG_LEVELS: readonly sfn.LogLevel[] = [sfn.LogLevel.ALL, sfn.LogLevel.ERROR, sfn.LogLevel.FATAL];
const REMOVAL_POLICIES: readonly RemovalPolicy[] = [RemovalPolicy.DESTROY, RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE];

abstract class FlowStateMachineBase extends Construct implements IFlowStateMachine {
  abstract readonly flowName: string;
  abstract readonly stateMachinePrefix: string;
  abstract readonly stateMachineName: string;
  abstract readonly stateMachine: sfn.IStateMachine;

  get stateMachineArn(): string {
    return this.stateMachine.stateMachineArn;
  }

  grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    return sfn.StateMachineGrants.fromStateMachine(this.stateMachine).startExecution(grantee);
  }

  grantRead(grantee: iam.IGrantable): iam.Grant {
    return sfn.StateMachineGrants.fromStateMachine(this.stateMachine).read(grantee);
  }

  grantExecution(grantee: iam.IGrantable, ...actions: string[]): iam.Grant {
    return sfn.StateMachineGrants.fromStateMachine(this.stateMachine).execution(grantee, ...actions);
  }
}

/**
 * A flow deployed as an AWS Step Functions state machine inside a CDK app, compiled by the same
 * compiler as `metaflow-cdk sfn deploy`: one `AWS::Batch::JobDefinition` per compiled job
 * definition (named `metaflow_…`, the prefix the stack's grants allow), the state machine
 * `<prefix>_<flow>` (logging to the support's log group, X-Ray tracing on) whose role may do
 * exactly what the definition calls, and an optional EventBridge schedule.
 */
export class FlowStateMachine extends FlowStateMachineBase {
  /** Import the state machine of a flow deployed under a prefix (`<prefix>_<flow>` in this stack's account and region). */
  public static fromFlowName(scope: Construct, id: string, attrs: FlowStateMachineAttributes): IFlowStateMachine {
    return new ImportedFlowStateMachine(scope, id, attrs);
  }

  /** Import a flow's state machine by ARN; its name must be `<prefix>_<flow>`. */
  public static fromStateMachineArn(scope: Construct, id: string, stateMachineArn: string): IFlowStateMachine {
    return new ImportedFlowStateMachine(scope, id, { stateMachineArn });
  }

  /** The flow's name. */
  public readonly flowName: string;
  /** Metaflow's SFN_STATE_MACHINE_PREFIX. */
  public readonly stateMachinePrefix: string;
  /** `<prefix>_<flow>`. */
  public readonly stateMachineName: string;
  /** The state machine. */
  public readonly stateMachine: sfn.StateMachine;
  /** The role the state machine runs as. */
  public readonly role: iam.IRole;
  /** The job definitions its Batch tasks submit, one per compiled job definition, in compiler order. */
  public readonly jobDefinitions: readonly batch.CfnJobDefinition[];
  /** Where execution history is logged. */
  public readonly logGroup: logs.ILogGroup;
  /** The schedule, when there is one. */
  public readonly scheduleRule?: events.Rule;
  /** One EventBridge rule per trigger (the flow's own, then the `triggers` prop's). */
  public readonly triggerRules: readonly events.Rule[];
  /** The status rule and run status recorder (unless `recordRunStatus` is false). */
  public readonly runStatusRecorder?: RunStatusRecorder;
  /** The deployed definition (ASL), with CDK tokens where deploy-time values go. */
  public readonly definition: AslDefinition;
  /** The code package shipped with the flow and copied into the datastore at deploy (none with `codePackageUrl`). */
  public readonly codePackage?: FlowCodePackage;

  constructor(scope: Construct, id: string, props: FlowStateMachineProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const graph = this.checkFlow(props);
    const flow = graph.flow;
    const datastore = props.datastore ?? invalidProp(this, 'datastore', props.datastore, 'a datastore (IMetaflowDatastore)');
    const compute = props.compute;
    const jobQueue = props.jobQueue ?? compute?.defaultQueue
      ?? invalidProp(this, 'jobQueue', props.jobQueue, 'a job queue when no compute layer is given');
    const gpuJobQueue = props.gpuJobQueue ?? compute?.gpuQueue;
    const fargateJobQueue = props.fargateJobQueue ?? compute?.fargateQueue;
    const jobRole = props.jobRole ?? compute?.jobRole;
    const fargateExecutionRole = props.fargateExecutionRole ?? compute?.fargateExecutionRole;
    const support = props.support;
    const removalPolicy = this.checkRemovalPolicy(props.removalPolicy);
    const logLevel = props.logLevel ?? sfn.LogLevel.ALL;
    if (!LOG_LEVELS.includes(logLevel)) invalidProp(this, 'logLevel', logLevel, `one of ${LOG_LEVELS.join(', ')} (logging stays on)`);
    if (props.includeExecutionData !== undefined && typeof props.includeExecutionData !== 'boolean') {
      invalidProp(this, 'includeExecutionData', props.includeExecutionData, 'true or false');
    }
    if (props.schedule !== undefined && !(props.schedule instanceof events.Schedule)) {
      invalidProp(this, 'schedule', props.schedule, 'an events.Schedule (Schedule.cron(…), Schedule.rate(…) or Schedule.expression(…))');
    }
    if (support && props.stateMachinePrefix !== undefined) {
      invalidProp(this, 'stateMachinePrefix', props.stateMachinePrefix, 'left unset when support is given (the support\'s prefix names the state machine)');
    }
    const params = this.checkParameters(flow, props.parameters, props.schedule !== undefined);
    let metadataUser = props.metadataUser;
    if (props.metadataService && metadataUser === undefined) {
      try {
        metadataUser = currentUser(process.env);
      } catch (err) {
        invalidProp(this, 'metadataUser', metadataUser, `set when the user synthesizing the app cannot be told (${(err as Error).message})`);
      }
    }
    if (props.metadataUser !== undefined && (typeof props.metadataUser !== 'string' || !/^[^\s,:/]{1,64}$/.test(props.metadataUser))) {
      invalidProp(this, 'metadataUser', props.metadataUser, 'a user name of 1–64 characters without spaces, commas, colons or slashes (it becomes the runs\' user:<name> tag)');
    }
    if (props.metadataUser !== undefined && !props.metadataService) {
      invalidProp(this, 'metadataUser', props.metadataUser, 'left unset without metadataService (only registered runs carry a user)');
    }

    this.flowName = flow.name;
    this.stateMachinePrefix = support?.stateMachinePrefix ?? props.stateMachinePrefix ?? stack.stackName;
    this.stateMachineName = this.checkName(this.stateMachinePrefix, flow.name);

    if (props.codePackage !== undefined && props.codePackageUrl !== undefined) {
      invalidProp(this, 'codePackageUrl', props.codePackageUrl, 'left unset when codePackage is given (one code package per flow)');
    }
    if (props.codePackageUrl !== undefined && (typeof props.codePackageUrl !== 'string' || !/^s3:\/\/[^/]+\/.*[0-9a-f]{40}$/.test(props.codePackageUrl))) {
      invalidProp(this, 'codePackageUrl', props.codePackageUrl, 'the S3 URL of a code package, ending in its sha1 (s3://bucket/<sysroot>/<flow>/data/<sha[:2]>/<sha1>)');
    }
    const source = props.codePackage;
    if (source !== undefined && (typeof source !== 'object' || source === null
      || (source.file !== undefined && (typeof source.file !== 'string' || !existsSync(source.file)))
      || (source.directory !== undefined && (typeof source.directory !== 'string' || !existsSync(source.directory) || !statSync(source.directory).isDirectory()))
      || (source.file !== undefined && source.directory !== undefined))) {
      invalidProp(this, 'codePackage', props.codePackage, '{ directory: an existing folder to pack } or { file: an existing code package tgz }, not both');
    }
    /** The package shipped and copied here (none with codePackageUrl). */
    this.codePackage = props.codePackageUrl === undefined
      ? new FlowCodePackage(this, 'CodePackage', {
        datastore,
        flowName: flow.name,
        source: props.codePackage ?? {},
        // With a metadata service, the start job registers the flow's graph (_graph_info) from the package.
        runtimeFiles: props.metadataService ? graphInfoPackageFile(graph) : undefined,
      })
      : undefined;
    const codePackageUrl = props.codePackageUrl ?? this.codePackage!.url;

    // Compile with stand-ins for deploy-time values, then put the values back.
    const standIns = new CompileStandIns(this);
    const fargateStandIn = fargateJobQueue ? standIns.jobQueue(fargateJobQueue.jobQueueArn) : undefined;
    const fairShare = this.fairShareQueues(props, [jobQueue, gpuJobQueue, fargateJobQueue], standIns, flow);
    let compiled: CompiledFlow;
    try {
      compiled = compileFlow(graph, {
        queue: standIns.jobQueue(jobQueue.jobQueueArn),
        gpuQueue: gpuJobQueue ? standIns.jobQueue(gpuJobQueue.jobQueueArn) : undefined,
        // A step may name the Fargate queue itself (`batch: { queue: compute.fargateQueue.jobQueueArn }`).
        platformOf: (queue: string): QueuePlatform => (fargateJobQueue && [fargateStandIn, fargateJobQueue.jobQueueArn].includes(queue) ? 'FARGATE' : 'EC2'),
        jobRoleArn: jobRole ? standIns.roleArn(jobRole.roleArn) : undefined,
        executionRoleArn: fargateExecutionRole ? standIns.roleArn(fargateExecutionRole.roleArn) : undefined,
        datastoreRoot: `s3://${standIns.bucketName(datastore.bucket.bucketName)}/${datastore.sysrootPrefix}`,
        partition: standIns.partition(stack.partition),
        params,
        assignPublicIp: props.assignPublicIp,
        fairShare: (queue: string) => fairShare.has(queue),
        team: props.team,
        schedulingPriority: props.schedulingPriority,
        codePackageUrl: codePackageUrl.replace(datastore.bucket.bucketName, standIns.bucketName(datastore.bucket.bucketName)),
        metadata: props.metadataService ? { url: standIns.url(props.metadataService.internalUrl), user: metadataUser! } : undefined,
      });
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      invalidProp(this, 'flow', flow.name, `a flow the Step Functions compiler accepts (${err.message})`);
    }
    const restored = standIns.restore({ definition: compiled.definition, jobDefinitions: compiled.jobDefinitions });
    const leftovers = standIns.leftovers(restored);
    if (leftovers.length > 0) {
      throw new Error(`${this.node.path}: the compiled flow ${JSON.stringify(flow.name)} uses ${leftovers.join(', ')}, a value cut out of a deploy-time ARN or name that cannot be put back`);
    }

    const jobDefinitions = restored.jobDefinitions.map((input, i) => new FlowJobDefinition(this, `JobDefinition${i}`, input, removalPolicy ?? RemovalPolicy.DESTROY));
    this.jobDefinitions = jobDefinitions;
    // Tasks submit the exact revision deployed with this definition (`Ref` is the ARN with its revision).
    const refs = new Map(restored.jobDefinitions.map((input, i) => [input.jobDefinitionName!, jobDefinitions[i].ref]));
    this.definition = replaceStrings(restored.definition, refs) as AslDefinition;
    let needs: DefinitionNeeds;
    try {
      needs = definitionNeeds(this.definition);
    } catch (err) {
      throw new Error(`${this.node.path}: the compiled definition of flow ${JSON.stringify(flow.name)} cannot be given least privilege: ${(err as Error).message}`);
    }
    const unknown = needs.jobDefinitions.filter((d) => ![...refs.values()].includes(d));
    if (unknown.length > 0) {
      throw new Error(`${this.node.path}: the compiled definition submits job definitions it does not define: ${unknown.join(', ')}`);
    }

    this.logGroup = props.logGroup ?? this.supportLogGroup(support) ?? new logs.LogGroup(this, 'ExecutionLogs', {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: removalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(this.definition)),
      role: props.role,
      logs: { destination: this.logGroup, level: logLevel, includeExecutionData: props.includeExecutionData ?? true },
      tracingEnabled: true,
      removalPolicy: removalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.role = this.stateMachine.role;
    // No execution may start before its jobs' code package is where their loader looks.
    if (this.codePackage) this.stateMachine.node.addDependency(this.codePackage.copy);
    this.dropRoleDependsOn();
    this.grantDefinitionNeeds(needs, datastore);

    if (props.schedule) {
      this.scheduleRule = new events.Rule(this, 'Schedule', {
        ruleName: this.checkScheduleName(this.stateMachineName, props.schedule.expressionString),
        description: `Runs flow ${flow.name} (${this.stateMachineName})`,
        schedule: props.schedule,
        targets: [new targets.SfnStateMachine(this.stateMachine, {
          role: props.scheduleRole ?? support?.eventsRole,
          input: events.RuleTargetInput.fromObject({}),
        })],
      });
      this.scheduleRule.applyRemovalPolicy(removalPolicy ?? RemovalPolicy.DESTROY);
    }

    const triggers = [...(flow.triggers ?? []), ...this.checkTriggers(flow, props, datastore)];
    this.triggerRules = addTriggerRules(this, this.stateMachine, flow, this.stateMachinePrefix, triggers, removalPolicy ?? RemovalPolicy.DESTROY);
    if (props.recordRunStatus !== undefined && typeof props.recordRunStatus !== 'boolean') invalidProp(this, 'recordRunStatus', props.recordRunStatus, 'true or false');
    if (props.recordRunStatus !== false) {
      this.runStatusRecorder = new RunStatusRecorder(this, 'RunStatus', {
        flow: flow.name,
        machine: this.stateMachine,
        datastore,
        logGroup: this.logGroup,
        includeExecutionData: props.includeExecutionData ?? true,
        removalPolicy: removalPolicy ?? RemovalPolicy.DESTROY,
      });
    }
  }

  /** The `triggers` prop checked (each trigger, a prefix inside the datastore root, parameters left unset), one line for the first bad one. */
  private checkTriggers(flow: Flow, props: FlowStateMachineProps, datastore: IMetaflowDatastore): readonly FlowTrigger[] {
    const given = props.triggers ?? [];
    if (!Array.isArray(given)) invalidProp(this, 'triggers', given, 'a list of triggers ({s3}, {flow} or {event})');
    const valued = new Set(Object.keys(props.parameters ?? {}));
    const root = { bucket: datastore.bucket.bucketName, prefix: datastore.sysrootPrefix };
    const all = [...(flow.triggers ?? []).map((t, i) => [`flow triggers[${i}]`, t, false] as const), ...given.map((t, i) => [`triggers[${i}]`, t, true] as const)];
    for (const [where, trigger, own] of all) {
      const problems = own ? triggerProblems(where, trigger, flow) : [];
      if (problems.length === 0) {
        const loop = datastoreLoopProblem(where, trigger, root);
        problems.push(...(loop ? [loop] : []), ...unsetParameterProblems(where, trigger, flow, valued));
      }
      if (problems.length > 0) invalidProp(this, own ? 'triggers' : 'flow', trigger, `a trigger that can start the flow (${problems.join('; ')})`);
    }
    return given;
  }

  /**
   * sfn.StateMachine makes the state machine depend on its role (and the role's policy); the
   * role's is implied by `RoleArn`'s GetAtt and cfn-lint warns about it (W3005). The policy's stays,
   * so the state machine is created only once its role may do what the definition calls.
   */
  private dropRoleDependsOn(): void {
    dropRoleDependsOn(this.stateMachine);
  }

  /**
   * The fair-share queues as the compiler sees them (stand-ins and ARNs), after the team props
   * are checked: a fair-share queue without a team is one line here, before anything is compiled.
   */
  private fairShareQueues(props: FlowStateMachineProps, queues: (batch.IJobQueue | undefined)[], standIns: CompileStandIns, flow: Flow): Set<string> {
    if (props.team !== undefined) {
      if (teamNameProblem('team', props.team)) invalidProp(this, 'team', props.team, 'a team name: lowercase letters and digits, starting with a letter, at most 32 (a Batch share identifier)');
    }
    const priority = props.schedulingPriority;
    if (priority !== undefined && (!Number.isInteger(priority) || priority < SCHEDULING_PRIORITY_RANGE.min || priority > SCHEDULING_PRIORITY_RANGE.max)) {
      invalidProp(this, 'schedulingPriority', priority, `a whole number from ${SCHEDULING_PRIORITY_RANGE.min} to ${SCHEDULING_PRIORITY_RANGE.max} (SubmitJob schedulingPriorityOverride)`);
    }
    if (props.fairShareJobQueues !== undefined && (!Array.isArray(props.fairShareJobQueues) || props.fairShareJobQueues.some((q) => typeof q?.jobQueueArn !== 'string'))) {
      invalidProp(this, 'fairShareJobQueues', props.fairShareJobQueues, 'a list of job queues (batch.IJobQueue)');
    }
    const fairShare = [...queues.filter((q): q is batch.IJobQueue => q?.schedulingPolicy !== undefined), ...(props.fairShareJobQueues ?? [])];
    const team = props.team ?? flow.team;
    if (fairShare.length > 0 && team === undefined) {
      invalidProp(this, 'team', team, `a team name, because ${fairShareWithoutTeamProblem([...new Set(fairShare.map((q) => q.node.path))], "give the team prop or set the flow's team")}`);
    }
    // A step may name a queue by its ARN: that string is fair-share too.
    return new Set(fairShare.flatMap((q) => [standIns.jobQueue(q.jobQueueArn), q.jobQueueArn]));
  }

  private checkFlow(props: FlowStateMachineProps): FlowGraph {
    if (!isFlow(props.flow)) invalidProp(this, 'flow', props.flow, 'a flow made with defineFlow()');
    const result = validateFlow(props.flow);
    if (!result.ok) invalidProp(this, 'flow', props.flow.name, `a valid flow (${result.problems.join('; ')})`);
    return result.graph;
  }

  private checkParameters(flow: Flow, given: Readonly<Record<string, string>> | undefined, scheduled: boolean): Record<string, string> | undefined {
    if (given !== undefined && (typeof given !== 'object' || given === null || Array.isArray(given)
      || Object.values(given).some((v) => typeof v !== 'string'))) {
      invalidProp(this, 'parameters', given, 'an object of strings, as --param name=value takes them');
    }
    if (given === undefined && !scheduled) return undefined;
    const { problems } = resolveParameters(flow, Object.entries(given ?? {}).map(([k, v]) => `${k}=${v}`));
    // A parameter without a default may still come from each execution's input, unless runs are scheduled.
    const reported = scheduled ? problems : problems.filter((p) => !/^parameter "[^"]+" has no default/.test(p));
    if (reported.length > 0) invalidProp(this, 'parameters', given, `values the flow accepts (${reported.join('; ')})`);
    return given === undefined ? undefined : { ...given };
  }

  private checkRemovalPolicy(policy: RemovalPolicy | undefined): RemovalPolicy | undefined {
    if (policy !== undefined && !REMOVAL_POLICIES.includes(policy)) {
      invalidProp(this, 'removalPolicy', policy, `one of ${REMOVAL_POLICIES.join(', ')} (state machines and job definitions have no snapshots)`);
    }
    return policy;
  }

  private checkName(prefix: string, flow: string): string {
    if (!Token.isUnresolved(prefix) && !STATE_MACHINE_PREFIX_PATTERN.test(prefix)) {
      invalidProp(this, 'stateMachinePrefix', prefix, `1–40 letters, digits or "-" (the state machine is named <prefix>${STATE_MACHINE_NAME_SEPARATOR}<flow>)`);
    }
    try {
      return flowStateMachineName(prefix, flow);
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      return invalidProp(this, 'flow', flow, `a flow whose state machine name can be formed (${err.message})`);
    }
  }

  private checkScheduleName(name: string, expression: string): string {
    try {
      return scheduleRuleName(name);
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      return invalidProp(this, 'schedule', expression, `left unset: ${err.message}`);
    }
  }

  private supportLogGroup(support: IMetaflowStepFunctionsSupport | undefined): logs.ILogGroup | undefined {
    if (!support) return undefined;
    if (support instanceof MetaflowStepFunctionsSupport) return support.logGroup;
    return logs.LogGroup.fromLogGroupArn(this, 'SupportLogGroup', support.logGroupArn);
  }

  /** The role may do what the definition calls, on the resources it names, and nothing else. */
  private grantDefinitionNeeds(needs: DefinitionNeeds, datastore: IMetaflowDatastore): void {
    const stack = Stack.of(this);
    const allow = (actions: string[], resources: string[], conditions?: Record<string, unknown>) =>
      this.stateMachine.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    const findings: string[] = [];
    const reasons: string[] = [];
    const wildcard = (arn: string, reason: string) => {
      findings.push(wildcardResourceFinding(this, arn));
      reasons.push(reason);
    };

    if (needs.jobQueues.length > 0) {
      const queues = needs.jobQueues.map((q) => (Token.isUnresolved(q) || q.startsWith('arn:')
        ? q
        : stack.formatArn({ service: 'batch', resource: 'job-queue', resourceName: q, arnFormat: ArnFormat.SLASH_RESOURCE_NAME })));
      allow(['batch:SubmitJob'], [...queues, ...needs.jobDefinitions]);
    }
    if (needs.batchJobsWaitedFor) {
      // `.sync` watches the job through a managed EventBridge rule, polls DescribeJobs (no
      // resource-level permissions) and terminates the job when the execution is stopped.
      const jobs = stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
      allow(['batch:DescribeJobs'], ['*']);
      allow(['batch:TerminateJob'], [jobs]);
      allow(['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        [stack.formatArn({ service: 'events', resource: 'rule', resourceName: BATCH_SYNC_EVENTS_RULE })]);
      wildcard(jobs, 'Batch assigns job ids at submission: the state machine terminates the jobs it started when an execution is stopped.');
    }
    if (needs.tagsJobs) {
      const jobs = stack.formatArn({ service: 'batch', resource: 'job', resourceName: '*', arnFormat: ArnFormat.SLASH_RESOURCE_NAME });
      allow(['batch:TagResource'], [jobs]);
      wildcard(jobs, 'SubmitJob with tags is authorized as batch:TagResource on the new job, whose id Batch assigns.');
    }
    if (needs.s3Actions.length > 0) {
      const objects = datastore.bucket.arnForObjects(`${datastore.sysrootPrefix}/*`);
      const objectActions = needs.s3Actions.filter((a) => a !== 's3:ListBucket');
      if (objectActions.length > 0) allow(objectActions, [objects]);
      if (needs.s3Actions.includes('s3:ListBucket')) {
        allow(['s3:ListBucket'], [datastore.bucket.bucketArn], { StringLike: { 's3:prefix': [datastore.sysrootPrefix, `${datastore.sysrootPrefix}/*`] } });
      }
      if (datastore.encryptionKey) {
        const keyActions = [
          ...(objectActions.some((a) => a !== 's3:PutObject' && a !== 's3:DeleteObject') ? ['kms:Decrypt'] : []),
          ...(objectActions.includes('s3:PutObject') ? ['kms:GenerateDataKey'] : []),
        ];
        if (keyActions.length > 0) allow(keyActions, [datastore.encryptionKey.keyArn]);
      }
      wildcard(objects, 'The definition reads and writes run-specific keys under the datastore sysroot only.');
    }
    if (needs.distributedMap) {
      // A distributed Map runs its iterations as child executions of this state machine. Their
      // ARNs are built from the name, so the policy does not depend on the state machine itself.
      const self = stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: this.stateMachineName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
      const executions = [':*', '/*'].map((suffix) =>
        stack.formatArn({ service: 'states', resource: 'execution', resourceName: `${this.stateMachineName}${suffix}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }));
      allow(['states:StartExecution'], [self]);
      allow(['states:DescribeExecution', 'states:StopExecution'], executions);
      executions.forEach((arn) => wildcard(arn, 'A distributed Map starts, watches and stops child executions of this state machine, whose names Step Functions assigns.'));
    }
    // CDK adds the log delivery and X-Ray statements for logging and tracing.
    findings.push(wildcardResourceFinding(this, '*'));
    reasons.push('batch:DescribeJobs, the CloudWatch Logs delivery APIs and X-Ray trace uploads support no resource-level permissions.');
    if (Construct.isConstruct(this.role)) {
      const role = this.role;
      findings.forEach((finding, i) => acknowledge(role, [finding], reasons[i]));
    }
  }
}

/** An imported flow state machine. */
class ImportedFlowStateMachine extends FlowStateMachineBase {
  readonly flowName: string;
  readonly stateMachinePrefix: string;
  readonly stateMachineName: string;
  readonly stateMachine: sfn.IStateMachine;

  constructor(scope: Construct, id: string, attrs: Partial<FlowStateMachineAttributes> & { stateMachineArn?: string }) {
    super(scope, id);
    if (attrs.stateMachineArn !== undefined) {
      const arn = attrs.stateMachineArn;
      const name = typeof arn === 'string' && !Token.isUnresolved(arn) ? /^arn:[^:]+:states:[^:]*:\d{12}:stateMachine:([^:]+)$/.exec(arn)?.[1] : undefined;
      const separator = name?.indexOf(STATE_MACHINE_NAME_SEPARATOR) ?? -1;
      if (!name || separator <= 0 || separator === name.length - 1) {
        invalidProp(this, 'stateMachineArn', arn, `a literal state machine ARN whose name is <prefix>${STATE_MACHINE_NAME_SEPARATOR}<flow>`);
      }
      this.stateMachinePrefix = name.slice(0, separator);
      this.flowName = name.slice(separator + 1);
      this.stateMachineName = name;
      this.stateMachine = sfn.StateMachine.fromStateMachineArn(this, 'StateMachine', arn);
      return;
    }
    if (typeof attrs.flowName !== 'string' || attrs.flowName.length === 0) invalidProp(this, 'flowName', attrs.flowName, 'the name of a flow');
    if (attrs.support && attrs.stateMachinePrefix !== undefined) {
      invalidProp(this, 'stateMachinePrefix', attrs.stateMachinePrefix, 'left unset when support is given');
    }
    const prefix = attrs.support?.stateMachinePrefix ?? attrs.stateMachinePrefix
      ?? invalidProp(this, 'stateMachinePrefix', attrs.stateMachinePrefix, 'the prefix the flow was deployed under (or give support)');
    let name: string;
    try {
      name = flowStateMachineName(prefix, attrs.flowName);
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      invalidProp(this, 'flowName', attrs.flowName, `a flow whose state machine name can be formed (${err.message})`);
    }
    this.flowName = attrs.flowName;
    this.stateMachinePrefix = prefix;
    this.stateMachineName = name;
    this.stateMachine = sfn.StateMachine.fromStateMachineName(this, 'StateMachine', name);
  }
}

/** `value` with every string equal to a key of `replacements` replaced by its value. */
function replaceStrings(value: unknown, replacements: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') return replacements.get(value) ?? value;
  if (Array.isArray(value)) return value.map((v) => replaceStrings(v, replacements));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceStrings(v, replacements)]));
  }
  return value;
}

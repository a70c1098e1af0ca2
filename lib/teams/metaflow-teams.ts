import { ArnFormat, Duration, RemovalPolicy, Stack, Tags, Token } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { MetaflowUserAccess } from '../access/metaflow-user-access';
import { IMetaflowBatchCompute, MetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { DEFAULT_CPU_INSTANCE_TYPE, parseInstanceTypes } from '../compute/instance-types';
import { MetaflowJobQueue } from '../compute/metaflow-job-queue';
import { IMetaflowDatastore, MetaflowDatastore } from '../datastore/metaflow-datastore';
import { IMetaflowMetadataService } from '../metadata/metaflow-metadata-service';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { IMetaflowStepFunctionsSupport } from '../step-functions/metaflow-step-functions-support';
import { invalidProp } from '../validation';
import { TEAM_NAME_PATTERN, TEAM_TAG_KEY, teamRootPrefix, TEAMS_FOLDER } from '../../core/teams';

export { teamRootPrefix, TEAMS_FOLDER, TEAM_TAG_KEY };

/**
 * Limits of a fair-share scheduling policy (AWS Batch API reference, ShareAttributes and
 * FairsharePolicy): a weight factor is 0.0001–999.9999 and LOWER gets MORE (0.125 gets 8 times
 * what 1 gets); at most 500 share identifiers are active in a queue; a share identifier is up to
 * 255 alphanumeric characters; shareDecaySeconds is at most 604,800 (one week); computeReservation
 * is a percentage 0–99.
 */
export const FAIRSHARE_LIMITS = {
  minWeightFactor: 0.0001,
  maxWeightFactor: 999.9999,
  maxShares: 500,
  maxShareDecaySeconds: 604_800,
  maxComputeReservation: 99,
} as const;

/** One team sharing the stack. */
export interface MetaflowTeam {
  /**
   * The team's name: its share identifier in the fair-share policy, its datastore folder and the
   * `metaflow.team` tag. Lowercase letters and digits, starting with a letter, at most 32.
   */
  readonly name: string;

  /**
   * The team's share of the team queues relative to other teams: a team with weight 3 gets three
   * times the vCPUs of a team with weight 1 when both have jobs waiting. AWS's weight factor is the
   * inverse (1/weight). From 1/999.9999 to 10,000 (the factor's range).
   *
   * @default 1
   */
  readonly weight?: number;

  /**
   * Give the team its own compute environment (on-demand EC2, this many vCPUs at most) and its
   * own queue, so its CPU jobs never share hosts with other teams' and it can never use more than
   * this on CPU. ECS-EC2 jobs run with host networking, so a job can reach whatever the host can.
   * GPU steps still go to the shared GPU team queue (the stack's GPU environments).
   *
   * @default - the team shares the stack's environments through the shared team queue
   */
  readonly maxvCpus?: number;
}

/** Properties of {@link MetaflowTeams}. */
export interface MetaflowTeamsProps {
  /** The teams (1–500, names unique). */
  readonly teams: readonly MetaflowTeam[];
  /** The stack's datastore; each team gets its folder in it. */
  readonly datastore: IMetaflowDatastore;
  /** The stack's compute: the shared team queue uses its CPU environments, the shared GPU team queue its GPU environments. */
  readonly compute: MetaflowBatchCompute;
  /** The VPC of teams' own compute environments. */
  readonly vpc: ec2.IVpc;
  /** Subnets of teams' own compute environments. @default - as the VPC selects by default */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The metadata service (teams' users read its API key). @default - none */
  readonly metadataService?: IMetaflowMetadataService;
  /** Step Functions support (teams' users deploy flows there; its state machine role may submit to the team queues). @default - none */
  readonly stepFunctions?: IMetaflowStepFunctionsSupport;

  /**
   * Percentage (0–99) of the queue's maximum vCPUs kept free for teams that have no job in the
   * queue, so an idle team's first job does not wait for a busy team's jobs to finish: Batch
   * reserves (computeReservation/100)^activeTeams of it.
   *
   * @default 10
   */
  readonly computeReservation?: number;

  /**
   * How long past usage counts when Batch compares teams' usage (0 – 7 days; 0 counts only
   * current usage).
   *
   * @default Duration.hours(1)
   */
  readonly shareDecay?: Duration;

  /**
   * Retention of the job log group `/metaflow/<stack name>/jobs` (job definitions of team runs name it in their log
   * configuration).
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly jobLogRetention?: logs.RetentionDays;

  /**
   * What stack deletion does to the job log group.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** What a team has on the stack. */
export interface MetaflowTeamResources {
  /** The team's name. */
  readonly name: string;
  /** AWS's weight factor of the team's share (1/weight). */
  readonly weightFactor: number;
  /** The queue the team's jobs go to (fair-share). */
  readonly jobQueue: batch.IJobQueue;
  /** The fair-share queue of the team's GPU steps, when the stack has GPU environments (shared by all teams). */
  readonly gpuJobQueue?: batch.IJobQueue;
  /** The role the team's job containers assume: its datastore folder only. */
  readonly jobRole: iam.Role;
  /** The team's own compute environment, when it has one. */
  readonly computeEnvironment?: batch.ManagedEc2EcsComputeEnvironment;
  /** The datastore as the team sees it: its folder under each root. */
  readonly datastore: IMetaflowDatastore;
  /** The managed policy the team's people and CI attach. */
  readonly access: MetaflowUserAccess;
}

/**
 * Many teams on one stack. Team queues, separate from the stack's FIFO queues (the queue in the
 * Metaflow config stays FIFO: Metaflow's own `@batch` never sets `shareIdentifier`, and AWS Batch
 * refuses a job without one on a fair-share queue — Nextflow had to add it, nextflow#3088, and
 * `schedulingPriority`, nextflow#3505), share one fair-share scheduling policy with a share per
 * team. Each team gets a job role that reaches only its datastore folder
 * (`<sysroot>/.teams/<team>/…` and `<datatools>/.teams/<team>/…`: a team's runs use that folder as
 * their datastore root, so its code packages and run index are inside it too), a managed policy for
 * its people and CI (the user-access grant scoped to that folder, the team's queue and role), and
 * optionally its own compute environment and queue capped at `maxvCpus`. Job logs go to a
 * stack-owned log group with a retention.
 */
export class MetaflowTeams extends Construct {
  /** The fair-share policy of every team queue. */
  public readonly schedulingPolicy: batch.FairshareSchedulingPolicy;
  /** The fair-share queue teams without their own environment share. */
  public readonly sharedQueue: batch.IJobQueue;
  /**
   * The fair-share queue of every team's GPU steps, over the stack's GPU environments (the same
   * policy, so GPU use is shared by the same weights), when the stack has GPU environments. The
   * stack's FIFO GPU queue stays as it is.
   */
  public readonly sharedGpuQueue?: batch.IJobQueue;
  /** The log group team jobs write to (named in their job definitions). */
  public readonly jobLogGroup: logs.LogGroup;
  /** Its name, `/metaflow/<stack name>/jobs`. */
  public readonly jobLogGroupName: string;
  /** Each team's resources, in the order given. */
  public readonly teams: readonly MetaflowTeamResources[];
  private readonly datastore: IMetaflowDatastore;

  constructor(scope: Construct, id: string, props: MetaflowTeamsProps) {
    super(scope, id);
    this.datastore = props.datastore;
    const teams = props.teams ?? [];
    if (teams.length === 0 || teams.length > FAIRSHARE_LIMITS.maxShares) {
      invalidProp(this, 'teams', teams.length, `1 to ${FAIRSHARE_LIMITS.maxShares} teams (AWS Batch: at most 500 share identifiers active in a job queue)`);
    }
    const seen = new Set<string>();
    for (const team of teams) {
      if (typeof team.name !== 'string' || !TEAM_NAME_PATTERN.test(team.name)) {
        invalidProp(this, 'teams[].name', team.name, 'lowercase letters and digits, starting with a letter, at most 32 (a share identifier is alphanumeric)');
      }
      if (seen.has(team.name)) invalidProp(this, 'teams[].name', team.name, 'unique among the teams');
      seen.add(team.name);
      weightFactorOf(this, team);
      if (team.maxvCpus !== undefined && (!Number.isInteger(team.maxvCpus) || team.maxvCpus < 1 || team.maxvCpus > 100_000)) {
        invalidProp(this, `teams[${team.name}].maxvCpus`, team.maxvCpus, 'an integer from 1 to 100000');
      }
    }
    const computeReservation = props.computeReservation ?? 10;
    if (!Number.isInteger(computeReservation) || computeReservation < 0 || computeReservation > FAIRSHARE_LIMITS.maxComputeReservation) {
      invalidProp(this, 'computeReservation', computeReservation, 'an integer percentage from 0 to 99');
    }
    const shareDecay = props.shareDecay ?? Duration.hours(1);
    const decaySeconds = shareDecay.toSeconds();
    if (!Token.isUnresolved(decaySeconds) && (decaySeconds < 0 || decaySeconds > FAIRSHARE_LIMITS.maxShareDecaySeconds)) {
      invalidProp(this, 'shareDecay', `${decaySeconds} seconds`, 'from 0 to 604800 seconds (7 days)');
    }

    this.schedulingPolicy = new batch.FairshareSchedulingPolicy(this, 'SchedulingPolicy', {
      computeReservation,
      shareDecay,
      shares: teams.map((team) => ({ shareIdentifier: team.name, weightFactor: weightFactorOf(this, team) })),
    });

    // Named, never `/aws/batch/job` (Batch's default group may already exist in the account,
    // and creating it in a template would then fail).
    this.jobLogGroupName = `/metaflow/${Stack.of(this).stackName}/jobs`;
    this.jobLogGroup = new logs.LogGroup(this, 'JobLogs', {
      logGroupName: this.jobLogGroupName,
      retention: props.jobLogRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    // Fargate tasks write their logs with the execution role; EC2 hosts with the instance role,
    // whose scoped policy (lib/compute/batch-roles.ts) names only Batch's default group.
    if (props.compute.fargateExecutionRole) this.grantWriteLogs(props.compute.fargateExecutionRole);
    this.grantWriteLogs(props.compute.instanceRole);

    const compute = props.compute;
    const shared = [compute.spotEnvironment, compute.onDemandEnvironment].filter((e): e is batch.ManagedEc2EcsComputeEnvironment => e !== undefined);
    const sharedEnvironments: batch.IComputeEnvironment[] = shared.length > 0
      ? shared
      : [compute.fargateSpotEnvironment, compute.fargateEnvironment].filter((e): e is batch.FargateComputeEnvironment => e !== undefined);
    this.sharedQueue = new MetaflowJobQueue(this, 'SharedQueue', {
      computeEnvironments: sharedEnvironments,
      schedulingPolicy: this.schedulingPolicy,
    }).jobQueue;
    // Spot first, as the stack's GPU queue orders them (lib/compute).
    const gpuEnvironments = [compute.gpuSpotEnvironment, compute.gpuEnvironment].filter((e): e is batch.ManagedEc2EcsComputeEnvironment => e !== undefined);
    this.sharedGpuQueue = gpuEnvironments.length > 0
      ? new MetaflowJobQueue(this, 'SharedGpuQueue', { computeEnvironments: gpuEnvironments, schedulingPolicy: this.schedulingPolicy }).jobQueue
      : undefined;

    this.teams = teams.map((team) => this.team(team, props));
    // State machines deployed for a team (`sfn deploy --team`, FlowStateMachine) run as the
    // stack's state machine role, whose compute grant names only the stack's own queues.
    if (props.stepFunctions) {
      const teamQueues = [this.sharedQueue, this.sharedGpuQueue, ...this.teams.map((t) => t.jobQueue)].filter((q): q is batch.IJobQueue => q !== undefined);
      iam.Grant.addToPrincipal({
        grantee: props.stepFunctions.stateMachineRole,
        actions: ['batch:SubmitJob'],
        resourceArns: [...new Set(teamQueues.map((q) => q.jobQueueArn))],
      });
    }
  }

  private team(team: MetaflowTeam, props: MetaflowTeamsProps): MetaflowTeamResources {
    const scope = new Construct(this, `Team-${team.name}`);
    const datastore = MetaflowDatastore.fromBucket(scope, 'Datastore', props.datastore.bucket, {
      encryptionKey: props.datastore.encryptionKey,
      sysrootPrefix: teamRootPrefix(props.datastore.sysrootPrefix, team.name),
      datatoolsPrefix: teamRootPrefix(props.datastore.datatoolsPrefix, team.name),
    });
    const jobRole = new iam.Role(scope, 'JobRole', {
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: `Metaflow Batch jobs of team ${team.name}: its datastore folder only`,
    });
    datastore.grantReadWrite(jobRole);
    Tags.of(jobRole).add(TEAM_TAG_KEY, team.name);

    let jobQueue = this.sharedQueue;
    let computeEnvironment: batch.ManagedEc2EcsComputeEnvironment | undefined;
    if (team.maxvCpus !== undefined) {
      computeEnvironment = this.ownEnvironment(scope, team, props);
      jobQueue = new MetaflowJobQueue(scope, 'Queue', {
        computeEnvironments: [computeEnvironment],
        schedulingPolicy: this.schedulingPolicy,
      }).jobQueue;
    }
    const teamCompute: IMetaflowBatchCompute = MetaflowBatchCompute.fromAttributes(scope, 'Compute', {
      defaultQueueArn: jobQueue.jobQueueArn,
      gpuQueueArn: this.sharedGpuQueue?.jobQueueArn,
      jobRoleArn: jobRole.roleArn,
      fargateExecutionRoleArn: props.compute.fargateExecutionRole?.roleArn,
    });
    const access = new MetaflowUserAccess(scope, 'Access', {
      datastore,
      compute: teamCompute,
      metadataService: props.metadataService,
      stepFunctions: props.stepFunctions,
      jobLogGroupName: this.jobLogGroupName,
    });
    // The stack's FIFO queues too: `configure --team` keeps them in the team's profile for
    // Metaflow's own @batch (which sends no share identifier, so a fair-share queue refuses its
    // jobs), for Fargate steps (team queues hold only EC2 environments) and for runs of another team.
    const fifoQueues = [props.compute.defaultQueue, props.compute.gpuQueue, props.compute.fargateQueue]
      .filter((q): q is batch.IJobQueue => q !== undefined);
    access.managedPolicy.addStatements(new iam.PolicyStatement({
      actions: ['batch:SubmitJob'], resources: [...new Set(fifoQueues.map((q) => q.jobQueueArn))],
    }));
    // On the team queues only with the team's own share: a team's people cannot spend another
    // team's share (condition key batch:ShareIdentifier, AWS Batch user guide "Use the
    // batch:ShareIdentifier condition key"; a request without a share matches StringNotEquals too,
    // and Batch refuses such a job on a fair-share queue anyway).
    const teamQueues = [jobQueue, this.sharedQueue, this.sharedGpuQueue].filter((q): q is batch.IJobQueue => q !== undefined);
    access.managedPolicy.addStatements(new iam.PolicyStatement({
      effect: iam.Effect.DENY,
      actions: ['batch:SubmitJob'],
      resources: [...new Set(teamQueues.map((q) => q.jobQueueArn))],
      conditions: { StringNotEquals: { 'batch:ShareIdentifier': team.name } },
    }));
    return { name: team.name, weightFactor: weightFactorOf(this, team), jobQueue, gpuJobQueue: this.sharedGpuQueue, jobRole, computeEnvironment, datastore, access };
  }

  private ownEnvironment(scope: Construct, team: MetaflowTeam, props: MetaflowTeamsProps): batch.ManagedEc2EcsComputeEnvironment {
    const compute = props.compute;
    // The same instance types as the stack's CPU environments.
    const template = compute.onDemandEnvironment ?? compute.spotEnvironment;
    const defaults = parseInstanceTypes(scope, 'instanceTypes', [DEFAULT_CPU_INSTANCE_TYPE]);
    const environment = new batch.ManagedEc2EcsComputeEnvironment(scope, 'Environment', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: [compute.securityGroup],
      instanceRole: compute.instanceRole,
      launchTemplate: compute.launchTemplate,
      spot: false,
      allocationStrategy: batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
      minvCpus: 0,
      maxvCpus: team.maxvCpus!,
      instanceTypes: template ? template.instanceTypes : defaults.instanceTypes,
      instanceClasses: template ? template.instanceClasses : defaults.instanceClasses,
      useOptimalInstanceClasses: false,
      updateToLatestImageVersion: true,
    });
    const cfn = environment.node.defaultChild as batch.CfnComputeEnvironment;
    if (compute.launchTemplate) {
      // As the stack's own environments do: name the version, so template changes roll out.
      cfn.addPropertyOverride('ComputeResources.LaunchTemplate.Version', compute.launchTemplate.latestVersionNumber);
    }
    // Tags of the environment itself, and (ComputeResources.Tags) of the instances it launches,
    // so cost allocation by `metaflow.team` covers the team's hosts.
    Tags.of(environment).add(TEAM_TAG_KEY, team.name);
    cfn.addPropertyOverride('ComputeResources.Tags', { [TEAM_TAG_KEY]: team.name });
    return environment;
  }

  /** Let `grantee` write job logs into the team job log group. */
  public grantWriteLogs(grantee: iam.IGrantable): iam.Grant {
    const streams = Stack.of(this).formatArn({
      service: 'logs', resource: 'log-group', resourceName: `${this.jobLogGroupName}:log-stream:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      acknowledge(grantee.grantPrincipal, [wildcardResourceFinding(this, streams)],
        'Batch creates one log stream per job with a name not known at deploy time; access is limited to the team job log group.');
    }
    return iam.Grant.addToPrincipal({ grantee, actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resourceArns: [streams] });
  }

  /**
   * Keep a principal that reaches the whole datastore (the stack's shared job role and user
   * policy) out of every team's folder: an explicit Deny on `<root>/.teams/*` under both roots
   * wins over its Allow on `<root>/*`.
   */
  public fenceOff(target: iam.IRole | iam.ManagedPolicy): void {
    const objects = [this.datastore.sysrootPrefix, this.datastore.datatoolsPrefix]
      .map((prefix) => this.datastore.bucket.arnForObjects(`${teamRootPrefix(prefix, '*')}`));
    const folders = [this.datastore.sysrootPrefix, this.datastore.datatoolsPrefix].map((prefix) => teamRootPrefix(prefix, '*'));
    const statements = [
      new iam.PolicyStatement({ effect: iam.Effect.DENY, actions: ['s3:*'], resources: objects }),
      new iam.PolicyStatement({
        effect: iam.Effect.DENY,
        actions: ['s3:ListBucket'],
        resources: [this.datastore.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': folders.flatMap((f) => [f.slice(0, -2), `${f.slice(0, -2)}/*`]) } },
      }),
    ];
    for (const statement of statements) {
      if (target instanceof iam.ManagedPolicy) target.addStatements(statement);
      else target.addToPrincipalPolicy(statement);
    }
  }
}

/** AWS's weight factor of a team: the inverse of its weight, within the policy's range. */
function weightFactorOf(scope: Construct, team: MetaflowTeam): number {
  const weight = team.weight ?? 1;
  const factor = Number((1 / weight).toFixed(4));
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0
    || factor < FAIRSHARE_LIMITS.minWeightFactor || factor > FAIRSHARE_LIMITS.maxWeightFactor) {
    invalidProp(scope, `teams[${team.name}].weight`, weight,
      'a number from 0.001 to 10000 (AWS Batch weight factor 1/weight must be 0.0001–999.9999)');
  }
  return factor;
}

/**
 * The `-c teams=ml:3,research:1` context value (already split at commas): `name[:weight[:maxvCpus]]`
 * per team. Returns the problem with one entry as a phrase (for the context error), or the teams.
 */
export function parseTeamSpecs(entries: readonly string[]): { teams: MetaflowTeam[] } | { bad: string } {
  const teams: MetaflowTeam[] = [];
  for (const entry of entries) {
    const match = /^([^:]+)(?::([^:]+))?(?::([^:]+))?$/.exec(entry);
    const weight = match?.[2] === undefined ? undefined : Number(match[2]);
    const maxvCpus = match?.[3] === undefined ? undefined : Number(match[3]);
    if (!match || !TEAM_NAME_PATTERN.test(match[1])
      || (weight !== undefined && !(weight > 0 && 1 / weight >= FAIRSHARE_LIMITS.minWeightFactor && 1 / weight <= FAIRSHARE_LIMITS.maxWeightFactor))
      || (maxvCpus !== undefined && !(Number.isInteger(maxvCpus) && maxvCpus >= 1 && maxvCpus <= 100_000))) {
      return { bad: entry };
    }
    if (teams.some((t) => t.name === match[1])) return { bad: entry };
    teams.push({ name: match[1], weight, maxvCpus });
  }
  return { teams };
}

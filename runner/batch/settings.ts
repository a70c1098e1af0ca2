/**
 * What the Batch layer needs from the Metaflow config (or flags): queues, roles, datastore root,
 * region. Values are resolved once per run; a missing required key is one line naming it.
 */
import { MetaflowConfig, requireConfigValue } from '../config/metaflow-config';
import { UserInputError } from '../errors';
import { teamNameProblem } from '../../core/teams';

/** Flags that replace config keys (`run --compute batch --queue …`). */
export interface BatchSettingFlags {
  /** Replaces BATCH_JOB_QUEUE. */
  readonly queue?: string;
  /** Replaces BATCH_JOB_QUEUE_GPU, the queue for steps that ask for GPUs. @default the default queue */
  readonly gpuQueue?: string;
  /** Replaces ECS_S3_ACCESS_IAM_ROLE. */
  readonly jobRole?: string;
  /** Replaces ECS_FARGATE_EXECUTION_ROLE. */
  readonly executionRole?: string;
  /** Replaces DATASTORE_SYSROOT_S3. */
  readonly datastoreRoot?: string;
  /** @default the SDK's region resolution (AWS_REGION, the profile) */
  readonly region?: string;
  /** Replaces TEAM: the share identifier of jobs on fair-share queues. */
  readonly team?: string;
}

export interface BatchSettings {
  /** Queue for steps without GPUs and without their own queue (name or ARN). */
  readonly queue: string;
  /** Queue for GPU steps; the default queue when none is configured. */
  readonly gpuQueue: string;
  /** Role the job's containers assume (job role). */
  readonly jobRoleArn?: string;
  /** Fargate execution role (required only when a step lands on a Fargate queue). */
  readonly executionRoleArn?: string;
  /** `s3://bucket/prefix` of the datastore. */
  readonly datastoreRoot: { readonly bucket: string; readonly prefix: string; readonly url: string };
  readonly region?: string;
  /** The team (`--team`, else the config's TEAM); the flow's own `team` applies when unset. */
  readonly team?: string;
  /**
   * The stack runs compute in public subnets (BATCH_ASSIGN_PUBLIC_IP "true"): Fargate job
   * definitions must set `networkConfiguration.assignPublicIp` ENABLED to pull images. @default false
   */
  readonly assignPublicIp?: boolean;
  /** BATCH_JOB_LOG_GROUP: the log group job definitions name. @default Batch's /aws/batch/job */
  readonly jobLogGroup?: string;
  /**
   * The queues the config names as fair-share: a team profile's BATCH_TEAM_JOB_QUEUE and
   * BATCH_TEAM_JOB_QUEUE_GPU (`configure --team` writes the stack's team queues, which all have
   * the teams' scheduling policy), for a run of the profile's team. `sfn compile` looks nothing up
   * and takes them from here. @default - none
   */
  readonly fairShareQueues?: readonly string[];
}

/** A CloudWatch Logs group name (CreateLogGroup: 1–512 of letters, digits, `_ - . / #`). */
const LOG_GROUP_NAME = /^[\w\-./#]{1,512}$/;

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

/** `s3://bucket/prefix/` → bucket and prefix without slashes at either end. */
export function parseS3Url(what: string, url: string): { bucket: string; prefix: string; url: string } {
  const match = S3_URL.exec(url);
  if (!match) throw new UserInputError(`${what} must be an s3://<bucket>/<prefix> URL, got ${JSON.stringify(url)}`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1], prefix, url: `s3://${match[1]}${prefix ? `/${prefix}` : ''}` };
}

export function batchSettings(config: MetaflowConfig, flags: BatchSettingFlags = {}): BatchSettings {
  const team = checkTeam(flags.team ? '--team' : 'METAFLOW_TEAM', flags.team || config.profile.TEAM);
  // A team profile (`configure --team`) names the team's fair-share queues apart from the FIFO
  // BATCH_JOB_QUEUE (and BATCH_JOB_QUEUE_GPU) Metaflow's own @batch uses; runs of that team go to them.
  const profileTeam = team !== undefined && team === config.profile.TEAM;
  const teamQueue = profileTeam ? config.profile.BATCH_TEAM_JOB_QUEUE : undefined;
  const teamGpuQueue = profileTeam ? config.profile.BATCH_TEAM_JOB_QUEUE_GPU : undefined;
  const queue = requireConfigValue(config, 'BATCH_JOB_QUEUE', '--queue', flags.queue || teamQueue);
  const root = requireConfigValue(config, 'DATASTORE_SYSROOT_S3', '--datastore-root', flags.datastoreRoot);
  return {
    queue,
    gpuQueue: flags.gpuQueue || teamGpuQueue || config.profile.BATCH_JOB_QUEUE_GPU || queue,
    jobRoleArn: flags.jobRole || config.profile.ECS_S3_ACCESS_IAM_ROLE,
    executionRoleArn: flags.executionRole || config.profile.ECS_FARGATE_EXECUTION_ROLE,
    datastoreRoot: parseS3Url('DATASTORE_SYSROOT_S3', root),
    region: flags.region || undefined,
    team,
    assignPublicIp: config.profile.BATCH_ASSIGN_PUBLIC_IP === 'true',
    jobLogGroup: checkLogGroup(config.profile.BATCH_JOB_LOG_GROUP),
    fairShareQueues: teamQueue || teamGpuQueue ? [teamQueue, teamGpuQueue].filter((q): q is string => !!q) : undefined,
  };
}

function checkLogGroup(group: string | undefined): string | undefined {
  if (group === undefined || group === '') return undefined;
  if (!LOG_GROUP_NAME.test(group)) {
    throw new UserInputError(`METAFLOW_BATCH_JOB_LOG_GROUP must be a CloudWatch Logs group name (1-512 letters, digits, _ - . / #), got ${JSON.stringify(group)}`);
  }
  return group;
}

function checkTeam(what: string, team: string | undefined): string | undefined {
  if (team === undefined || team === '') return undefined;
  const problem = teamNameProblem(what, team);
  if (problem) throw new UserInputError(problem);
  return team;
}

/** The queue a step goes to: its own, else the GPU queue for GPU steps, else the default. */
export function queueForStep(settings: BatchSettings, step: { readonly queue?: string; readonly gpu: number }): string {
  if (step.queue) return step.queue;
  return step.gpu > 0 ? settings.gpuQueue : settings.queue;
}

/** The execution role, required on Fargate: missing → one line naming the key. */
export function requireExecutionRole(settings: BatchSettings, config: MetaflowConfig, step: string): string {
  if (settings.executionRoleArn) return settings.executionRoleArn;
  try {
    return requireConfigValue(config, 'ECS_FARGATE_EXECUTION_ROLE', '--execution-role');
  } catch (err) {
    throw new UserInputError(`step "${step}" runs on a Fargate queue: ${(err as Error).message}`);
  }
}

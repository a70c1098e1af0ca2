/**
 * `metaflow-cdk configure`: read the deployed stack's outputs and the API key secret, and
 * write the Metaflow client config file. See docs/configure.md.
 */
import { join } from 'node:path';
import { METAFLOW_STACK_OUTPUTS, metaflowOutputId, MetaflowProfile } from '../../core/metaflow-config-keys';
import { CommandFailedError, UserInputError } from '../errors';
import { teamNameProblem } from '../../core/teams';
import { configFileName, metaflowHome, renderConfigFile, renderMaskedConfigFile, writeConfigFile, writtenKeyNames } from './config-file';
import { profileFromOutputs } from './profile';
import { ConfigureAwsClients, describeDeployedStack, readSecretString } from './stack-outputs';

export const DEFAULT_STACK_NAME = 'Metaflow';

export interface ConfigureOptions {
  readonly stackName: string;
  /** Named Metaflow profile: writes `config_<profile>.json`. */
  readonly profile?: string;
  /** Replace an existing file (keeping a backup). */
  readonly force: boolean;
  /**
   * Write the profile of this team (from the stack's `MetaflowTeamsJson`): its job role, its
   * datastore roots, its fair-share queues as BATCH_TEAM_JOB_QUEUE (and BATCH_TEAM_JOB_QUEUE_GPU),
   * TEAM, and the job log group.
   */
  readonly team?: string;
  /** Print the JSON (API key masked) instead of writing. */
  readonly print: boolean;
  /** Where METAFLOW_HOME and HOME are read from. */
  readonly env: NodeJS.ProcessEnv;
  /** Clock for the backup file name. */
  readonly now?: () => Date;
}

export interface ConfigureResult {
  readonly profile: MetaflowProfile;
  /** The file written (or that would be written, with --print). */
  readonly path: string;
  readonly written: boolean;
  readonly backupPath?: string;
  /** The file's keys, as written (`METAFLOW_…`). */
  readonly keys: readonly string[];
  /** The JSON printed with --print (secrets masked). */
  readonly printed?: string;
  /** Things the user should know (e.g. no API key although there is a service URL). */
  readonly warnings: readonly string[];
}

export async function configureMetaflow(options: ConfigureOptions, clients: ConfigureAwsClients): Promise<ConfigureResult> {
  // Validate the local side first: a bad --profile should not wait for AWS.
  const path = join(metaflowHome(options.env), configFileName(options.profile));
  if (options.team !== undefined) {
    const problem = teamNameProblem('--team', options.team);
    if (problem) throw new UserInputError(problem);
  }

  const stack = await describeDeployedStack(clients.cloudFormation, options.stackName);
  const warnings: string[] = stack.statusWarning ? [stack.statusWarning] : [];
  const { profile: published, missingRequired, apiKeySecretArn } = profileFromOutputs(stack.outputs);
  if (missingRequired.length > 0) {
    const missing = missingRequired.map((key) => `${metaflowOutputId(key)} (${key})`).join(', ');
    throw new CommandFailedError(
      `stack "${stack.name}" lacks the required output(s) ${missing}; is it a metaflow-cdk stack, fully deployed? ` +
        `(pass --stack-name for another stack)`,
    );
  }

  const profile: MetaflowProfile = { ...published };
  if (options.team !== undefined) Object.assign(profile, teamProfile(stack.name, stack.outputs, options.team));
  if (apiKeySecretArn) {
    profile.SERVICE_AUTH_KEY = await readSecretString(clients.secretsManager, apiKeySecretArn);
  } else if (profile.SERVICE_URL) {
    warnings.push(
      `stack "${stack.name}" has a metadata service URL but no ${METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN} output; ` +
        'the config has no API key',
    );
  }

  const keys = writtenKeyNames(profile);
  if (options.print) {
    return { profile, path, written: false, keys, printed: renderMaskedConfigFile(profile), warnings };
  }
  const { backupPath } = writeConfigFile(path, renderConfigFile(profile), { force: options.force, now: options.now });
  return { profile, path, written: true, backupPath, keys, warnings };
}

/** A team's entry in the stack output `MetaflowTeamsJson`. */
interface TeamOutput {
  readonly jobQueue: string;
  /** Present when the stack has GPU environments. */
  readonly gpuJobQueue?: string;
  readonly jobRole: string;
  readonly datastoreRoot: string;
  readonly datatoolsRoot: string;
}

/**
 * The keys a team's profile replaces or adds. BATCH_JOB_QUEUE stays the stack's FIFO queue:
 * Metaflow's own `@batch` sends no share identifier and AWS Batch refuses such a job on a queue
 * with a scheduling policy (AWS Batch API reference, SubmitJob: shareIdentifier; nextflow#3088),
 * so Python Metaflow users of the profile keep working, on the FIFO queue, with the team's role and
 * folder. The metaflow-cdk runner sends the share, so it takes the team's queue from
 * BATCH_TEAM_JOB_QUEUE (and its GPU queue from BATCH_TEAM_JOB_QUEUE_GPU).
 */
export function teamProfile(stackName: string, outputs: Readonly<Record<string, string>>, team: string): MetaflowProfile {
  const json = outputs[METAFLOW_STACK_OUTPUTS.TEAMS_JSON];
  if (json === undefined || json === '') {
    throw new UserInputError(`--team ${team}: stack "${stackName}" has no teams (no ${METAFLOW_STACK_OUTPUTS.TEAMS_JSON} output; deploy it with -c teams=<name>:<weight>,...)`);
  }
  let teams: Record<string, Partial<TeamOutput>>;
  try {
    teams = JSON.parse(json) as Record<string, Partial<TeamOutput>>;
    if (typeof teams !== 'object' || teams === null || Array.isArray(teams)) throw new Error('not a JSON object');
  } catch (err) {
    throw new CommandFailedError(`stack "${stackName}" output ${METAFLOW_STACK_OUTPUTS.TEAMS_JSON} is not a JSON object of teams: ${(err as Error).message}`);
  }
  const entry = Object.prototype.hasOwnProperty.call(teams, team) ? teams[team] : undefined;
  if (entry === undefined) {
    throw new UserInputError(`--team ${team}: stack "${stackName}" has no team "${team}"; its teams: ${Object.keys(teams).join(', ')}`);
  }
  const fields: (keyof TeamOutput)[] = ['jobQueue', 'jobRole', 'datastoreRoot', 'datatoolsRoot'];
  const missing = fields.filter((field) => typeof entry[field] !== 'string' || entry[field] === '');
  if (missing.length > 0) {
    throw new CommandFailedError(`stack "${stackName}" output ${METAFLOW_STACK_OUTPUTS.TEAMS_JSON}: team "${team}" lacks ${missing.join(', ')}`);
  }
  const logGroup = outputs[METAFLOW_STACK_OUTPUTS.JOB_LOG_GROUP_NAME];
  return {
    DATASTORE_SYSROOT_S3: entry.datastoreRoot,
    DATATOOLS_S3ROOT: entry.datatoolsRoot,
    ECS_S3_ACCESS_IAM_ROLE: entry.jobRole,
    BATCH_TEAM_JOB_QUEUE: entry.jobQueue,
    ...(typeof entry.gpuJobQueue === 'string' && entry.gpuJobQueue !== '' ? { BATCH_TEAM_JOB_QUEUE_GPU: entry.gpuJobQueue } : {}),
    TEAM: team,
    ...(logGroup ? { BATCH_JOB_LOG_GROUP: logGroup } : {}),
  };
}

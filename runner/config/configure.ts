/**
 * `metaflow-cdk configure`: read the deployed stack's outputs and the API key secret, and
 * write the Metaflow client config file. See docs/configure.md.
 */
import { join } from 'node:path';
import { METAFLOW_STACK_OUTPUTS, metaflowOutputId, MetaflowProfile } from '../../core/metaflow-config-keys';
import { CommandFailedError } from '../errors';
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

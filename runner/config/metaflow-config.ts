/**
 * Reading the Metaflow client config the way Metaflow does: `METAFLOW_<KEY>` in the environment
 * wins over `$METAFLOW_HOME/config.json` (or `config_<profile>.json` with METAFLOW_PROFILE), whose
 * keys carry the `METAFLOW_` prefix. Key names come from the one config-keys module; where the
 * file lives comes from config-file.ts (the same functions `configure` writes with).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ALL_METAFLOW_CONFIG_KEYS,
  MetaflowConfigKey,
  MetaflowProfile,
  metaflowEnvName,
  parseMetaflowConfigKey,
} from '../../core/metaflow-config-keys';
import { UserInputError } from '../errors';
import { configFileName, metaflowHome } from './config-file';

/** The config as read: values per key and where each came from. */
export interface MetaflowConfig {
  readonly profile: MetaflowProfile;
  /** `env` (METAFLOW_<KEY>) or the file's path, per key that has a value. */
  readonly sources: Partial<Record<MetaflowConfigKey, string>>;
  /** The config file looked at (it may not exist). */
  readonly path: string;
  readonly fileExists: boolean;
}

/** Read the config for `env` (METAFLOW_HOME, METAFLOW_PROFILE, METAFLOW_<KEY>, HOME). */
export function readMetaflowConfig(env: NodeJS.ProcessEnv): MetaflowConfig {
  const path = join(metaflowHome(env), configFileName(env.METAFLOW_PROFILE));
  const profile: MetaflowProfile = {};
  const sources: Partial<Record<MetaflowConfigKey, string>> = {};
  const fileExists = existsSync(path);
  if (fileExists) {
    for (const [name, value] of Object.entries(readConfigFile(path))) {
      const key = parseMetaflowConfigKey(name);
      if (key === undefined || value === '' || value === null || value === undefined) continue;
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new UserInputError(`${path}: ${name} must be a string, got ${JSON.stringify(value)}`);
      }
      profile[key] = String(value);
      sources[key] = path;
    }
  }
  for (const key of ALL_METAFLOW_CONFIG_KEYS) {
    const value = env[metaflowEnvName(key)];
    if (value !== undefined && value !== '') {
      profile[key] = value;
      sources[key] = 'env';
    }
  }
  return { profile, sources, path, fileExists };
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserInputError(`cannot read Metaflow config ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserInputError(`Metaflow config ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UserInputError(`Metaflow config ${path} must hold a JSON object, got ${JSON.stringify(parsed)}`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * A key's value: the flag when given, else the config. Missing → one line naming the key, where
 * it is looked for, and the flag that can replace it.
 */
export function requireConfigValue(config: MetaflowConfig, key: MetaflowConfigKey, flag?: string, flagValue?: string): string {
  if (flagValue !== undefined && flagValue !== '') return flagValue;
  const value = config.profile[key];
  if (value !== undefined) return value;
  const orFlag = flag ? `, or pass ${flag}` : '';
  throw new UserInputError(
    `missing Metaflow config key ${metaflowEnvName(key)}: set it in ${config.path} or the environment${orFlag} ` +
      `(metaflow-cdk configure writes it from the stack)`,
  );
}

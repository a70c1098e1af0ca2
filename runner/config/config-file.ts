/**
 * The Metaflow client config file: where it lives, what it holds, and writing it safely
 * (mode 0600, never over an existing file unless forced, and then after a backup).
 *
 * Metaflow reads `$METAFLOW_HOME/config.json` (METAFLOW_HOME defaults to `~/.metaflowconfig`),
 * or `config_<profile>.json` when METAFLOW_PROFILE is set; `metaflow configure` writes it with
 * `json.dump(..., indent=4)`, keys with the `METAFLOW_` prefix.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync, constants } from 'node:fs';
import { describeValue } from '../../core/describe-value';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  MetaflowProfile,
  SECRET_METAFLOW_CONFIG_KEYS,
  toMetaflowConfigFile,
} from '../../core/metaflow-config-keys';
import { CommandFailedError, UserInputError } from '../errors';

export const CONFIG_FILE_MODE = 0o600;
export const CONFIG_DIR_MODE = 0o700;

/** `$METAFLOW_HOME`, or `~/.metaflowconfig`. */
export function metaflowHome(env: NodeJS.ProcessEnv): string {
  const fromEnv = env.METAFLOW_HOME;
  if (fromEnv) return fromEnv.startsWith('~/') ? join(env.HOME || homedir(), fromEnv.slice(2)) : fromEnv;
  return join(env.HOME || homedir(), '.metaflowconfig');
}

/** A profile name becomes part of a file name: letters, digits, `.`, `_`, `-` only. */
const PROFILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** `config.json`, or `config_<profile>.json`. */
export function configFileName(profile?: string): string {
  if (profile === undefined || profile === '') return 'config.json';
  if (!PROFILE_NAME.test(profile)) {
    throw new UserInputError(
      `invalid --profile ${describeValue(profile)}: use letters, digits, ".", "_" and "-" (it becomes config_<profile>.json)`,
    );
  }
  return `config_${profile}.json`;
}

/** The file's JSON text: `METAFLOW_`-prefixed keys, indented as Metaflow indents it. */
export function renderConfigFile(profile: MetaflowProfile): string {
  return `${JSON.stringify(toMetaflowConfigFile(profile), null, 4)}\n`;
}

/** The same JSON with secret values masked, for `--print`. */
export function renderMaskedConfigFile(profile: MetaflowProfile): string {
  const masked: MetaflowProfile = { ...profile };
  for (const key of SECRET_METAFLOW_CONFIG_KEYS) {
    if (masked[key] !== undefined) masked[key] = '********';
  }
  return renderConfigFile(masked);
}

/** Names of the keys the file holds, as written (`METAFLOW_…`). */
export function writtenKeyNames(profile: MetaflowProfile): string[] {
  return Object.keys(toMetaflowConfigFile(profile));
}

/** `20261121T101400Z`: a timestamp that sorts and is safe in a file name. */
function fileTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export interface WriteConfigOptions {
  /** Replace an existing file (after backing it up). */
  readonly force: boolean;
  /** The clock for the backup's name. */
  readonly now?: () => Date;
}

export interface WriteConfigResult {
  readonly path: string;
  /** Where the previous file was copied to, when one was replaced. */
  readonly backupPath?: string;
}

/**
 * Write `contents` to `path` with mode 0600, creating its folder with mode 0700 if missing.
 * An existing file is left alone unless `force`; then it is first copied to
 * `<path>.bak-<timestamp>` (mode 0600). The new file is written beside the target and renamed
 * over it, so a reader never sees half a file.
 */
export function writeConfigFile(path: string, contents: string, options: WriteConfigOptions): WriteConfigResult {
  if (existsSync(path) && !options.force) {
    throw new UserInputError(`${path} already exists; pass --force to replace it (a backup is kept), or --print to see the new contents`);
  }
  try {
    return replaceFile(path, contents, options);
  } catch (err) {
    throw new CommandFailedError(`cannot write ${path}: ${(err as Error).message}`);
  }
}

function replaceFile(path: string, contents: string, options: WriteConfigOptions): WriteConfigResult {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: CONFIG_DIR_MODE });
  let backupPath: string | undefined;
  if (existsSync(path)) {
    const stamp = fileTimestamp((options.now ?? (() => new Date()))());
    backupPath = `${path}.bak-${stamp}`;
    for (let n = 1; existsSync(backupPath); n += 1) backupPath = `${path}.bak-${stamp}-${n}`;
    copyFileSync(path, backupPath, constants.COPYFILE_EXCL);
    chmodSync(backupPath, CONFIG_FILE_MODE);
  }
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(temporary, contents, { mode: CONFIG_FILE_MODE, flag: 'wx' });
    chmodSync(temporary, CONFIG_FILE_MODE);
    renameSync(temporary, path);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw err;
  }
  return { path, backupPath };
}

/**
 * Which datastore a command uses, and where its root is: `--datastore local|s3`,
 * `--datastore-root s3://bucket/prefix` (else the Metaflow config's DATASTORE_SYSROOT_S3) for S3,
 * `--root DIR` (else $METAFLOW_CDK_ROOT, else .metaflow-cdk) for the local directory. The S3 code
 * and the AWS SDK are loaded only when the S3 datastore is used (the CLI starts fast without them).
 */
import { Command } from 'commander';
import { describeValue } from '../../core/describe-value';
import { metaflowEnvName } from '../../core/metaflow-config-keys';
import { parseS3Url } from '../batch/settings';
import { readMetaflowConfig, requireConfigValue } from '../config/metaflow-config';
import { LocalDatastore } from '../datastore/local';
import { Datastore } from '../datastore/types';
import { CommandFailedError, UserInputError } from '../errors';
import { CommandContext } from './commands';
import { checkDatastoreRoot } from './datastore-root';

export const DATASTORE_KINDS = ['local', 's3'] as const;
export type DatastoreKind = (typeof DATASTORE_KINDS)[number];

/** The datastore flags of run, resume, runs, show and logs. */
export interface DatastoreFlags {
  /** `--datastore local|s3`. */
  readonly datastore?: string;
  /** `--datastore-root s3://bucket/prefix`: the S3 datastore's root. */
  readonly datastoreRoot?: string;
  /** `--root DIR`: the local datastore's directory. */
  readonly root?: string;
}

/** Add `--datastore`, `--datastore-root` and `--root`; `defaultKind` is what `--help` says the command uses without `--datastore`. */
export function addDatastoreOptions(cmd: Command, defaultKind = 'local'): Command {
  return cmd
    .option('--datastore <kind>', `where runs are kept: local or s3 (default: ${defaultKind})`)
    .option('--datastore-root <url>', 'root of the S3 datastore, s3://<bucket>/<prefix> (default: the Metaflow config DATASTORE_SYSROOT_S3)')
    .option('--root <dir>', 'local datastore directory (default: $METAFLOW_CDK_ROOT or .metaflow-cdk)');
}

/** The datastore a compute layer uses when `--datastore` is not given: S3 for Batch, else local. */
export function defaultDatastoreKind(compute: string | undefined): DatastoreKind {
  return compute === 'batch' ? 's3' : 'local';
}

/** `--datastore` → the kind (exit 2 for an unknown one); an s3:// `--datastore-root` implies s3. */
export function datastoreKind(flags: DatastoreFlags, compute?: string): DatastoreKind {
  if (flags.datastore === undefined) return flags.datastoreRoot?.startsWith('s3://') ? 's3' : defaultDatastoreKind(compute);
  const kind = DATASTORE_KINDS.find((k) => k === flags.datastore);
  if (!kind) throw new UserInputError(`--datastore ${describeValue(flags.datastore)}: unknown datastore (available: ${DATASTORE_KINDS.join(', ')})`);
  return kind;
}

/**
 * Refuse a local datastore for a compute layer whose tasks cannot reach this machine's disk: a
 * Batch container would be handed a path on the laptop (Metaflow's @batch likewise requires
 * --datastore=s3). The Batch layer refuses such a datastore too (its jobs fetch and upload through S3).
 */
export function checkDatastoreForCompute(compute: string | undefined, kind: DatastoreKind, _env?: NodeJS.ProcessEnv): void {
  if (compute === 'batch' && kind === 'local') {
    throw new UserInputError('--compute batch --datastore local: AWS Batch containers cannot read a directory on this machine; use --datastore s3 (the default with --compute batch)');
  }
}

/**
 * The datastore flags a follow-up command (`show`, `resume`, `logs`) needs to find the same run:
 * `--datastore s3` whenever the run is in S3 (those commands default to local), the roots the user
 * gave. Shell-quoted, each with a leading space ('' for the local default).
 */
export function followUpDatastoreFlags(flags: DatastoreFlags, kind: DatastoreKind): string {
  const args = kind === 's3'
    ? ['--datastore', 's3', ...(flags.datastoreRoot !== undefined ? ['--datastore-root', flags.datastoreRoot] : [])]
    : flags.root !== undefined ? ['--root', flags.root] : [];
  return args.map((a) => ` ${/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`}`).join('');
}

/** The S3 root: the flag (bad → exit 2), else the Metaflow config (bad → exit 1, naming where it came from). */
export function s3DatastoreRoot(flags: DatastoreFlags, env: NodeJS.ProcessEnv): { bucket: string; prefix: string; url: string } {
  if (flags.root !== undefined) throw new UserInputError(`--root is the local datastore's directory; with --datastore s3 give --datastore-root s3://<bucket>/<prefix>`);
  if (flags.datastoreRoot !== undefined) return parseS3Url('--datastore-root', flags.datastoreRoot);
  const config = readMetaflowConfig(env);
  const value = requireConfigValue(config, 'DATASTORE_SYSROOT_S3', '--datastore-root');
  try {
    return parseS3Url(metaflowEnvName('DATASTORE_SYSROOT_S3'), value);
  } catch (err) {
    const from = config.sources.DATASTORE_SYSROOT_S3 === 'env' ? 'the environment' : config.path;
    throw new CommandFailedError(`${(err as Error).message} (from ${from})`);
  }
}

/**
 * The datastore of a command, checked before the command relies on it: a local root that is a
 * file or cannot be created or written (when `write`), an S3 bucket that does not exist, denied
 * access or missing credentials — one line, exit 1. Bad flags — exit 2.
 */
export async function openDatastore(flags: DatastoreFlags, context: CommandContext, options: { write: boolean; compute?: string }): Promise<Datastore> {
  const kind = datastoreKind(flags, options.compute);
  if (kind === 'local') {
    if (flags.datastoreRoot !== undefined) {
      throw new UserInputError(`--datastore-root ${describeValue(flags.datastoreRoot)} is the S3 datastore's root; the local datastore's directory is --root DIR`);
    }
    const datastore = new LocalDatastore(flags.root ?? context.env.METAFLOW_CDK_ROOT ?? undefined);
    checkDatastoreRoot(datastore.root, { write: options.write });
    return datastore;
  }
  const root = s3DatastoreRoot(flags, context.env);
  const { openS3Datastore } = require('../datastore/s3') as typeof import('../datastore/s3');
  const datastore = openS3Datastore(root);
  await datastore.check();
  return datastore;
}

/**
 * Building a flow's code package: collect the files (./collect.ts), check their size, add the
 * task runtime and a manifest under `_mfcdk/`, pack (./pack.ts) into a temporary file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../errors';
import { formatBytes } from '../progress/table';
import { RUNTIME_DIR_IN_PACKAGE, taskRuntimeFiles } from '../task-runtime';
import { CollectedFile, CollectedFiles, collectFiles } from './collect';
import { packFiles } from './pack';

export { formatBytes };

const MIB = 1024 * 1024;
/** Above this many bytes of files, building a package prints a warning naming the biggest files. */
export const CODE_PACKAGE_WARN_BYTES = 100 * MIB;
/**
 * Above this many bytes of files, a package is refused: every task of every step downloads and
 * unpacks it before it starts (1 GiB is ≈10 s at 100 MB/s, per task), and data belongs in S3,
 * not in the code. (S3 itself takes up to 5 GiB in one PUT.)
 */
export const CODE_PACKAGE_MAX_BYTES = 1024 * MIB;
/** The manifest's path in a package. */
export const MANIFEST_PATH = `${RUNTIME_DIR_IN_PACKAGE}/package.json`;
/** How many of the biggest files a size warning or refusal names. */
const BIGGEST_NAMED = 5;

/** `_mfcdk/package.json`: what a package holds, without a time or an absolute path in it. */
export interface PackageManifest {
  /** The manifest's format. */
  readonly format: 1;
  /** The package root's folder name (only its name: where it sat on the machine is not recorded). */
  readonly root: string;
  /** The flow file's path relative to the root, when inside it. @default - none */
  readonly flowFile?: string;
  /** The user's files, sorted by path. */
  readonly files: readonly { readonly path: string; readonly size: number; readonly executable: boolean }[];
  /** The task runtime's files (under `_mfcdk/`). */
  readonly runtime: readonly string[];
}

/** A package built in a temporary file. */
export interface BuiltCodePackage {
  /** The tgz (in a temporary folder that `dispose` removes). */
  readonly file: string;
  /** The tgz's sha1, hex: its name in the datastore. */
  readonly sha1: string;
  /** The tgz's size. */
  readonly bytes: number;
  /** How many of the user's files it holds (the runtime's not counted). */
  readonly files: number;
  /** The user's files' total size, before compression. */
  readonly sourceBytes: number;
  /** The package root, absolute. */
  readonly root: string;
  /** Remove the temporary file. */
  dispose(): Promise<void>;
}

export interface BuildOptions {
  /** The package root (see {@link packageRootOf}). */
  readonly root: string;
  /** gitignore-style patterns packed although the default rules drop them. @default none */
  readonly include?: readonly string[];
  /** gitignore-style patterns never packed. @default none */
  readonly exclude?: readonly string[];
  /** The flow file, recorded in the manifest relative to the root. @default - none recorded */
  readonly flowFile?: string;
  /** Warn above this many bytes of files. @default CODE_PACKAGE_WARN_BYTES (100 MiB) */
  readonly warnBytes?: number;
  /** Refuse above this many bytes of files. @default CODE_PACKAGE_MAX_BYTES (1 GiB) */
  readonly maxBytes?: number;
  /** Where a warning line goes. @default dropped */
  readonly onWarning?: (line: string) => void;
  /** Where the temporary folder is made. @default os.tmpdir() */
  readonly tmpDir?: string;
  /** The runtime files added under `_mfcdk/`. @default taskRuntimeFiles() */
  readonly runtimeFiles?: Readonly<Record<string, string>>;
  /** The home directory refused as a root (tests). @default os.homedir() */
  readonly homeDir?: string;
}

function biggest(files: readonly CollectedFile[]): string {
  const top = [...files].sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1)).slice(0, BIGGEST_NAMED);
  return top.map((f) => `${f.path} (${formatBytes(f.size)})`).join(', ');
}

/** The size check: a warning line above `warnBytes`, a UserInputError above `maxBytes`. */
export function checkPackageSize(collected: CollectedFiles, options: Pick<BuildOptions, 'warnBytes' | 'maxBytes' | 'onWarning'> = {}): void {
  const max = options.maxBytes ?? CODE_PACKAGE_MAX_BYTES;
  const warn = options.warnBytes ?? CODE_PACKAGE_WARN_BYTES;
  const what = `package root ${collected.root} holds ${formatBytes(collected.bytes)} in ${collected.files.length} files`;
  if (collected.bytes > max) {
    throw new UserInputError(`${what}, more than the ${formatBytes(max)} a code package may hold; the biggest: ${biggest(collected.files)} (put data in S3 and add such files to package.exclude)`);
  }
  if (collected.bytes > warn) options.onWarning?.(`${what}, more than ${formatBytes(warn)}: every task downloads it; the biggest: ${biggest(collected.files)}`);
}

/** Collect, check and pack a code package into a temporary file. */
export async function buildCodePackage(options: BuildOptions): Promise<BuiltCodePackage> {
  const collected = await collectFiles(options.root, { include: options.include, exclude: options.exclude, homeDir: options.homeDir });
  checkPackageSize(collected, options);
  const runtime = options.runtimeFiles ?? taskRuntimeFiles();
  const bad = Object.keys(runtime).find((p) => !p.startsWith(`${RUNTIME_DIR_IN_PACKAGE}/`) || p === MANIFEST_PATH);
  if (bad !== undefined) throw new Error(`task runtime file ${bad} must be under ${RUNTIME_DIR_IN_PACKAGE}/ and not be ${MANIFEST_PATH}`);
  const flowFile = options.flowFile !== undefined ? path.relative(collected.root, path.resolve(options.flowFile)) : undefined;
  const manifest: PackageManifest = {
    format: 1,
    root: path.basename(collected.root),
    ...(flowFile !== undefined && !flowFile.startsWith('..') && !path.isAbsolute(flowFile) ? { flowFile: flowFile.split(path.sep).join('/') } : {}),
    files: collected.files.map((f) => ({ path: f.path, size: f.size, executable: f.executable })),
    runtime: Object.keys(runtime).sort(),
  };
  const dir = await fs.promises.mkdtemp(path.join(options.tmpDir ?? os.tmpdir(), 'metaflow-cdk-package-'));
  const file = path.join(dir, 'package.tgz');
  const dispose = () => fs.promises.rm(dir, { recursive: true, force: true });
  try {
    const packed = await packFiles(collected, { ...runtime, [MANIFEST_PATH]: JSON.stringify(manifest, null, 1) + '\n' }, file);
    return { file, ...packed, files: collected.files.length, sourceBytes: collected.bytes, root: collected.root, dispose };
  } catch (err) {
    await dispose();
    const e = err as NodeJS.ErrnoException;
    // A file that changed or vanished between the walk and the packing.
    if (e.code === 'ENOENT' || /unexpected EOF|changed/i.test(e.message)) throw new UserInputError(`package root ${collected.root}: a file changed while it was packed (${e.message.split('\n')[0]}); try again`);
    throw err;
  }
}

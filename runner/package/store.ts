/**
 * Where code packages live in a datastore, and moving them there and back. A package's key is
 * `<flow>/data/<sha1[:2]>/<sha1>` under the datastore root (Metaflow's layout under
 * DATASTORE_SYSROOT_S3), so one content is stored once whatever the number of runs: an upload
 * first looks (HeadObject on S3) and skips a package that is already there. A run id is never
 * `data` (runner/limits.ts RESERVED_RUN_IDS), so packages and runs never share a key.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract, list } from 'tar';
import { describeValue } from '../../core/describe-value';
import type { CodePackageRef, Datastore } from '../datastore/types';
import { CommandFailedError, UserInputError } from '../errors';
import { FLOW_NAME_PATTERN, PACKAGE_DATA_FOLDER } from '../limits';
import type { BuiltCodePackage } from './build';

const SHA1 = /^[0-9a-f]{40}$/;

/** `<flow>/data/<sha1[:2]>/<sha1>`: a code package's key relative to the datastore root. */
export function codePackageKey(flow: string, sha1: string): string {
  if (typeof flow !== 'string' || !FLOW_NAME_PATTERN.test(flow)) throw new Error(`code package key: bad flow name ${describeValue(flow)}`);
  if (typeof sha1 !== 'string' || !SHA1.test(sha1)) throw new Error(`code package key: bad sha1 ${describeValue(sha1)} (40 lower-case hex digits)`);
  return `${flow}/${PACKAGE_DATA_FOLDER}/${sha1.slice(0, 2)}/${sha1}`;
}

/** How a datastore holds files that are not text: a local folder or S3 objects. */
interface BlobStore {
  has(key: string): Promise<boolean>;
  put(key: string, file: string, sha1: string): Promise<void>;
  get(key: string, file: string): Promise<boolean>;
}

function blobStoreOf(datastore: Datastore): BlobStore {
  if (datastore.localPath('') !== undefined) {
    const at = (key: string) => datastore.localPath(key)!;
    return {
      has: async (key) => fs.existsSync(at(key)),
      async put(key, file) {
        // Copy, then rename: a reader never sees half a package.
        await fs.promises.mkdir(path.dirname(at(key)), { recursive: true });
        const tmp = `${at(key)}.${process.pid}.tmp`;
        await fs.promises.copyFile(file, tmp);
        await fs.promises.rename(tmp, at(key));
      },
      async get(key, file) {
        if (!fs.existsSync(at(key))) return false;
        await fs.promises.copyFile(at(key), file);
        return true;
      },
    };
  }
  // Loaded only for S3 (the AWS SDK stays out of the CLI's start-up).
  const { S3Datastore } = require('../datastore/s3') as typeof import('../datastore/s3');
  if (!(datastore instanceof S3Datastore)) throw new Error(`datastore ${datastore.root} cannot hold code packages`);
  return { has: (key) => datastore.exists(key), put: (key, file, sha1) => datastore.upload(key, file, { sha1 }), get: (key, file) => datastore.download(key, file) };
}

/** Where {@link storeCodePackage} put a package, and whether it had to upload it. */
export interface StoredCodePackage {
  /** What the run record keeps. */
  readonly ref: Required<CodePackageRef>;
  /** false when a package with this content was already there (nothing was uploaded). */
  readonly uploaded: boolean;
}

/** Put a built package into the datastore under its content's key, unless it is already there. */
export async function storeCodePackage(datastore: Datastore, flow: string, built: BuiltCodePackage): Promise<StoredCodePackage> {
  const key = codePackageKey(flow, built.sha1);
  const store = blobStoreOf(datastore);
  const ref: Required<CodePackageRef> = { url: `${datastore.root}/${key}`, sha1: built.sha1, files: built.files, bytes: built.bytes };
  if (await store.has(key)) return { ref, uploaded: false };
  await store.put(key, built.file, built.sha1);
  return { ref, uploaded: true };
}

async function sha1OfFile(file: string): Promise<string> {
  const hash = createHash('sha1');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Download a run's package to `file` and check its sha1. The package must be in this datastore;
 * missing or corrupt → one line, exit 1.
 */
export async function fetchCodePackage(datastore: Datastore, ref: CodePackageRef, file: string): Promise<void> {
  const prefix = `${datastore.root}/`;
  if (!ref.url.startsWith(prefix)) throw new UserInputError(`the code package ${ref.url} is not in the datastore ${datastore.root}; give that datastore's root`);
  const key = ref.url.slice(prefix.length);
  if (!(await blobStoreOf(datastore).get(key, file))) throw new CommandFailedError(`the code package ${ref.url} is missing from the datastore`);
  const sha1 = await sha1OfFile(file);
  if (sha1 !== ref.sha1) throw new CommandFailedError(`the code package ${ref.url} is corrupt: its sha1 is ${sha1}, the run recorded ${ref.sha1}`);
}

/** The files of a package tgz: path and size, in the package's order. */
export async function listCodePackage(file: string): Promise<{ path: string; size: number }[]> {
  const entries: { path: string; size: number }[] = [];
  await list({ file, strict: true, onReadEntry: (e) => entries.push({ path: e.path, size: e.size ?? 0 }) });
  return entries;
}

/**
 * Unpack a package tgz into `dir` (made when missing). A `dir` that exists and is not empty is
 * refused (exit 2); paths that would leave `dir` are refused by node-tar.
 */
export async function extractCodePackage(file: string, dir: string): Promise<void> {
  let existing: string[] = [];
  try {
    existing = await fs.promises.readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UserInputError(`${dir} is a file, not a folder`);
    if (code !== 'ENOENT') throw err;
  }
  if (existing.length) throw new UserInputError(`${dir} is not empty; give an empty or new folder with --dir`);
  await fs.promises.mkdir(dir, { recursive: true });
  await extract({ file, cwd: dir, strict: true });
}

/**
 * The S3 datastore: the local store's layout (./layout.ts) under `s3://<bucket>/<prefix>/`, on
 * the S3 object store primitive (runner/aws/s3-object-store.ts). Every record is one object,
 * written whole (S3 PUTs are atomic, so a reader never sees half a record) and read whole; the run
 * index is listed in key order with ListObjectsV2 + StartAfter. Retries are the SDK's, configured
 * once in runner/aws/clients.ts; the errors a user can act on (no bucket, access denied, no
 * credentials, S3 unreachable) become one line naming the root, exit 1.
 *
 * What S3 cannot do, and what this store does instead (docs/runner.md "The S3 datastore"):
 * - **no rename**: an attempt's outputs are committed by a server-side copy of each object of
 *   `<task>/attempt-<n>/` to `<task>/` (one LIST, one CopyObject per object, one DeleteObjects),
 *   so `<task>/outputs.json` is where every reader finds a task's outputs, as locally. Most tasks
 *   write nothing or one small outputs.json: the commit is then one or three calls.
 * - **no append**: an attempt's log is kept in memory while the attempt runs and rewritten whole
 *   every few seconds and at its end (what Metaflow does with its task logs too), so `logs` on
 *   another machine shows a running task's output with a few seconds' delay.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { AwsClientOptions, createS3Client } from '../aws/clients';
import { S3ObjectStore } from '../aws/s3-object-store';
import { AttemptRef } from '../contract/names';
import { CommandFailedError } from '../errors';
import { KeyedDatastore } from './keyed';
import { isCommittedOutput, layout } from './layout';
import { LogSink, TaskStaging } from './types';

/** How often a running attempt's log is rewritten in S3. */
export const LOG_FLUSH_MS = 5_000;
/** How many objects one task's staging moves at once. */
const TRANSFERS_AT_ONCE = 16;

export interface S3DatastoreOptions {
  /**
   * Where the staging directories of local task processes go (see TaskStaging).
   * @default os.tmpdir()
   */
  readonly stagingDir?: string;
  /**
   * How often a running attempt's log is rewritten in S3, in ms.
   * @default LOG_FLUSH_MS (5 s)
   */
  readonly logFlushMs?: number;
}

/** An S3 failure a user can act on, as one line naming the datastore root; exit 1. */
export class S3DatastoreError extends CommandFailedError {
  constructor(message: string) {
    super(message);
    this.name = 'S3DatastoreError';
  }
}

/** One line for an S3 failure: what went wrong, named by the root (and the object when it helps). */
export function describeS3Failure(root: string, bucket: string, err: unknown, key?: string): string {
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; Code?: string };
  const name = e?.name ?? e?.Code ?? '';
  const status = e?.$metadata?.httpStatusCode;
  const where = key ? ` (${root}/${key})` : '';
  if (name === 'NoSuchBucket') return `datastore root ${root}: bucket "${bucket}" does not exist`;
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) return `datastore root ${root}: access denied${where}`;
  if (name === 'CredentialsProviderError' || (/credential/i.test(e?.message ?? '') && status === undefined)) {
    return `datastore root ${root}: no AWS credentials (${firstLine(e?.message)})`;
  }
  const code = e?.code ?? name;
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'TimeoutError'].includes(code)) {
    return `datastore root ${root}: cannot reach S3 (${code}: ${firstLine(e?.message)})`;
  }
  return `datastore ${root}${key ? `/${key}` : ''}: ${name ? `${name}: ` : ''}${firstLine(e?.message)}`;
}

const firstLine = (text: string | undefined) => String(text ?? 'unknown error').split('\n')[0];

/** Run `fn` over `items`, at most `limit` at a time. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class S3Datastore extends KeyedDatastore {
  /** `s3://bucket/prefix`: MF_DATASTORE_ROOT of tasks that reach S3 themselves (Batch). */
  readonly root: string;
  private readonly stagingDir: string;
  private readonly logFlushMs: number;
  /** Logs this process wrote: a sink opened again for one of them appends (reads it first). */
  private readonly logsWritten = new Set<string>();
  /** Per log key, the last write of its sinks: a later sink (late lines) reads what the earlier one wrote only after it is written. */
  private readonly logWrites = new Map<string, Promise<void>>();

  constructor(
    readonly objects: S3ObjectStore,
    options: S3DatastoreOptions = {},
  ) {
    super();
    this.root = objects.url('').replace(/\/$/, '');
    this.stagingDir = options.stagingDir ?? os.tmpdir();
    this.logFlushMs = options.logFlushMs ?? LOG_FLUSH_MS;
  }

  /** Run an S3 call; a failure becomes one line naming the root (and the key). */
  private async s3<T>(key: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw new S3DatastoreError(describeS3Failure(this.root, this.objects.bucket, err, key));
    }
  }

  /**
   * Check before a command relies on the store that the bucket exists and the index can be
   * listed (one ListObjectsV2 of at most one key): a missing bucket, denied access or missing
   * credentials fail with one line, exit 1.
   */
  async check(): Promise<void> {
    await this.s3(undefined, () => this.objects.listPage(layout.runIndexPrefix, { limit: 1 }));
  }

  localPath(): undefined {
    return undefined;
  }

  put(key: string, body: string): Promise<void> {
    return this.s3(key, () => this.objects.putText(key, body, key.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8'));
  }

  get(key: string): Promise<string | undefined> {
    return this.s3(key, () => this.objects.getText(key));
  }

  protected indexKeys(limit: number, after?: string): Promise<string[]> {
    return this.s3(layout.runIndexPrefix, () => this.objects.listPage(layout.runIndexPrefix, { limit, startAfter: after }));
  }

  protected listKeys(prefix: string): Promise<string[]> {
    return this.s3(prefix, () => this.objects.list(prefix));
  }

  protected listSizedKeys(prefix: string): Promise<{ key: string; bytes: number }[]> {
    return this.s3(prefix, () => this.objects.listSized(prefix));
  }

  copyToFile(key: string, file: string): Promise<boolean> {
    return this.download(key, file);
  }

  /** Copy each object of the attempt's outputs to the task path, then delete the attempt's copies. */
  async commitOutputs(attempt: AttemptRef): Promise<void> {
    const from = this.attemptOutputs(attempt);
    const to = layout.task(attempt);
    const keys = await this.s3(from, () => this.objects.list(`${from}/`));
    if (!keys.length) return;
    await eachLimited(keys, TRANSFERS_AT_ONCE, (key) => this.s3(key, () => this.objects.copy(key, `${to}/${key.slice(from.length + 1)}`)));
    await this.s3(from, () => this.objects.deleteMany(keys));
  }

  openLog(attempt: AttemptRef): LogSink {
    const key = layout.attemptLog(attempt);
    const appends = this.logsWritten.has(key);
    this.logsWritten.add(key);
    let text = '';
    let before: string | undefined; // what an earlier sink of this log wrote, read once when appending
    let dirty = false;
    let timer: NodeJS.Timeout | undefined;
    let chain = this.logWrites.get(key) ?? Promise.resolve();
    const flush = (): Promise<void> => {
      if (!dirty) return chain;
      dirty = false;
      chain = chain.then(async () => {
        try {
          if (appends && before === undefined) before = (await this.get(key)) ?? '';
          await this.put(key, (before ?? '') + text);
        } catch {
          // A log that cannot be written must not end the run (the local store's rule too).
        }
      });
      this.logWrites.set(key, chain);
      return chain;
    };
    return {
      write: (_stream, line) => {
        text += line + '\n';
        dirty = true;
        if (!timer) {
          timer = setTimeout(() => {
            timer = undefined;
            void flush();
          }, this.logFlushMs);
          timer.unref();
        }
      },
      close: () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        return flush();
      },
    };
  }

  openStaging(): TaskStaging {
    return new S3TaskStaging(this, this.stagingDir);
  }

  /** Keys of a task path's committed outputs, relative to it (one listing). */
  async committedOutputs(taskPathKey: string): Promise<string[]> {
    const keys = await this.s3(taskPathKey, () => this.objects.list(`${taskPathKey}/`));
    return keys.map((k) => k.slice(taskPathKey.length + 1)).filter(isCommittedOutput);
  }

  /** Download one key to a local file; false when there is no such key. */
  download(key: string, file: string): Promise<boolean> {
    return this.s3(key, () => this.objects.getFile(key, file));
  }

  /** Upload a local file to one key (`sha1`, hex: S3 refuses a body that does not match it). */
  upload(key: string, file: string, options: { sha1?: string } = {}): Promise<void> {
    return this.s3(key, () => this.objects.putFile(key, file, options));
  }

  /** Whether an object has this key (one HeadObject). */
  exists(key: string): Promise<boolean> {
    return this.s3(key, () => this.objects.exists(key));
  }
}

/** How many task paths' listings a staging remembers (committed outputs never change). */
const LISTINGS_KEPT = 256;

/**
 * Staging of local task processes on an S3 datastore: each attempt gets a directory of its own
 * that mirrors the keys it needs (`<dir>/<flow>/<run>/<step>/<task>/outputs.json`, …), which is
 * its MF_DATASTORE_ROOT, and its MF_OUTPUT_DIR inside it at the usual place; after the attempt,
 * what it wrote is uploaded to `attemptOutputs(attempt)` and the directory removed.
 */
class S3TaskStaging implements TaskStaging {
  private readonly dirs = new Map<string, string>();
  private readonly listings = new Map<string, Promise<string[]>>();

  constructor(
    private readonly store: S3Datastore,
    private readonly base: string,
  ) {}

  private committed(taskPathKey: string): Promise<string[]> {
    let listing = this.listings.get(taskPathKey);
    if (!listing) {
      listing = this.store.committedOutputs(taskPathKey);
      this.listings.set(taskPathKey, listing);
      listing.catch(() => this.listings.delete(taskPathKey));
      if (this.listings.size > LISTINGS_KEPT) this.listings.delete(this.listings.keys().next().value!);
    }
    return listing;
  }

  async prepare(attempt: AttemptRef, env: Readonly<Record<string, string>>): Promise<{ root: string; outputDir: string }> {
    const root = await fs.promises.mkdtemp(path.join(this.base, 'metaflow-cdk-task-'));
    this.dirs.set(this.store.attemptOutputs(attempt), root);
    const fetchKey = async (key: string) => {
      if (!(await this.store.download(key, path.join(root, key)))) throw new Error(`${this.store.root}/${key} is missing from the datastore`);
    };
    // The contract's files the environment names (relative to MF_DATASTORE_ROOT).
    const named = [env.MF_INPUT_PATHS_FILE, env.MF_FOREACH_ITEM_FILE, env.MF_CAUGHT_FILE].filter((k): k is string => !!k);
    await Promise.all(named.map(fetchKey));
    const inputs = env.MF_INPUT_PATHS_FILE
      ? (await fs.promises.readFile(path.join(root, env.MF_INPUT_PATHS_FILE), 'utf8')).split('\n').filter(Boolean)
      : (env.MF_INPUT_PATHS ?? '').split(',').filter(Boolean);
    // Every input's committed outputs (outputs.json and files), at its task path.
    await eachLimited(inputs, TRANSFERS_AT_ONCE, async (input) => {
      const keys = await this.committed(input);
      await eachLimited(keys, TRANSFERS_AT_ONCE, (rel) => fetchKey(`${input}/${rel}`));
    });
    const outputDir = path.join(root, this.store.attemptOutputs(attempt));
    await fs.promises.mkdir(outputDir, { recursive: true });
    return { root, outputDir };
  }

  async collect(attempt: AttemptRef): Promise<void> {
    const prefix = this.store.attemptOutputs(attempt);
    const root = this.dirs.get(prefix);
    if (!root) return;
    const outputDir = path.join(root, prefix);
    const files = (await fs.promises.readdir(outputDir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile());
    await eachLimited(files, TRANSFERS_AT_ONCE, async (d) => {
      const file = path.join(d.parentPath, d.name);
      await this.store.upload(`${prefix}/${path.relative(outputDir, file).split(path.sep).join('/')}`, file);
    });
  }

  async release(attempt: AttemptRef): Promise<void> {
    const prefix = this.store.attemptOutputs(attempt);
    const root = this.dirs.get(prefix);
    if (!root) return;
    this.dirs.delete(prefix);
    await fs.promises.rm(root, { recursive: true, force: true });
  }
}

/** An S3 datastore on `s3://bucket/prefix`, with a client from the one client factory. */
export function openS3Datastore(root: { bucket: string; prefix: string }, clientOptions: AwsClientOptions = {}, options: S3DatastoreOptions = {}): S3Datastore {
  const client: S3Client = createS3Client(clientOptions);
  return new S3Datastore(new S3ObjectStore(client, root.bucket, root.prefix), options);
}

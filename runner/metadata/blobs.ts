/**
 * Where the Metaflow-format files of a run go (artifacts and MFLOG logs): the run's own
 * datastore, at the keys Metaflow's client reads (`<flow>/data/<sha1[:2]>/<sha1>` for artifacts,
 * `<flow>/<run>/<step>/<task>/<attempt>.task_stdout.log` for logs), so `ds-root` is the
 * datastore's root.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Datastore } from '../datastore/types';
import { pickleJson } from './pickle';

/** Writes bytes at datastore keys. */
export interface BlobWriter {
  /** Metaflow's `ds-type`: `local` or `s3`. */
  readonly dsType: 'local' | 's3';
  /** Metaflow's `ds-root`: the datastore's root. */
  readonly dsRoot: string;
  /** Write `body` at `key` unless something is there already (content-addressed keys never change). */
  putOnce(key: string, body: Buffer | string): Promise<void>;
  /** Add `text` at the end of the file at `key` (a log's late lines), creating it when missing. */
  append(key: string, text: string): Promise<void>;
}

/** Append through the datastore: read, then write the whole (S3 has no append; logs are small). */
const appendVia = (datastore: Datastore) => async (key: string, text: string): Promise<void> => {
  await datastore.put(key, ((await datastore.get(key)) ?? '') + text);
};

/** The blob writer of a datastore: files for a local one, objects for S3. */
export function blobWriterFor(datastore: Datastore): BlobWriter {
  if (datastore.localPath('') !== undefined) {
    return {
      dsType: 'local',
      dsRoot: datastore.root,
      async putOnce(key, body) {
        const file = datastore.localPath(key)!;
        if (fs.existsSync(file)) return;
        await fs.promises.mkdir(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
        await fs.promises.writeFile(tmp, body);
        await fs.promises.rename(tmp, file);
      },
      append: appendVia(datastore),
    };
  }
  // The S3 datastore (runner/datastore/s3.ts): HeadObject to skip what is there, PutObject from a file.
  const s3 = datastore as Partial<S3Blobs>;
  const seen = new Set<string>();
  return {
    dsType: 's3',
    dsRoot: datastore.root,
    async putOnce(key, body) {
      if (!s3.exists || !s3.upload) throw new Error(`the datastore at ${datastore.root} cannot store Metaflow artifacts`);
      // Content-addressed blobs repeat (every task's `_task_ok` is the same pickle): one HEAD per key per run.
      if (seen.has(key) || (await s3.exists(key))) return void seen.add(key);
      const tmp = path.join(os.tmpdir(), `mfcdk-blob-${process.pid}-${randomBytes(4).toString('hex')}`);
      await fs.promises.writeFile(tmp, body);
      try {
        await s3.upload(key, tmp);
      } finally {
        await fs.promises.rm(tmp, { force: true });
      }
      seen.add(key);
    },
    append: appendVia(datastore),
  };
}

/** What the S3 datastore offers for writing blobs. */
interface S3Blobs {
  exists(key: string): Promise<boolean>;
  upload(key: string, file: string): Promise<void>;
}

/** A value as a Metaflow artifact blob: its sha1 (of the raw pickle), the gzip Metaflow stores, the pickle's size. */
export function artifactBlob(value: unknown): { sha: string; gzip: Buffer; size: number } {
  const pickle = pickleJson(value);
  // Metaflow's content-addressed store keys by the sha1 of the raw pickle and gzips it (level 3).
  return { sha: createHash('sha1').update(pickle).digest('hex'), gzip: gzipSync(pickle, { level: 3 }), size: pickle.length };
}

/** The content type Metaflow's pickle serializer reads (protocol 2, gzipped). */
export const ARTIFACT_CONTENT_TYPE = 'gzip+pickle-v2';

/**
 * An S3 object store: the primitive the S3 datastore sits on. Keys are relative to a root
 * prefix; JSON and text in and out, files up and down (streamed); `createIfAbsent` is a
 * conditional PUT (`If-None-Match: *`), so two writers cannot both create the same record;
 * server-side copies and batch deletes; listing uses the SDK's paginator. Retries are the SDK's
 * (runner/aws/clients.ts), never hand-rolled here.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

export class S3ObjectStore {
  private readonly prefix: string;

  /** `prefix` may be empty; slashes at its ends are ignored. */
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    prefix = '',
  ) {
    this.prefix = prefix.replace(/^\/+|\/+$/g, '');
  }

  /** The full object key of a relative key. */
  key(relative: string): string {
    const clean = relative.replace(/^\/+/, '');
    return this.prefix ? `${this.prefix}/${clean}` : clean;
  }

  /** `s3://bucket/prefix/key` for messages and task environments. */
  url(relative: string): string {
    return `s3://${this.bucket}/${this.key(relative)}`;
  }

  async putText(relative: string, text: string, contentType = 'text/plain; charset=utf-8'): Promise<void> {
    const body = Buffer.from(text, 'utf8');
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(relative), Body: body, ContentLength: body.length, ContentType: contentType }));
  }

  async putJson(relative: string, value: unknown): Promise<void> {
    await this.putText(relative, JSON.stringify(value), 'application/json');
  }

  /** Create the object only if no object has that key. Returns false when it already existed. */
  async createIfAbsent(relative: string, text: string, contentType = 'application/json'): Promise<boolean> {
    const body = Buffer.from(text, 'utf8');
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.key(relative), Body: body, ContentLength: body.length, ContentType: contentType, IfNoneMatch: '*' }),
      );
      return true;
    } catch (err) {
      const status = (err as S3ServiceException).$metadata?.httpStatusCode;
      if (status === 412 || (err as Error).name === 'PreconditionFailed') return false;
      throw err;
    }
  }

  /** The object's text, or undefined when there is no such key. */
  async getText(relative: string): Promise<string | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }));
      return await out.Body!.transformToString('utf8');
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The object parsed as JSON, or undefined when there is no such key; bad JSON → one line naming the object. */
  async getJson<T = unknown>(relative: string): Promise<T | undefined> {
    const text = await this.getText(relative);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new Error(`${this.url(relative)} is not valid JSON: ${(err as Error).message}`);
    }
  }

  async exists(relative: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Relative keys under `relativePrefix`, every page (SDK paginator; `pageSize` ≤ 1000, S3's default). */
  async list(relativePrefix = '', pageSize?: number): Promise<string[]> {
    const full = this.key(relativePrefix);
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const keys: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.s3, pageSize }, { Bucket: this.bucket, Prefix: full })) {
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key.slice(strip));
    }
    return keys;
  }

  /** Relative keys under `relativePrefix` with their sizes in bytes, every page. */
  async listSized(relativePrefix = ''): Promise<{ key: string; bytes: number }[]> {
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const found: { key: string; bytes: number }[] = [];
    for await (const page of paginateListObjectsV2({ client: this.s3 }, { Bucket: this.bucket, Prefix: this.key(relativePrefix) })) {
      for (const object of page.Contents ?? []) if (object.Key) found.push({ key: object.Key.slice(strip), bytes: object.Size ?? 0 });
    }
    return found;
  }

  /** Immediate "folders" under `relativePrefix` (CommonPrefixes with `/`), without the trailing slash. */
  async listFolders(relativePrefix = ''): Promise<string[]> {
    const base = this.key(relativePrefix);
    const full = base && !base.endsWith('/') ? `${base}/` : base;
    const folders: string[] = [];
    for await (const page of paginateListObjectsV2({ client: this.s3 }, { Bucket: this.bucket, Prefix: full, Delimiter: '/' })) {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) folders.push(p.Prefix.slice(full.length).replace(/\/$/, ''));
    }
    return folders;
  }

  /**
   * Up to `limit` relative keys under `relativePrefix`, in key order, after `startAfter` (a
   * relative key): ListObjectsV2 with StartAfter through the paginator, stopping at `limit`.
   */
  async listPage(relativePrefix: string, options: { limit: number; startAfter?: string }): Promise<string[]> {
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    const keys: string[] = [];
    const input = { Bucket: this.bucket, Prefix: this.key(relativePrefix), ...(options.startAfter !== undefined ? { StartAfter: this.key(options.startAfter) } : {}) };
    for await (const page of paginateListObjectsV2({ client: this.s3, pageSize: Math.min(options.limit, 1000) }, input)) {
      for (const object of page.Contents ?? []) {
        if (object.Key) keys.push(object.Key.slice(strip));
        if (keys.length >= options.limit) return keys;
      }
    }
    return keys;
  }

  /**
   * Upload a local file to `relative`: one PutObject, streamed (S3 takes ≤ 5 GiB in one PUT).
   * `sha1` (hex): sent as x-amz-checksum-sha1; S3 computes the body's own and rejects a PUT
   * whose checksums differ (S3 user guide, "Checking object integrity for data uploads").
   */
  async putFile(relative: string, file: string, options: { sha1?: string } = {}): Promise<void> {
    const { size } = await stat(file);
    const checksum = options.sha1 !== undefined ? { ChecksumSHA1: Buffer.from(options.sha1, 'hex').toString('base64') } : {};
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(relative), Body: createReadStream(file), ContentLength: size, ...checksum }));
  }

  /** Download `relative` to a local file (its directory is made); false when there is no such key. */
  async getFile(relative: string, file: string): Promise<boolean> {
    let body: Readable;
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(relative) }));
      body = out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
    await mkdir(dirname(file), { recursive: true });
    await pipeline(body, createWriteStream(file));
    return true;
  }

  /** Server-side copy of one object to another key of this store (≤ 5 GiB: S3's CopyObject limit). */
  async copy(fromRelative: string, toRelative: string): Promise<void> {
    const source = `${this.bucket}/${this.key(fromRelative).split('/').map(encodeURIComponent).join('/')}`;
    await this.s3.send(new CopyObjectCommand({ Bucket: this.bucket, Key: this.key(toRelative), CopySource: source }));
  }

  /** Delete these keys, 1,000 per DeleteObjects call (S3's limit); a key already gone is fine. */
  async deleteMany(relatives: readonly string[]): Promise<void> {
    for (let i = 0; i < relatives.length; i += DELETE_BATCH) {
      const objects = relatives.slice(i, i + DELETE_BATCH).map((r) => ({ Key: this.key(r) }));
      const out = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: objects, Quiet: true } }));
      const failed = out.Errors ?? [];
      if (failed.length) throw new Error(`could not delete ${failed.length} object(s), the first s3://${this.bucket}/${failed[0].Key ?? ''}: ${failed[0].Code ?? 'error'}`);
    }
  }
}

/** The most keys one DeleteObjects call takes. */
const DELETE_BATCH = 1000;

function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

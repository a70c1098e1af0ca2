/**
 * An S3 object store: the primitive the S3 datastore sits on. Keys are relative to a root
 * prefix; JSON and text in and out; `createIfAbsent` is a conditional PUT (`If-None-Match: *`),
 * so two writers cannot both create the same record; listing uses the SDK's paginator.
 */
import {
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
}

function isNotFound(err: unknown): boolean {
  const e = err as S3ServiceException;
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

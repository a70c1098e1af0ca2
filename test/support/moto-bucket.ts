/**
 * The worker's moto_server (test/support/moto.ts workerMoto) with one S3 bucket for a test file,
 * and the reads a test makes of a datastore under a prefix of that bucket.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../runner/aws/clients';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, type MotoServer, workerMoto } from './moto';

export interface MotoBucket {
  /** The server's endpoint (valid once beforeAll ran). */
  readonly endpoint: string;
  /** A client of the server's S3 (valid once beforeAll ran). */
  readonly s3: S3Client;
  /** Write `<prefix>/<key>`. */
  put(key: string, body: string): Promise<unknown>;
  /** `<prefix>/<key>`'s body, or undefined when there is none. */
  get(key: string): Promise<string | undefined>;
  /** The keys under `<prefix>/<under>`, relative to the prefix, sorted. */
  keys(under: string): Promise<string[]>;
}

/** Call inside a describe: moto_server with `bucket` for its tests; keys are under `prefix`. */
export function useMotoBucket(bucket: string, prefix: string): MotoBucket {
  let moto: MotoServer | undefined;
  let client: S3Client | undefined;
  beforeAll(async () => {
    moto = await workerMoto();
    client = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useMotoBucket: moto_server is not started (use it inside a test)');
    return value;
  };
  return {
    get endpoint() {
      return ready(moto).endpoint;
    },
    get s3() {
      return ready(client);
    },
    put: (key, body) => ready(client).send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}`, Body: body })),
    async get(key) {
      try {
        return await (await ready(client).send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }))).Body!.transformToString();
      } catch {
        return undefined;
      }
    },
    async keys(under) {
      const listed = await ready(client).send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/${under}` }));
      return (listed.Contents ?? []).map((c) => c.Key!.slice(prefix.length + 1)).sort();
    },
  };
}

/**
 * The datastore contract, run on both stores: the local directory and S3 (moto_server on
 * 127.0.0.1). Plus the S3 store's own faults: access denied (aws-sdk-client-mock) and throttling
 * absorbed by the SDK's retry (an HTTP-level fault in front of moto).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createS3Client } from '../../runner/aws/clients';
import { S3ObjectStore } from '../../runner/aws/s3-object-store';
import { AttemptRef } from '../../runner/contract/names';
import { LocalDatastore } from '../../runner/datastore/local';
import { runSortKey } from '../../runner/datastore/layout';
import { S3Datastore, S3DatastoreError } from '../../runner/datastore/s3';
import { CorruptRunRecordError, Datastore, RunSummary } from '../../runner/datastore/types';
import { describeWithTool } from '../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, MOTO_START_TIMEOUT_MS, workerMoto } from '../support/moto';
import { tempDir } from './support/harness';

const summary = (runId: string, flow = 'F'): RunSummary => ({ flow, runId, status: 'succeeded', startedAt: '2026-11-21T00:00:00.000Z', parameters: {}, withRetry: false, compute: 'local', taskCount: 0 });
const ids = ['20261121-100000-aaaaaa', '20261121-100001-bbbbbb', '20261122-090000-cccccc', '20261231-235959-dddddd', '20250101-000000-eeeeee'];
const attempt = (n: number, step = 's', taskId = '0'): AttemptRef => ({ flow: 'F', runId: ids[0], step, taskId, attempt: n });

/** Record the keys a store reads. */
function countGets(store: Datastore): string[] {
  const gets: string[] = [];
  const get = store.get.bind(store);
  store.get = (key) => {
    gets.push(key);
    return get(key);
  };
  return gets;
}

/** Write files into an attempt's MF_OUTPUT_DIR through the store's staging, as a task would. */
async function runTask(store: Datastore, a: AttemptRef, files: Record<string, string>, env: Record<string, string> = {}) {
  const staging = store.openStaging();
  const { root, outputDir } = await staging.prepare(a, env);
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(outputDir, name)), { recursive: true });
    fs.writeFileSync(path.join(outputDir, name), body);
  }
  await staging.collect(a);
  return { staging, root };
}

function contract(name: string, make: () => Datastore) {
  describe(`datastore contract: ${name}`, () => {
    test('the index pages newest first; readRun reads only its own run', async () => {
      const store = make();
      for (const [i, id] of ids.entries()) await store.writeRunSummary(summary(id, `Flow${i}`), true);
      const p1 = await store.listRuns({ limit: 2 });
      expect(p1.runs.map((r) => r.runId)).toEqual([ids[3], ids[2]]);
      const p2 = await store.listRuns({ limit: 2, after: p1.next });
      expect(p2.runs.map((r) => r.runId)).toEqual([ids[1], ids[0]]);
      const p3 = await store.listRuns({ limit: 2, after: p2.next });
      expect(p3.runs.map((r) => r.runId)).toEqual([ids[4]]);
      expect(p3.next).toBeUndefined();
      const gets = countGets(store);
      expect(await store.readRun(ids[1])).toMatchObject({ runId: ids[1], flow: 'Flow1', tasks: [] });
      expect(gets).toEqual([`.index/runs/${runSortKey(ids[1])}.json`, `Flow1/${ids[1]}/run.json`]);
      expect(await store.readRun('20200101-000000-ffffff')).toBeUndefined();
      expect(store.newRunId()).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    });

    test('a corrupt record is reported as corrupt, and listing goes on past it', async () => {
      const store = make();
      for (const id of ids.slice(0, 3)) await store.writeRunSummary(summary(id), true);
      await store.put(`F/${ids[1]}/run.json`, '{"flow": "F", "runId": ');
      await expect(store.readRun(ids[1])).rejects.toThrow(CorruptRunRecordError);
      const page = await store.listRuns();
      expect(page.runs.map((r) => r.runId)).toEqual([ids[2], ids[0]]);
      expect(page.corrupt.map((c) => c.runId)).toEqual([ids[1]]);
      await store.writeRunSummary({ ...summary(ids[2]), taskCount: 1 });
      await expect(store.readRun(ids[2])).rejects.toThrow(`its record F/${ids[2]}/tasks/0.json is corrupt (missing)`);
      await store.writeTaskChunk('F', ids[2], 0, [{ step: 's', taskId: '0', status: 'succeeded', inputs: [], attempts: [] }]);
      expect((await store.readRun(ids[2]))!.tasks).toHaveLength(1);
    });

    test("only the committed attempt's outputs and files are the task's; successors see them at the task path", async () => {
      const store = make();
      await runTask(store, attempt(0), { 'outputs.json': '{"a":0}' }); // a failed attempt: never committed
      await runTask(store, attempt(1), { 'outputs.json': '{"a":1}', 'sub/file.txt': 'data' });
      expect(await store.readOutputs('F/' + ids[0] + '/s/0')).toBeUndefined();
      await store.commitOutputs(attempt(1));
      expect(await store.readOutputs(`F/${ids[0]}/s/0`)).toEqual({ a: 1 });
      expect(await store.readOutputs(store.attemptOutputs(attempt(0)))).toEqual({ a: 0 });
      await runTask(store, attempt(0, 'quiet'), {});
      await store.commitOutputs(attempt(0, 'quiet'));
      expect(await store.readOutputs(`F/${ids[0]}/quiet/0`)).toBeUndefined();

      await store.put(`F/${ids[0]}/s/0/foreach-items.jsonl`, '"x"\n"y"\n');
      await store.put(`F/${ids[0]}/s/0/foreach-item-1.json`, '"y"');
      await store.put(`F/${ids[0]}/j/0/input-paths.txt`, `F/${ids[0]}/s/0\n`);
      const env = { MF_INPUT_PATHS_FILE: `F/${ids[0]}/j/0/input-paths.txt`, MF_FOREACH_ITEM_FILE: `F/${ids[0]}/s/0/foreach-item-1.json` };
      const staging = store.openStaging();
      const { root, outputDir } = await staging.prepare(attempt(0, 'j'), env);
      const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
      expect(JSON.parse(read(`F/${ids[0]}/s/0/outputs.json`))).toEqual({ a: 1 });
      expect(read(`F/${ids[0]}/s/0/sub/file.txt`)).toBe('data');
      expect(read(env.MF_FOREACH_ITEM_FILE)).toBe('"y"');
      expect(fs.statSync(outputDir).isDirectory()).toBe(true);
      await staging.release(attempt(0, 'j'));
    });

    test('logs: lines in order, a reopened log appends; task status round trip', async () => {
      const store = make();
      const sink = store.openLog(attempt(0));
      sink.write('stdout', 'one');
      sink.write('stderr', 'two');
      await sink.close();
      expect(await store.readLog(attempt(0))).toBe('one\ntwo\n');
      const late = store.openLog(attempt(0));
      late.write('stdout', 'three');
      await late.close();
      expect(await store.readLog(attempt(0))).toBe('one\ntwo\nthree\n');
      expect(await store.readLog(attempt(1))).toBeUndefined();
      const rec = { step: 's', taskId: '0', status: 'succeeded' as const, inputs: [], attempts: [] };
      await store.writeTaskStatus(attempt(0), rec);
      expect(await store.readTaskStatus(`F/${ids[0]}/s/0`)).toEqual(rec);
      expect(await store.readTaskStatus(`F/${ids[0]}/s/9`)).toBeUndefined();
    });
  });
}

contract('local', () => new LocalDatastore(tempDir()));

describeWithTool(
  'moto_server',
  'the S3 datastore on moto_server',
  () => {
    let moto: MotoServer;
    let client: S3Client;
    let n = 0;
    const staging = tempDir('mfcdk-stage-');
    beforeAll(async () => {
      moto = await workerMoto();
      client = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, maxAttempts: 3 });
      await client.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    }, MOTO_START_TIMEOUT_MS);
    afterAll(async () => {
      client?.destroy();
      await moto?.stop();
    });

    contract('s3', () => new S3Datastore(new S3ObjectStore(client, 'mf-data', `t${++n}/metaflow`), { stagingDir: staging }));

    test('the commit copies to the task path and removes the attempt copies; staging leaves nothing behind', async () => {
      const own = tempDir('mfcdk-stage-');
      const store = new S3Datastore(new S3ObjectStore(client, 'mf-data', 'commit'), { stagingDir: own });
      const a = attempt(0);
      const { staging: st } = await runTask(store, a, { 'outputs.json': '{}', 'f.bin': 'x' });
      await st.release(a);
      await store.commitOutputs(a);
      const keys = (await client.send(new ListObjectsV2Command({ Bucket: 'mf-data', Prefix: 'commit/' }))).Contents!.map((c) => c.Key).sort();
      expect(keys).toEqual([`commit/F/${ids[0]}/s/0/f.bin`, `commit/F/${ids[0]}/s/0/outputs.json`]);
      expect(fs.readdirSync(own)).toEqual([]);
      expect(store.root).toBe('s3://mf-data/commit');
    });

    test('a missing bucket is one line naming the root', async () => {
      const store = new S3Datastore(new S3ObjectStore(client, 'no-such-bucket', 'x'));
      await expect(store.check()).rejects.toThrow(new S3DatastoreError('datastore root s3://no-such-bucket/x: bucket "no-such-bucket" does not exist'));
    });

    test('throttling (503 SlowDown) is absorbed by the SDK retry, not by us', async () => {
      const real = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
      const inner = real.config.requestHandler as { handle: (req: unknown, o?: unknown) => Promise<unknown> };
      const seen: string[] = [];
      let throttled = 0;
      const { HttpResponse } = require('@smithy/core/protocols') as typeof import('@smithy/core/protocols');
      const { Readable } = require('node:stream') as typeof import('node:stream');
      const handler = {
        handle: async (req: { method: string; path: string }, o?: unknown) => {
          seen.push(`${req.method} ${req.path}`);
          if (seen.filter((s) => s === `${req.method} ${req.path}`).length <= 2) {
            throttled++;
            const body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>';
            return { response: new HttpResponse({ statusCode: 503, headers: { 'content-type': 'application/xml' }, body: Readable.from([Buffer.from(body)]) }) };
          }
          return inner.handle(req, o);
        },
      };
      const flaky = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, requestHandler: handler, retryMode: 'standard', maxAttempts: 3 });
      const store = new S3Datastore(new S3ObjectStore(flaky, 'mf-data', 'slow'));
      await store.put('k.json', '{"x":1}');
      expect(await store.get('k.json')).toBe('{"x":1}');
      expect(throttled).toBe(4); // two 503s before each of the PUT and the GET, retried by the SDK
      flaky.destroy();
      real.destroy();
    });
  },
  ['--help'],
);

describe('the S3 datastore: access denied (aws-sdk-client-mock)', () => {
  test('one line naming the root, exit 1; a denied record read is not called corrupt', async () => {
    const s3 = new S3Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const mock = mockClient(s3);
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    mock.onAnyCommand().rejects(denied);
    const store = new S3Datastore(new S3ObjectStore(s3, 'mf-data', 'metaflow'));
    const err = await store.check().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3DatastoreError);
    expect((err as S3DatastoreError).message).toBe('datastore root s3://mf-data/metaflow: access denied');
    expect((err as S3DatastoreError).exitCode).toBe(1);
    await expect(store.readRun(ids[0])).rejects.toThrow(`datastore root s3://mf-data/metaflow: access denied (s3://mf-data/metaflow/.index/runs/${runSortKey(ids[0])}.json)`);
    mock.restore();
  });
});

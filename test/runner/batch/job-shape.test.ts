/**
 * The one-container job shape (runner/batch/job-shape.ts) and the task runtime it loads
 * (runner/task-runtime/python): the definition and overrides, ECS's 8,192-character budget on the
 * widest jobs, stage 0's SigV4 signature checked against the AWS SDK's signer, and the runtime
 * played in the python stand-in against an S3 datastore on moto.
 */
import { spawnSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import type { ContainerOverrides, RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  checkEcsBudget,
  checkSubmitJobSize,
  ECS_OVERRIDES_BUDGET,
  ecsOverrideChars,
  EcsOverridesTooLargeError,
  emptyArgumentProblems,
  environmentMap,
  loaderCommand,
  RUNTIME_EXIT,
  stage0Program,
  TaskIo,
  taskContainerOverrides,
  taskIoEnvironment,
  taskJobDefinition,
} from '../../../runner/batch/job-shape';
import { BatchJobDefinitionInput } from '../../../runner/policy';
import { RUNTIME_SOURCE_DIR, STAGE0_FILE } from '../../../runner/task-runtime';
import { playContainerJob, PlayedJob } from '../../support/batch-job-player';
import { useMotoBucket } from '../../support/moto-bucket';
import { motoDatastore, storeTestCodePackage } from './code-package-fixture';

const input: BatchJobDefinitionInput = {
  flow: 'Flow',
  step: 'train',
  image: 'python:3.12-slim',
  policies: { resources: { cpu: 1, memory: 2048, gpu: 0 }, retries: 0, retryDelayMs: 0, timeoutSeconds: 600 },
  platform: 'FARGATE',
  jobRoleArn: 'arn:aws:iam::1:role/job',
  executionRoleArn: 'arn:aws:iam::1:role/exec',
  options: { assignPublicIp: true },
};
const CODE = { codeUrl: `s3://mf-data/mf/Flow/data/ab/ab${'0'.repeat(38)}` };
const IO: TaskIo = { datastoreUrl: 's3://mf-data/mf', fetchKeys: ['Flow/7/start/0/'], outputKey: 'Flow/7/train/0/attempt-0' };

describe('the job definition: one container, the loader with the step argv as its arguments', () => {
  test('containerProperties with the loader command; no ecsProperties', () => {
    const argv = ['python3', 'train.py', '--epochs', '3'];
    const def = taskJobDefinition(input, argv);
    expect(def.jobDefinitionName).toMatch(/^metaflow_Flow-train-[0-9a-f]{12}$/);
    expect(def).not.toHaveProperty('ecsProperties');
    expect(def.containerProperties).toMatchObject({ image: 'python:3.12-slim', jobRoleArn: input.jobRoleArn, executionRoleArn: input.executionRoleArn });
    const command = def.containerProperties!.command!;
    expect(command).toEqual(loaderCommand(argv));
    expect(command.slice(0, 2)).toEqual(['sh', '-c']);
    expect(command[2]).toMatch(/^command -v python3 .*exit 90;\};p=\$1;shift;exec python3 -c "\$p" "\$@"$/);
    expect(command.slice(3)).toEqual(['metaflow-cdk', stage0Program(), ...argv]);
    // a different argv is a different definition
    expect(taskJobDefinition(input, ['python3', 'other.py']).jobDefinitionName).not.toBe(def.jobDefinitionName);
  });

  test("stage0Program() decodes to stage0.py's bytes exactly", () => {
    const m = /^import zlib,base64;exec\(zlib\.decompress\(base64\.b64decode\("([A-Za-z0-9+/=]+)"\)\)\)$/.exec(stage0Program());
    expect(m).not.toBeNull();
    expect(inflateSync(Buffer.from(m![1], 'base64')).equals(readFileSync(path.join(RUNTIME_SOURCE_DIR, STAGE0_FILE)))).toBe(true);
  });

  test('an empty argument is refused by AWS Batch: one line per argument, naming where', () => {
    expect(emptyArgumentProblems('step "a"', ['echo', '', 'x', ''])).toEqual([
      'step "a": command argument 2 is an empty string, which AWS Batch refuses (leave it out, or pass the value through env)',
      'step "a": command argument 4 is an empty string, which AWS Batch refuses (leave it out, or pass the value through env)',
    ]);
    expect(emptyArgumentProblems('step "a"', ['echo', 'x'])).toEqual([]);
  });
});

describe('the overrides: environment only', () => {
  const def = taskJobDefinition(input, ['python3', 'train.py']);

  test('the task contract and the I/O keys; MF_DATASTORE_ROOT / MF_OUTPUT_DIR are the runtime\'s to set', () => {
    const overrides = taskContainerOverrides('train/0', def, { MF_FLOW: 'Flow', MF_TASK_ID: '0', MF_DATASTORE_ROOT: '/local/root', MF_OUTPUT_DIR: '/local/out' }, IO, { ...CODE, region: 'eu-west-1' });
    expect(Object.keys(overrides)).toEqual(['environment']);
    expect(environmentMap(overrides.environment)).toEqual({
      MF_FLOW: 'Flow',
      MF_TASK_ID: '0',
      MF_DATASTORE_URL: 's3://mf-data/mf',
      MF_CODE_URL: CODE.codeUrl,
      MF_S3_REGION: 'eu-west-1',
      MF_FETCH_KEYS: 'Flow/7/start/0/',
      MF_OUTPUT_KEY: 'Flow/7/train/0/attempt-0',
    });
    // sorted by name, as batchEnvironment sends them
    const names = overrides.environment!.map((kv) => kv.name!);
    expect(names).toEqual([...names].sort());
  });

  test('names starting with AWS_BATCH are refused, naming them', () => {
    expect(() => taskContainerOverrides('train/0', def, { AWS_BATCH_X: '1', MF_TASK_ID: '0' }, IO, CODE)).toThrow('train/0: environment names starting with AWS_BATCH are reserved by Batch: AWS_BATCH_X');
  });

  test('the I/O environment: keys relative to the root, placeholders kept, optional ones only when given; bad roots and keys refused', () => {
    expect(
      taskIoEnvironment(
        { datastoreUrl: 's3://b/mf/', fetchKeys: ['F/7/start/0/foreach-items.jsonl', 'F/7/a/{taskId}/', 'F/7/a/{taskId}/'], waitKeys: ['F/7/a/{taskId}/status.json'], outputKey: 'F/7/b/{taskId}/attempt-0' },
        CODE,
      ),
    ).toEqual({ MF_DATASTORE_URL: 's3://b/mf', MF_CODE_URL: CODE.codeUrl, MF_FETCH_KEYS: 'F/7/start/0/foreach-items.jsonl F/7/a/{taskId}/', MF_WAIT_KEYS: 'F/7/a/{taskId}/status.json', MF_OUTPUT_KEY: 'F/7/b/{taskId}/attempt-0' });
    expect(
      taskIoEnvironment(
        { datastoreUrl: 's3://b', fetchKeys: [], fetchLists: ['F/7/join/0/input-paths.txt'], fetchChildren: ['F/7/train/'], waitSeconds: 120, outputKey: 'F/7/join/0/attempt-1', commitKey: 'F/7/join/0', commitInputs: ['a/0', 'a/1'], foreachItemsJson: 'F/7/start/0/items.json' },
        CODE,
      ),
    ).toEqual({
      MF_DATASTORE_URL: 's3://b',
      MF_CODE_URL: CODE.codeUrl,
      MF_FETCH_LISTS: 'F/7/join/0/input-paths.txt',
      MF_FETCH_CHILDREN: 'F/7/train/',
      MF_WAIT_SECONDS: '120',
      MF_OUTPUT_KEY: 'F/7/join/0/attempt-1',
      MF_COMMIT_KEY: 'F/7/join/0',
      MF_COMMIT_INPUTS: 'a/0,a/1',
      MF_FOREACH_ITEMS_JSON: 'F/7/start/0/items.json',
    });
    expect(() => taskIoEnvironment({ ...IO, datastoreUrl: '/tmp/root' }, CODE)).toThrow('a Batch job needs an S3 datastore root (s3://bucket[/prefix]), got "/tmp/root"');
    expect(() => taskIoEnvironment(IO, { codeUrl: 's3://b/code.tgz' })).toThrow('a Batch job needs a code package URL ending in its sha1, got "s3://b/code.tgz"');
    expect(() => taskIoEnvironment({ ...IO, fetchKeys: ['/abs/key'] }, CODE)).toThrow('task I/O keys are relative to the datastore root, without spaces, got "/abs/key"');
  });
});

describe("ECS's 8,192 characters: definition and overrides together, on the widest jobs", () => {
  const flow = 'F'.repeat(40);
  const step = 's'.repeat(40);
  const runId = '9'.repeat(32);
  const wide: BatchJobDefinitionInput = { ...input, flow, step };
  const argv = ['python3', 'steps/train_the_model.py', '--config', 'configs/experiment.yaml'];
  const def = taskJobDefinition(wide, argv);
  // 30 parameters with 20-character names and 20-character values: ~1,900 characters
  const params = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`MF_PARAM_${'P'.repeat(18)}${String(i).padStart(2, '0')}`, `${'v'.repeat(18)}${String(i).padStart(2, '0')}`]));
  const base = (taskId: string) => ({
    MF_FLOW: flow,
    MF_RUN_ID: runId,
    MF_STEP: step,
    MF_TASK_ID: taskId,
    MF_RETRY_COUNT: '0',
    MF_FOREACH_COUNT: '10000',
    ...params,
  });

  test('a 10,000-child array template with 40-character names and 30 parameters fits, with the margin', () => {
    const env = {
      ...base('{taskId}'),
      MF_TASK_ID_PREFIX: '9999_',
      MF_ARRAY_INDEX_OFFSET: '9999',
      MF_FOREACH_ITEMS_FILE: `${flow}/${runId}/${step}/9999_0/foreach-items.jsonl`,
      MF_INPUT_PATHS: `${flow}/${runId}/${step}/{taskId}`,
    };
    const io: TaskIo = {
      datastoreUrl: 's3://a-bucket-name-of-sixty-three-characters-for-the-widest-case-x/metaflow',
      fetchKeys: [env.MF_FOREACH_ITEMS_FILE, `${flow}/${runId}/${step}/{taskId}/`],
      waitKeys: [`${flow}/${runId}/${step}/{taskId}/status.json`],
      outputKey: `${flow}/${runId}/${step}/{taskId}/attempt-0`,
    };
    const overrides = taskContainerOverrides('wide', def, env, io, { codeUrl: `s3://a-bucket-name-of-sixty-three-characters-for-the-widest-case-x/metaflow/${flow}/data/ab/ab${'0'.repeat(38)}`, region: 'ap-southeast-2' });
    const size = ecsOverrideChars(def, overrides);
    expect(size).toBeLessThanOrEqual(ECS_OVERRIDES_BUDGET);
    // some room is left for longer parameters (the loader alone is ~2,450 characters)
    expect(ECS_OVERRIDES_BUDGET - size).toBeGreaterThan(300);
    // the loader is most of it: stage 0 stays small
    expect(JSON.stringify(def.containerProperties!.command).length).toBeLessThan(3000);
    expect(checkEcsBudget('wide', def, overrides)).toBe(size);
  });

  test("a long foreach item file key (an item too big for the environment) fits", () => {
    const env = { ...base('9999_9999'), MF_FOREACH_INDEX: '9999', MF_FOREACH_ITEM_FILE: `${flow}/${runId}/${step}/9999_0/foreach-item-9999.json`, MF_ARRAY_INDEX_OFFSET: '9999' };
    const overrides = taskContainerOverrides('item', def, env, { ...IO, fetchKeys: [env.MF_FOREACH_ITEM_FILE] }, CODE);
    expect(ecsOverrideChars(def, overrides)).toBeLessThanOrEqual(ECS_OVERRIDES_BUDGET);
  });

  test('too big: EcsOverridesTooLargeError naming the heaviest variables, before anything is sent', () => {
    const env = { ...base('0'), MF_PARAM_BLOB: 'x'.repeat(5000), MF_PARAM_NOTES: 'y'.repeat(1200) };
    let error: unknown;
    try {
      taskContainerOverrides('train/0#0', def, env, IO, CODE);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EcsOverridesTooLargeError);
    const e = error as EcsOverridesTooLargeError;
    expect(e.biggest.map((b) => b.name)).toEqual(['MF_PARAM_BLOB', 'command', 'MF_PARAM_NOTES']);
    expect(e.message).toMatch(/^train\/0#0: the container's command and environment come to \d+ characters as ECS counts them .*ECS allows 8192 and metaflow-cdk keeps 512 free; largest: MF_PARAM_BLOB \(5013\), command \(\d+\), MF_PARAM_NOTES \(1214\) \(pass large values through the datastore, not the environment\)$/);
    // the definition's own command counts: the same environment with a short command is smaller by the difference
    const small = { containerProperties: { command: ['true'] } };
    const overrides: ContainerOverrides = { environment: [{ name: 'A', value: 'b' }] };
    expect(ecsOverrideChars(def, overrides) - ecsOverrideChars(small, overrides)).toBe(JSON.stringify(def.containerProperties!.command).length - JSON.stringify(['true']).length);
  });

  test('SubmitJob over 30 KiB is refused with one line', () => {
    expect(() => checkSubmitJobSize('x/0', { jobName: 'j', jobQueue: 'q', jobDefinition: 'd', tags: { big: 'z'.repeat(31 * 1024) } })).toThrow(/^x\/0: the SubmitJob request is \d+ bytes, AWS Batch allows 30720 \("Job size must be less than 30 KiB"\)$/);
    expect(() => checkSubmitJobSize('x/0', { jobName: 'j', jobQueue: 'q', jobDefinition: 'd' })).not.toThrow();
  });
});

// ---- stage 0's signature, as AWS checks it ---------------------------------------------------

function toBytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** node:crypto as the SDK's hash interface. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret !== undefined ? createHmac('sha256', toBytes(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

const CREDS = { accessKeyId: 'ASIAEXAMPLEKEY', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'session/token+value=' };

function stage0Headers(request: { method: string; bucket: string; key: string; query?: Record<string, string>; body?: string }): { url: string; method: string; headers: Record<string, string> } {
  const res = spawnSync('python3', [path.join(__dirname, 'sign_stage0.py'), path.join(RUNTIME_SOURCE_DIR, STAGE0_FILE)], {
    input: JSON.stringify({ ...request, amzDate: '20240315T101112Z' }),
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1', AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, AWS_SESSION_TOKEN: CREDS.sessionToken, MF_S3_REGION: 'eu-west-1' },
  });
  if (res.status !== 0) throw new Error(`sign_stage0.py failed: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

/** An Authorization header's parts (named, so a failure says which part differs). */
function authParts(header: string): Record<string, string> {
  const m = /^AWS4-HMAC-SHA256 (.*)$/.exec(header);
  if (!m) throw new Error(`not a SigV4 Authorization header: ${header}`);
  return Object.fromEntries(m[1].split(/, ?/).map((part) => part.split('=', 2) as [string, string]));
}

async function sdkAuthorization(method: string, host: string, encodedPath: string, query: Record<string, string>, contentType?: string): Promise<string> {
  const signer = new SignatureV4({ service: 's3', region: 'eu-west-1', credentials: CREDS, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const signed = await signer.sign(
    { method, protocol: 'https:', hostname: host, path: encodedPath, query, headers: { host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(contentType ? { 'content-type': contentType } : {}) } },
    { signingDate: new Date('2024-03-15T10:11:12Z') },
  );
  expect(authParts(signed.headers.authorization).Signature).toMatch(/^[0-9a-f]{64}$/);
  return signed.headers.authorization;
}

/** The same header, byte for byte (part by part first, for a readable failure). */
async function expectSameAuthorization(stage0: string, sdk: Promise<string>): Promise<void> {
  const expected = await sdk;
  expect(authParts(stage0)).toEqual(authParts(expected));
  expect(stage0).toBe(expected);
}

describe("stage 0's SigV4 signature equals the AWS SDK's (@smithy/signature-v4) — what S3 checks, and moto does not", () => {
  test('GET with a query string (a listing), virtual-hosted bucket', async () => {
    const query = { 'list-type': '2', prefix: 'mf/Flow/7/a b/', 'continuation-token': 'tok+en/=' };
    const py = stage0Headers({ method: 'GET', bucket: 'mf-data', key: '', query });
    expect(py.url).toMatch(/^https:\/\/mf-data\.s3\.eu-west-1\.amazonaws\.com\/\?continuation-token=tok%2Ben%2F%3D&list-type=2&prefix=mf%2FFlow%2F7%2Fa%20b%2F$/);
    expect(py.headers['x-amz-security-token']).toBe(CREDS.sessionToken);
    await expectSameAuthorization(py.headers.authorization, sdkAuthorization('GET', 'mf-data.s3.eu-west-1.amazonaws.com', '/', query));
  });

  test('HEAD of a key with characters to escape', async () => {
    const py = stage0Headers({ method: 'HEAD', bucket: 'mf-data', key: 'mf/Flow/7/step one/0/status.json' });
    expect(py.url).toBe('https://mf-data.s3.eu-west-1.amazonaws.com/mf/Flow/7/step%20one/0/status.json');
    await expectSameAuthorization(py.headers.authorization, sdkAuthorization('HEAD', 'mf-data.s3.eu-west-1.amazonaws.com', '/mf/Flow/7/step%20one/0/status.json', {}));
  });

  test('PUT with a body (content-type signed), a dotted bucket in path style', async () => {
    const py = stage0Headers({ method: 'PUT', bucket: 'mf.data', key: 'mf/Flow/7/a/0/attempt-0/outputs.json', body: '{"v":1}' });
    expect(py.url).toBe('https://s3.eu-west-1.amazonaws.com/mf.data/mf/Flow/7/a/0/attempt-0/outputs.json');
    expect(py.headers['content-type']).toBe('application/octet-stream');
    await expectSameAuthorization(py.headers.authorization, sdkAuthorization('PUT', 's3.eu-west-1.amazonaws.com', '/mf.data/mf/Flow/7/a/0/attempt-0/outputs.json', {}, 'application/octet-stream'));
  });
});

// ---- the task runtime in the python stand-in, against moto -------------------------------------

describe('the task runtime in a python:3.12-slim stand-in, S3 on moto', () => {
  const bucket = useMotoBucket('mf-data', 'mf');
  let codeUrl: string;
  beforeAll(async () => {
    codeUrl = await storeTestCodePackage(motoDatastore(bucket.endpoint, 'mf-data', 'mf'), 'Flow');
  });

  async function play(argv: string[], env: Record<string, string>, io: Partial<TaskIo> & Pick<TaskIo, 'outputKey'>, opts: { image?: string; arrayIndex?: number; code?: string; onLine?: (l: string) => void; onKill?: (k: () => void) => void; onStop?: (s: (graceMs: number) => void) => void } = {}): Promise<PlayedJob> {
    const def: RegisterJobDefinitionCommandInput = taskJobDefinition({ ...input, image: opts.image ?? 'python:3.12-slim', platform: 'EC2', options: {} }, argv);
    const overrides = taskContainerOverrides('t', def, { MF_FLOW: 'Flow', MF_RUN_ID: '7', MF_TASK_ID: '0', ...env }, { datastoreUrl: 's3://mf-data/mf', fetchKeys: [], ...io }, { codeUrl: opts.code ?? codeUrl });
    return playContainerJob(def, overrides, { endpoint: bucket.endpoint, jobId: 'job-1', ...(opts.arrayIndex !== undefined ? { arrayIndex: opts.arrayIndex } : {}), onLine: opts.onLine, onKill: opts.onKill, onStop: opts.onStop });
  }
  const sh = (script: string) => ['sh', '-c', script];

  test('a plain task: waits for and mirrors its input, runs in the code package, uploads and commits (status.json)', async () => {
    await bucket.put('Flow/7/start/0/outputs.json', '{"x": 1}\n');
    await bucket.put('Flow/7/start/0/attempt-0/outputs.json', 'stale attempt copy');
    await bucket.put('Flow/7/start/0/status.json', '{"status":"succeeded"}');
    const played = await play(
      sh('cat data.txt; cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"; ls "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS"; echo "{\\"y\\": 2}" > "$MF_OUTPUT_DIR/outputs.json"'),
      { MF_INPUT_PATHS: 'Flow/7/start/0' },
      { fetchKeys: ['Flow/7/start/0/'], waitKeys: ['Flow/7/start/0/status.json'], outputKey: 'Flow/7/a/0/attempt-0', commitKey: 'Flow/7/a/0', commitInputs: ['start/0'] },
    );
    // the committed outputs (and status.json), not the attempts' copies
    expect(played).toMatchObject({ exitCode: 0, lines: ['packaged', '{"x": 1}', 'outputs.json', 'status.json'] });
    expect(await bucket.get('Flow/7/a/0/attempt-0/outputs.json')).toBe('{"y": 2}\n');
    expect(await bucket.get('Flow/7/a/0/outputs.json')).toBe('{"y": 2}\n');
    expect(JSON.parse((await bucket.get('Flow/7/a/0/status.json'))!)).toEqual({
      step: 'a',
      taskId: '0',
      status: 'succeeded',
      inputs: ['start/0'],
      attempts: [{ attempt: 0, status: 'succeeded', exitCode: 0, startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), externalId: 'job-1' }],
    });
  }, 30_000);

  test('the task helpers arrive in the code package and import without setup (metaflow_cdk on PYTHONPATH)', async () => {
    await bucket.put('Flow/7/h0/0/outputs.json', '{"x": 41}');
    await bucket.put('Flow/7/h0/0/status.json', '{"status":"succeeded"}');
    const played = await play(
      ['python3', '-c', 'from metaflow_cdk import parent, save\nsave(y=parent()["x"] + 1)\nprint("saved")'],
      { MF_INPUT_PATHS: 'Flow/7/h0/0' },
      { fetchKeys: ['Flow/7/h0/0/'], outputKey: 'Flow/7/h1/0/attempt-0' },
    );
    expect(played).toMatchObject({ exitCode: 0, lines: ['saved'] });
    expect(JSON.parse((await bucket.get('Flow/7/h1/0/attempt-0/outputs.json'))!)).toEqual({ y: 42 });
  }, 30_000);

  test('the Node task helpers arrive beside them: NODE_PATH names the package folder holding metaflow_cdk.js, as PYTHONPATH does', async () => {
    const played = await play(sh('ls "$NODE_PATH" | grep "^metaflow_cdk"; [ "$NODE_PATH" = "$PYTHONPATH" ] && echo same'), {}, { outputKey: 'Flow/7/n/0/attempt-0' });
    expect(played).toMatchObject({ exitCode: 0, lines: ['metaflow_cdk.js', 'metaflow_cdk.py', 'same'] });
  }, 30_000);

  test('an array child: items JSON to the items file, its item inline, and an item over 4,096 characters as MF_FOREACH_ITEM_FILE', async () => {
    const big = 'b'.repeat(5000);
    await bucket.put('Flow/7/start/0/items.json', JSON.stringify(['small', { k: 1 }, big]));
    const common = { MF_TASK_ID_PREFIX: '', MF_ARRAY_INDEX_OFFSET: '0', MF_FOREACH_ITEMS_FILE: 'Flow/7/start/0/foreach-items.jsonl' };
    const io = { foreachItemsJson: 'Flow/7/start/0/items.json', outputKey: 'Flow/7/each/{taskId}/attempt-0' };
    const script = sh('echo "$MF_TASK_ID $MF_FOREACH_INDEX ${MF_FOREACH_ITEM:-none} ${MF_FOREACH_ITEM_FILE:-none}"; [ -z "$MF_FOREACH_ITEM_FILE" ] || wc -c < "$MF_DATASTORE_ROOT/$MF_FOREACH_ITEM_FILE"');
    const [one, two] = await Promise.all([play(script, common, io, { arrayIndex: 1 }), play(script, common, io, { arrayIndex: 2 })]);
    expect(one).toMatchObject({ exitCode: 0, lines: ['1 1 {"k":1} none'] });
    expect(two.exitCode).toBe(0);
    expect(two.lines[0]).toBe('2 2 none Flow/7/start/0/foreach-item-2.json');
    expect(two.lines[1].trim()).toBe(String(big.length + 2));
  }, 30_000);

  test('a foreach join: the input list derived from MF_JOIN_INPUT_PREFIX / MF_JOIN_INPUT_COUNT', async () => {
    const played = await play(sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"'), { MF_INPUT_PATHS_FILE: 'Flow/7/join/0/input-paths.txt', MF_JOIN_INPUT_PREFIX: 'Flow/7/each/', MF_JOIN_INPUT_COUNT: '3' }, { outputKey: 'Flow/7/join/0/attempt-0' });
    expect(played).toMatchObject({ exitCode: 0, lines: ['Flow/7/each/0', 'Flow/7/each/1', 'Flow/7/each/2'] });
  }, 30_000);

  test('a missing input: exit 92 with one line naming it; the command never runs', async () => {
    const played = await play(sh('echo ran'), {}, { fetchKeys: ['Flow/7/nothing/0/'], outputKey: 'Flow/7/b/0/attempt-0' });
    expect(played.exitCode).toBe(RUNTIME_EXIT.fetchFailed);
    expect(played.lines).toEqual(['metaflow-cdk: nothing to fetch at s3://mf-data/mf/Flow/7/nothing/0/ (an input of this task is missing from the datastore)']);
  }, 30_000);

  test('a code package whose bytes do not match its sha1: exit 93, said', async () => {
    const wrong = codeUrl.replace(/[0-9a-f]{40}$/, '0'.repeat(40));
    const key = wrong.slice('s3://mf-data/mf/'.length);
    await bucket.put(key, 'not the package');
    const played = await play(sh('echo ran'), {}, { outputKey: 'Flow/7/b/0/attempt-0' }, { code: wrong });
    expect(played).toMatchObject({ exitCode: RUNTIME_EXIT.codeFailed, lines: [`metaflow-cdk: the code package at ${wrong} does not match its sha1`] });
  }, 30_000);

  test('an image without python3 (busybox): exit 90 with one line naming what it needs', async () => {
    const played = await play(sh('echo ran'), {}, { outputKey: 'Flow/7/b/0/attempt-0' }, { image: 'busybox:1.36' });
    expect(played).toMatchObject({ exitCode: RUNTIME_EXIT.noPython, lines: ['metaflow-cdk: this image has no python3 on its PATH; metaflow-cdk Batch jobs need /bin/sh and python3 (3.8+)'] });
  }, 30_000);

  test('node in a python image: exit 127, "command not found" naming it and the PATH', async () => {
    const played = await play(['node', '-e', 'console.log(1)'], {}, { outputKey: 'Flow/7/b/0/attempt-0' });
    expect(played.exitCode).toBe(127);
    expect(played.lines).toEqual([expect.stringMatching(/^metaflow-cdk: node: command not found in this image \(PATH=\/usr\/local\/bin:/)]);
  }, 30_000);

  test("the command's exit code is the job's, with what it wrote uploaded", async () => {
    const played = await play(sh('echo partial > "$MF_OUTPUT_DIR/part.txt"; exit 3'), {}, { outputKey: 'Flow/7/c/0/attempt-0' });
    expect(played.exitCode).toBe(3);
    expect(await bucket.get('Flow/7/c/0/attempt-0/part.txt')).toBe('partial\n');
  }, 30_000);

  test('Step Functions policies in the runtime: its own retries, then caught (exit 0, every attempt in status.json); a timed-out attempt; an earlier job\'s attempts kept', async () => {
    const commit = (task: string) => ({ outputKey: `Flow/7/${task}/0/attempt-0`, commitKey: `Flow/7/${task}/0` });
    const failing = await play(sh('echo "try $MF_RETRY_COUNT" > "$MF_OUTPUT_DIR/t.txt"; exit 3'), { MF_STEP: 'c', MF_ATTEMPTS: '3', MF_RETRY_DELAY_SECONDS: '0', MF_CATCH_IN_TASK: '1', MF_MAX_ATTEMPTS: '3' }, commit('c'));
    expect(failing.exitCode).toBe(0);
    const caught = JSON.parse((await bucket.get('Flow/7/c/0/status.json'))!);
    expect(caught).toMatchObject({ status: 'caught', attempts: [0, 1, 2].map((attempt) => ({ attempt, status: 'failed', exitCode: 3, reason: 'exit code 3' })) });
    expect(caught.caught).toEqual({ step: 'c', taskId: '0', message: 'step c/0 failed: exit code 3 (after 3 attempts)', exitCode: 3, statusReason: 'failed', attempts: 3 });
    expect(await bucket.get('Flow/7/c/0/attempt-2/t.txt')).toBe('try 2\n');
    expect(await bucket.get('Flow/7/c/0/t.txt')).toBeUndefined();

    const slow = await play(sh('sleep 30'), { MF_STEP: 's', MF_ATTEMPT_TIMEOUT_SECONDS: '1', MF_STOP_GRACE_SECONDS: '1' }, commit('s'));
    expect(slow.exitCode).not.toBe(0);
    expect(slow.lines).toContain('metaflow-cdk: the attempt ran longer than its timeout of 1s: stopping it');
    expect(JSON.parse((await bucket.get('Flow/7/s/0/status.json'))!)).toMatchObject({ status: 'failed', attempts: [{ attempt: 0, status: 'timeout', reason: 'timed out after 1s' }] });

    // an ASL retry (a new job, attempt 1) keeps what the first job recorded
    await bucket.put('Flow/7/r/0/status.json', JSON.stringify({ step: 'r', taskId: '0', status: 'failed', inputs: [], attempts: [{ attempt: 0, status: 'failed', exitCode: 5 }] }));
    await play(sh('true'), { MF_STEP: 'r' }, { outputKey: 'Flow/7/r/0/attempt-1', commitKey: 'Flow/7/r/0' });
    expect(JSON.parse((await bucket.get('Flow/7/r/0/status.json'))!)).toMatchObject({ status: 'succeeded', attempts: [{ attempt: 0, status: 'failed', exitCode: 5 }, { attempt: 1, status: 'succeeded' }] });
  }, 60_000);

  test('MF_CAUGHT_READ: one child\'s own value, or the list of every child\'s failure in index order; MF_CAUGHT_FILE when long', async () => {
    const failure = (taskId: string) => ({ step: 'b', taskId, message: `step b/${taskId} failed: ${'x'.repeat(3000)}`, exitCode: 3, statusReason: 'failed', attempts: 1 });
    for (const t of ['0', '2', '10']) await bucket.put(`Flow/7/b/${t}/status.json`, JSON.stringify({ status: 'caught', caught: failure(t) }));
    await bucket.put('Flow/7/b/1/status.json', JSON.stringify({ status: 'succeeded' }));
    const print = sh('echo "one=$MF_CATCH_v"; cat "$MF_DATASTORE_ROOT/$MF_CAUGHT_FILE" | python3 -c "import json,sys; print([f[\'taskId\'] for f in json.load(sys.stdin)[\'v\']])"');
    const read = (mode: string) => JSON.stringify([{ var: 'v', step: 'b', mode, depth: mode === 'task' ? 1 : 0 }]);
    const one = await play(sh('echo "$MF_CATCH_v"'), { MF_TASK_ID_PREFIX: '', MF_ARRAY_INDEX_OFFSET: '1', MF_CAUGHT_READ: read('task') }, { outputKey: 'Flow/7/after/{taskId}/attempt-0' });
    expect(one.lines).toEqual(['null']);
    const all = await play(print, { MF_STEP: 'join', MF_CAUGHT_READ: read('all') }, { outputKey: 'Flow/7/join/0/attempt-0' });
    // three failures of 3,000 characters: beyond 4,096, so the file (and no MF_CATCH_v)
    expect(all.lines).toEqual(['one=', "['0', '2', '10']"]);
  }, 60_000);

  test('a stop (TerminateJob, an attempt timeout: SIGTERM, SIGKILL after the grace period) reaches the command through the runtime; what it wrote before is uploaded', async () => {
    let stop: ((graceMs: number) => void) | undefined;
    const script = sh('echo before > "$MF_OUTPUT_DIR/before.txt"; trap \'echo "got TERM"; echo cleanup > "$MF_OUTPUT_DIR/cleanup.txt"; exit 143\' TERM; echo ready; sleep 600 & wait');
    const played = await play(script, {}, { outputKey: 'Flow/7/slow/0/attempt-0' }, {
      onStop: (s) => (stop = s),
      // SIGKILL only after 60 s: the command has to end on the SIGTERM for this test to pass in time
      onLine: (line) => line === 'ready' && stop!(60_000),
    });
    expect(played).toMatchObject({ exitCode: 143, lines: ['ready', 'got TERM'] });
    expect(await bucket.get('Flow/7/slow/0/attempt-0/before.txt')).toBe('before\n');
    expect(await bucket.get('Flow/7/slow/0/attempt-0/cleanup.txt')).toBe('cleanup\n');
  }, 30_000);
});

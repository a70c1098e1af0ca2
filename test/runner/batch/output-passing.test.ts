import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_HELPER_IMAGE,
  environmentMap,
  fetchScript,
  mainScript,
  OutputPassingIo,
  outputPassingEnvironment,
  outputPassingJobDefinition,
  outputPassingOverrides,
  uploadScript,
} from '../../../runner/batch/output-passing';
import { childBootstrapCommand } from '../../../runner/batch/child-bootstrap';
import { classifyFailure } from '../../../runner/batch/failures';
import { batchJobDefinition, BatchJobDefinitionInput } from '../../../runner/policy';
import { describeWithTool } from '../../support/external-tool';
import { playEcsTask } from '../../support/ecs-task-player';
import { useMotoBucket } from '../../support/moto-bucket';
import { tempDir } from '../support/harness';

const input: BatchJobDefinitionInput = {
  flow: 'Flow',
  step: 'train',
  image: 'busybox:1.36',
  policies: { resources: { cpu: 1, memory: 2048, gpu: 0 }, retries: 0, retryDelayMs: 0, timeoutSeconds: 600 },
  platform: 'FARGATE',
  jobRoleArn: 'arn:aws:iam::1:role/job',
  executionRoleArn: 'arn:aws:iam::1:role/exec',
  options: { assignPublicIp: true },
};

describe('output passing: multi-container job definition and overrides', () => {
  test('exact payload: fetch → main → upload on a shared volume; only upload essential', () => {
    const def = outputPassingJobDefinition(input);
    const mounts = [{ sourceVolume: 'metaflow', containerPath: '/metaflow' }];
    expect(def).toEqual({
      jobDefinitionName: expect.stringMatching(/^metaflow_Flow-train-io-[0-9a-f]{12}$/),
      type: 'container',
      platformCapabilities: ['FARGATE'],
      ecsProperties: {
        taskProperties: [
          {
            taskRoleArn: 'arn:aws:iam::1:role/job',
            executionRoleArn: 'arn:aws:iam::1:role/exec',
            networkConfiguration: { assignPublicIp: 'ENABLED' },
            volumes: [{ name: 'metaflow' }],
            containers: [
              { name: 'fetch', image: DEFAULT_HELPER_IMAGE, essential: false, command: ['sh', '-c', fetchScript()], mountPoints: mounts },
              {
                name: 'main',
                image: 'busybox:1.36',
                essential: false,
                dependsOn: [{ containerName: 'fetch', condition: 'COMPLETE' }],
                command: ['sh', '-c', mainScript(), 'metaflow-task'],
                resourceRequirements: [
                  { type: 'VCPU', value: '1' },
                  { type: 'MEMORY', value: '2048' },
                ],
                mountPoints: mounts,
              },
              {
                name: 'upload',
                image: DEFAULT_HELPER_IMAGE,
                essential: true,
                dependsOn: [{ containerName: 'main', condition: 'COMPLETE' }],
                command: ['sh', '-c', uploadScript()],
                mountPoints: mounts,
              },
            ],
          },
        ],
      },
      retryStrategy: batchJobDefinition(input).retryStrategy,
      timeout: { attemptDurationSeconds: 600 },
      propagateTags: true,
      tags: { 'metaflow.flow': 'Flow', 'metaflow.step': 'train' },
    });
  });

  test('the helper environment: every key relative to the root, placeholders kept, optional ones only when given', () => {
    expect(
      outputPassingEnvironment({
        datastoreUrl: 's3://b/mf/',
        fetchKeys: ['F/7/start/0/foreach-items.jsonl', 'F/7/a/{taskId}/', 'F/7/a/{taskId}/'],
        waitKeys: ['F/7/a/{taskId}/status.json'],
        outputKey: 'F/7/b/{taskId}/attempt-0',
      }),
    ).toEqual({
      MF_DATASTORE_URL: 's3://b/mf',
      MF_FETCH_KEYS: 'F/7/start/0/foreach-items.jsonl F/7/a/{taskId}/',
      MF_WAIT_KEYS: 'F/7/a/{taskId}/status.json',
      MF_OUTPUT_KEY: 'F/7/b/{taskId}/attempt-0',
    });
    expect(
      outputPassingEnvironment({
        datastoreUrl: 's3://b',
        fetchKeys: [],
        fetchLists: ['F/7/join/0/input-paths.txt'],
        waitSeconds: 120,
        outputKey: 'F/7/join/0/attempt-1',
        commitKey: 'F/7/join/0',
        commitInputs: ['a/0', 'a/1'],
        foreachItemsJson: 'F/7/start/0/items.json',
      }),
    ).toEqual({
      MF_DATASTORE_URL: 's3://b',
      MF_FETCH_KEYS: '',
      MF_FETCH_LISTS: 'F/7/join/0/input-paths.txt',
      MF_WAIT_SECONDS: '120',
      MF_OUTPUT_KEY: 'F/7/join/0/attempt-1',
      MF_COMMIT_KEY: 'F/7/join/0',
      MF_COMMIT_INPUTS: 'a/0,a/1',
      MF_FOREACH_ITEMS_JSON: 'F/7/start/0/items.json',
    });
    expect(
      outputPassingEnvironment({
        datastoreUrl: 's3://b',
        fetchKeys: [],
        fetchChildren: ['F/7/train/'],
        outputKey: 'F/7/pick/0/attempt-0',
        commitKey: 'F/7/pick/0',
        commitInputsFile: 'F/7/pick/0/input-paths.txt',
      }),
    ).toEqual({
      MF_DATASTORE_URL: 's3://b',
      MF_FETCH_KEYS: '',
      MF_FETCH_CHILDREN: 'F/7/train/',
      MF_OUTPUT_KEY: 'F/7/pick/0/attempt-0',
      MF_COMMIT_KEY: 'F/7/pick/0',
      MF_COMMIT_INPUTS_FILE: 'F/7/pick/0/input-paths.txt',
    });
    expect(() => outputPassingEnvironment({ datastoreUrl: '/tmp/root', fetchKeys: [], outputKey: 'k' })).toThrow('output passing needs an S3 datastore root (s3://bucket[/prefix]), got "/tmp/root"');
    expect(() => outputPassingEnvironment({ datastoreUrl: 's3://b', fetchKeys: ['a b'], outputKey: 'k' })).toThrow('output passing keys are relative to the datastore root, without spaces, got "a b"');
  });

  test('overrides: the command and the task env (root and output dir in the mirror) for main; the helpers get what they read', () => {
    const io: OutputPassingIo = { datastoreUrl: 's3://b/mf', fetchKeys: ['F/7/start/0/'], waitKeys: ['F/7/start/0/status.json'], outputKey: 'F/7/train/{taskId}/attempt-0' };
    const taskEnv = { MF_RUN_ID: '7', MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_FOREACH_ITEMS_FILE: 'F/7/start/0/foreach-items.jsonl', MF_DATASTORE_ROOT: 's3://b/mf', MF_OUTPUT_DIR: 's3://b/mf/F/7/train/{taskId}/attempt-0' };
    const command = childBootstrapCommand(['python', '-c', 'print(1)']);
    const o = outputPassingOverrides('train/0_99#0', command, taskEnv, io);
    const [fetch, main, upload] = o.taskProperties![0].containers!;
    expect([fetch.name, main.name, upload.name]).toEqual(['fetch', 'main', 'upload']);
    expect(fetch.command).toBeUndefined();
    expect(environmentMap(fetch.environment)).toEqual({
      MF_ARRAY_INDEX_OFFSET: '0',
      MF_TASK_ID_PREFIX: '',
      MF_FOREACH_ITEMS_FILE: 'F/7/start/0/foreach-items.jsonl',
      MF_DATASTORE_URL: 's3://b/mf',
      MF_FETCH_KEYS: 'F/7/start/0/',
      MF_WAIT_KEYS: 'F/7/start/0/status.json',
      MF_OUTPUT_KEY: 'F/7/train/{taskId}/attempt-0',
    });
    expect(main.command).toEqual(['sh', '-c', mainScript(), 'metaflow-task', ...command]);
    expect(environmentMap(main.environment)).toEqual({ ...taskEnv, MF_DATASTORE_ROOT: '/metaflow/root', MF_OUTPUT_DIR: '/metaflow/root/F/7/train/{taskId}/attempt-0' });
    expect(environmentMap(upload.environment)).toEqual({ MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_DATASTORE_URL: 's3://b/mf', MF_OUTPUT_KEY: 'F/7/train/{taskId}/attempt-0' });
    expect(() => outputPassingOverrides('train/0', ['x'], { BIG: 'x'.repeat(9000) }, io)).toThrow(/^train\/0: container overrides are \d+ characters, Batch allows 8192; largest variables: BIG \(9003\)/);
    expect(() => outputPassingOverrides('train/0', ['x'], { AWS_BATCH_X: '1' }, io)).toThrow('train/0: environment names starting with AWS_BATCH are reserved by Batch: AWS_BATCH_X');
  });
});

describe('output passing: failures of the helpers are said as such, not as the user command\'s', () => {
  const job = (fetch: number, main: number, upload: number) => ({
    statusReason: 'Essential container in task exited',
    ecsProperties: {
      taskProperties: [
        {
          containers: [
            { name: 'fetch', exitCode: fetch, logStreamName: 'io/fetch/1' },
            { name: 'main', exitCode: main, logStreamName: 'io/main/1' },
            { name: 'upload', exitCode: upload, logStreamName: 'io/upload/1' },
          ],
        },
      ],
    },
  });
  test.each([
    [job(1, 1, 1), "its inputs could not be fetched from the datastore (fetch container exit code 1; the reason is in the task's log and io/fetch/1)"],
    [job(0, 0, 91), 'its outputs could not be uploaded to the datastore (upload container exit code 91; see io/upload/1)'],
    [job(90, 1, 90), 'the output-passing helper image has no AWS CLI and dnf could not install awscli-2 (exit code 90)'],
    [job(0, 3, 3), 'exit code 3: Essential container in task exited'],
  ])('%#', (j, message) => {
    expect(classifyFailure(j).message).toBe(message);
  });
});

describeWithTool('moto_server', 'output passing: the three containers played in real shells (stand-in aws) against S3 on moto_server', () => {
  const BUCKET = 'mf-io';
  const URL = `s3://${BUCKET}/mf`;
  const moto = useMotoBucket(BUCKET, 'mf');
  const { put, get, keys } = moto;
  let n = 0;
  /** A run of its own per test, with a committed `start/0` (outputs, a file, status) and an uncommitted attempt. */
  async function committedStart() {
    const run = `F/r${++n}`;
    await put(`${run}/start/0/outputs.json`, '{"x":1}');
    await put(`${run}/start/0/data/blob.txt`, 'blob');
    await put(`${run}/start/0/attempt-0.log`, 'log');
    await put(`${run}/start/0/attempt-1/outputs.json`, '{"x":"not committed"}');
    await put(`${run}/start/0/status.json`, '{"status":"succeeded"}');
    return run;
  }
  const def = outputPassingJobDefinition({ ...input, platform: 'EC2', options: {} });
  const play = (command: string[], taskEnv: Record<string, string>, io: OutputPassingIo, env: Record<string, string> = {}) =>
    playEcsTask(def, outputPassingOverrides('t', command, taskEnv, io), { endpoint: moto.endpoint, env });
  const lines = (r: Awaited<ReturnType<typeof play>>, name: string) => r.containers.find((c) => c.name === name)!.lines;

  test('a plain task: its input mirrored without other attempts, the user command reads it and writes outputs, uploaded to the attempt key', async () => {
    const run = await committedStart();
    const user = 'ls "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS" | tr "\\n" " "; printf "{\\"in\\": %s, \\"blob\\": \\"%s\\"}" "$(cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json")" "$(cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/data/blob.txt")" > "$MF_OUTPUT_DIR/outputs.json"';
    const r = await play(['sh', '-c', user], { MF_INPUT_PATHS: `${run}/start/0`, MF_DATASTORE_ROOT: URL }, {
      datastoreUrl: URL,
      fetchKeys: [`${run}/start/0/`],
      waitKeys: [`${run}/start/0/status.json`],
      outputKey: `${run}/hello/0/attempt-0`,
    });
    expect(r.containers.map((c) => [c.name, c.exitCode])).toEqual([['fetch', 0], ['main', 0], ['upload', 0]]);
    expect(r.exitCode).toBe(0);
    expect(lines(r, 'main')).toEqual(['data outputs.json status.json ']);
    expect(JSON.parse((await get(`${run}/hello/0/attempt-0/outputs.json`))!)).toEqual({ in: { x: 1 }, blob: 'blob' });
    expect(await keys(`${run}/hello/`)).toEqual([`${run}/hello/0/attempt-0/outputs.json`]);
  });

  test('an array child: {taskId}/{index} resolved from the index, the item read from the mirrored items file by the bootstrap, waits satisfied', async () => {
    const run = await committedStart();
    await put(`${run}/start/0/foreach-items.jsonl`, Array.from({ length: 110 }, (_, i) => JSON.stringify(`item-${i}`)).join('\n') + '\n');
    await put(`${run}/a/3_107/outputs.json`, '{"from":"a"}');
    await put(`${run}/a/3_107/status.json`, '{}');
    const taskEnv = { MF_TASK_ID_PREFIX: '3_', MF_ARRAY_INDEX_OFFSET: '100', MF_FOREACH_ITEMS_FILE: `${run}/start/0/foreach-items.jsonl`, MF_INPUT_PATHS: `${run}/a/{taskId}`, MF_WAIT_FOR_INPUTS: '1', MF_DATASTORE_ROOT: URL };
    const user = 'printf "{\\"item\\": \\"%s\\", \\"task\\": \\"%s\\", \\"in\\": %s}" "$MF_FOREACH_ITEM" "$MF_TASK_ID" "$(cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json")" > "$MF_OUTPUT_DIR/outputs.json"';
    const r = await play(childBootstrapCommand(['sh', '-c', user]), taskEnv, {
      datastoreUrl: URL,
      fetchKeys: [`${run}/start/0/foreach-items.jsonl`, `${run}/a/{taskId}/`],
      waitKeys: [`${run}/a/{taskId}/status.json`],
      outputKey: `${run}/b/{taskId}/attempt-0`,
    }, { AWS_BATCH_JOB_ARRAY_INDEX: '7' });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse((await get(`${run}/b/3_107/attempt-0/outputs.json`))!)).toEqual({ item: 'item-107', task: '3_107', in: { from: 'a' } });
  });

  test("an array child's input list with {taskId} (an inner join of a nested foreach): the list, then each listed task once committed", async () => {
    const run = await committedStart();
    await put(`${run}/inner/2_0/outputs.json`, '{"v":0}');
    await put(`${run}/inner/2_0/status.json`, '{}');
    await put(`${run}/inner/2_1/outputs.json`, '{"v":1}');
    await put(`${run}/inner/2_1/status.json`, '{}');
    await put(`${run}/ij/2/input-paths.txt`, `${run}/inner/2_0\n${run}/inner/2_1`); // no final newline: the last line still counts
    const taskEnv = { MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_INPUT_PATHS_FILE: `${run}/ij/{taskId}/input-paths.txt`, MF_DATASTORE_ROOT: URL };
    const user = 'for p in $(cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"); do cat "$MF_DATASTORE_ROOT/$p/outputs.json"; done > "$MF_OUTPUT_DIR/seen.txt"';
    const r = await play(childBootstrapCommand(['sh', '-c', user]), taskEnv, { datastoreUrl: URL, fetchKeys: [], fetchLists: [`${run}/ij/{taskId}/input-paths.txt`], outputKey: `${run}/ij/{taskId}/attempt-0` }, { AWS_BATCH_JOB_ARRAY_INDEX: '2' });
    expect(r.exitCode).toBe(0);
    expect(await get(`${run}/ij/2/attempt-0/seen.txt`)).toBe('{"v":0}{"v":1}');
  });

  test('a wait key that never appears fails the attempt after MF_WAIT_SECONDS with a message; the user command never runs', async () => {
    const run = await committedStart();
    const r = await play(['sh', '-c', 'echo ran'], {}, { datastoreUrl: URL, fetchKeys: [], waitKeys: [`${run}/a/5/status.json`], waitSeconds: 0, outputKey: `${run}/b/5/attempt-0` });
    expect(lines(r, 'fetch')).toEqual([`metaflow: ${URL}/${run}/a/5/status.json does not exist after waiting 0s for it`]);
    expect(lines(r, 'main')).toEqual([`metaflow: the task's inputs were not fetched: ${URL}/${run}/a/5/status.json does not exist after waiting 0s for it`]);
    expect(r.exitCode).toBe(1);
  });

  test('a missing input (nothing under its task path) or a missing object fails the attempt, naming it', async () => {
    const run = await committedStart();
    const a = await play(['sh', '-c', 'echo ran'], {}, { datastoreUrl: URL, fetchKeys: [`${run}/nope/0/`], outputKey: `${run}/b/0/attempt-0` });
    expect(lines(a, 'fetch')).toEqual([`metaflow: nothing to fetch at ${URL}/${run}/nope/0/ (an input of this task is missing from the datastore)`]);
    expect(lines(a, 'main')).toEqual([`metaflow: the task's inputs were not fetched: nothing to fetch at ${URL}/${run}/nope/0/ (an input of this task is missing from the datastore)`]);
    expect(a.exitCode).toBe(1);
    const b = await play(['sh', '-c', 'echo ran'], {}, { datastoreUrl: URL, fetchKeys: [`${run}/start/0/missing.json`], outputKey: `${run}/b/0/attempt-0` });
    expect(lines(b, 'fetch')).toContain(`metaflow: could not fetch ${URL}/${run}/start/0/missing.json (missing from the datastore?)`);
    expect(lines(b, 'main')).not.toContain('ran');
    expect(b.exitCode).toBe(1);
  });

  test("the user's exit code is the job's, with what it wrote uploaded", async () => {
    const run = await committedStart();
    const r = await play(['sh', '-c', 'echo partial > "$MF_OUTPUT_DIR/log.txt"; exit 3'], {}, { datastoreUrl: URL, fetchKeys: [], outputKey: `${run}/b/0/attempt-0` });
    expect(r.containers.map((c) => c.exitCode)).toEqual([0, 3, 3]);
    expect(await get(`${run}/b/0/attempt-0/log.txt`)).toBe('partial\n');
  });

  test('uploading a successful task\'s outputs fails: 91, said', async () => {
    const r = await play(['sh', '-c', 'echo "{}" > "$MF_OUTPUT_DIR/outputs.json"'], {}, { datastoreUrl: 's3://no-such-bucket/mf', fetchKeys: [], outputKey: 'F/x/b/0/attempt-0' });
    expect(r.containers.map((c) => c.exitCode)).toEqual([0, 0, 91]);
    expect(lines(r, 'upload')).toContain('metaflow: uploading outputs to s3://no-such-bucket/mf/F/x/b/0/attempt-0/ failed');
  });

  test('MF_COMMIT_KEY (Step Functions): the outputs to the task path, then status.json in the run record shape — last', async () => {
    const run = await committedStart();
    const log = `${tempDir('mf-aws-log-')}/aws.log`;
    const r = await playEcsTask(
      def,
      outputPassingOverrides('t', childBootstrapCommand(['sh', '-c', 'echo "{\\"y\\": 2}" > "$MF_OUTPUT_DIR/outputs.json"']), { MF_ARRAY_INDEX_OFFSET: '4', MF_TASK_ID_PREFIX: '' }, {
        datastoreUrl: URL,
        fetchKeys: [`${run}/start/0/`],
        outputKey: `${run}/train/{taskId}/attempt-2`,
        commitKey: `${run}/train/{taskId}`,
        commitInputs: ['start/0'],
      }),
      { endpoint: moto.endpoint, env: { AWS_STANDIN_LOG: log, AWS_BATCH_JOB_ID: 'job-4c1d:4' } },
    );
    expect(r.containers.map((c) => [c.name, c.exitCode, c.lines])).toEqual([['fetch', 0, []], ['main', 0, []], ['upload', 0, []]]);
    expect(JSON.parse((await get(`${run}/train/4/outputs.json`))!)).toEqual({ y: 2 });
    expect(JSON.parse((await get(`${run}/train/4/attempt-2/outputs.json`))!)).toEqual({ y: 2 });
    expect(JSON.parse((await get(`${run}/train/4/status.json`))!)).toEqual({
      step: 'train',
      taskId: '4',
      status: 'succeeded',
      inputs: ['start/0'],
      foreachIndex: 4,
      attempts: [{ attempt: 2, status: 'succeeded', exitCode: 0, externalId: 'job-4c1d:4', finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) }],
    });
    const uploads = readFileSync(log, 'utf8').trim().split('\n').filter((l: string) => / s3:\/\/\S+\/(train)\//.test(l));
    expect(uploads.map((l: string) => l.replace(/ \S*\/root\/\S+/, ' <dir>'))).toEqual([
      `s3 cp --recursive --only-show-errors <dir> ${URL}/${run}/train/4/attempt-2/`,
      `s3 cp --recursive --only-show-errors <dir> ${URL}/${run}/train/4/`,
      `s3 cp --only-show-errors - ${URL}/${run}/train/4/status.json`,
    ]);
  });

  test('a failed task is not committed with MF_COMMIT_KEY: only a failed status.json (attempt, exit code, Batch job id) at the task path', async () => {
    const run = await committedStart();
    const io = { datastoreUrl: URL, fetchKeys: [], outputKey: `${run}/c/0/attempt-1`, commitKey: `${run}/c/0` };
    const r = await play(['sh', '-c', 'echo "{}" > "$MF_OUTPUT_DIR/outputs.json"; exit 4'], {}, io, { AWS_BATCH_JOB_ID: 'job-7f3a' });
    expect(r.exitCode).toBe(4);
    expect(await keys(`${run}/c/`)).toEqual([`${run}/c/0/attempt-1/outputs.json`, `${run}/c/0/status.json`]);
    expect(JSON.parse((await get(`${run}/c/0/status.json`))!)).toEqual({
      step: 'c',
      taskId: '0',
      status: 'failed',
      inputs: [],
      attempts: [{ attempt: 1, status: 'failed', exitCode: 4, reason: 'exit code 4', externalId: 'job-7f3a', finishedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) }],
    });
    // Without MF_COMMIT_KEY (the Batch layer: its runner commits and records), nothing at the task path.
    const plain = await play(['sh', '-c', 'exit 4'], {}, { datastoreUrl: URL, fetchKeys: [], outputKey: `${run}/d/0/attempt-0` }, { AWS_BATCH_JOB_ID: 'job-7f3b' });
    expect(plain.exitCode).toBe(4);
    expect(await keys(`${run}/d/`)).toEqual([]);
  });

  const hasPython = spawnSync('sh', ['-c', 'command -v python3'], { stdio: 'ignore' }).status === 0;
  if (!hasPython) {
    // eslint-disable-next-line no-console
    console.warn('output-passing.test.ts: python3 is not on PATH here, so MF_FOREACH_ITEMS_JSON (python3 in the helper image) is not played');
  }
  (hasPython ? test : test.skip)('MF_FOREACH_ITEMS_JSON: a JSON array becomes the items file, one JSON value per line, and the child gets its item', async () => {
    const run = await committedStart();
    await put(`${run}/start/0/outputs.json`, JSON.stringify({ items: 'elsewhere' }));
    await put(`${run}/start/0/items.json`, JSON.stringify(['a', { k: 'é' }, 3, 'say "hi"']));
    const taskEnv = { MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_FOREACH_ITEMS_FILE: `${run}/start/0/foreach-items.jsonl`, MF_DATASTORE_ROOT: URL };
    const user = 'cp "$MF_DATASTORE_ROOT/$MF_FOREACH_ITEMS_FILE" "$MF_OUTPUT_DIR/items.jsonl"; printf %s "$MF_FOREACH_ITEM" > "$MF_OUTPUT_DIR/item.txt"';
    const io = { datastoreUrl: URL, fetchKeys: [], outputKey: `${run}/each/{taskId}/attempt-0`, foreachItemsJson: `${run}/start/0/items.json` };
    const r = await play(childBootstrapCommand(['sh', '-c', user]), taskEnv, io, { AWS_BATCH_JOB_ARRAY_INDEX: '1' });
    expect(r.exitCode).toBe(0);
    expect(await get(`${run}/each/1/attempt-0/items.jsonl`)).toBe('"a"\n{"k":"é"}\n3\n"say \\"hi\\""\n');
    expect(await get(`${run}/each/1/attempt-0/item.txt`)).toBe('{"k":"é"}');
    await put(`${run}/start/0/items.json`, '{"not": "a list"}');
    const bad = await play(childBootstrapCommand(['sh', '-c', 'true']), taskEnv, io);
    expect(lines(bad, 'fetch')).toEqual([`metaflow: ${URL}/${run}/start/0/items.json is not a JSON array`, `metaflow: could not turn ${URL}/${run}/start/0/items.json into the foreach items file`]);
    expect(bad.exitCode).toBe(1);
  });
}, ['--help']);

describe('output passing: the helpers without an AWS CLI', () => {
  test('no AWS CLI and no dnf: exit 90 with a message naming what is missing', () => {
    const vol = tempDir('mf-io-');
    for (const script of [fetchScript(vol), uploadScript(vol)]) {
      const out = spawnSync('/bin/sh', ['-c', script], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
      expect(out.status).toBe(90);
      expect(out.stderr).toBe('metaflow: the helper image has no AWS CLI and dnf could not install awscli-2\n');
    }
    const main = spawnSync('/bin/sh', ['-c', mainScript(vol), 'metaflow-task', 'echo', 'ran'], { encoding: 'utf8' });
    expect([main.status, main.stdout, main.stderr]).toEqual([1, '', "metaflow: the task's inputs were not fetched: the helper image has no AWS CLI and dnf could not install awscli-2\n"]);
  });

  test('main killed before recording its exit code (OOM): upload exits 137', () => {
    const vol = tempDir('mf-io-');
    const out = spawnSync('/bin/sh', ['-c', uploadScript(vol)], { env: { PATH: `${__dirname}/../../support/aws-standin:/usr/bin:/bin`, AWS_ENDPOINT_URL: 'http://127.0.0.1:9', MF_DATASTORE_URL: 's3://b', MF_OUTPUT_KEY: 'k' }, encoding: 'utf8' });
    expect(out.status).toBe(137);
  });
});

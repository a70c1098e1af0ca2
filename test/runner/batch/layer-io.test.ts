/**
 * The Batch layer on the S3 datastore: every job is the output-passing multi-container job.
 * Exact payloads (RegisterJobDefinition with ecsProperties, SubmitJob's ecsPropertiesOverride)
 * for a plain step, a foreach array step, a later N_TO_N body step, a retried child and a join;
 * and whole runs where the simulated Batch (fake-batch.ts) plays every job's fetch → main →
 * upload as real shells with a stand-in `aws` against S3 on moto_server: examples/hello.ts and
 * examples/sweep.ts (100-way foreach) end to end, the run read back from S3.
 */
import { BatchClient, RegisterJobDefinitionCommand, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import fanout from '../../../examples/fanout';
import hello from '../../../examples/hello';
import sweep from '../../../examples/sweep';
import { createS3Client } from '../../../runner/aws/clients';
import { S3ObjectStore } from '../../../runner/aws/s3-object-store';
import { childBootstrapCommand } from '../../../runner/batch/child-bootstrap';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { environmentMap, mainScript } from '../../../runner/batch/output-passing';
import { BatchSettings } from '../../../runner/batch/settings';
import { formatRun } from '../../../runner/cli/commands/show';
import { S3Datastore } from '../../../runner/datastore/s3';
import { RunRecord } from '../../../runner/datastore/types';
import { defineFlow, Flow } from '../../../runner/flow/model';
import { resolveParameters } from '../../../runner/flow/parameters';
import { validateFlow } from '../../../runner/flow/validate';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, startMoto } from '../../support/moto';
import { fakeClock, sh, tempDir } from '../support/harness';
import { FakeBatch, Scripted } from './fake-batch';

const IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';

describeWithTool('moto_server', 'BatchComputeLayer on the S3 datastore: output passing', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let fake: FakeBatch;
  let n = 0;
  beforeAll(async () => {
    moto = await startMoto();
    s3 = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
  }, 60_000);
  afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
  });
  beforeEach(() => {
    fake = new FakeBatch('EC2', {}, moto.endpoint);
  });
  afterEach(() => fake.restore());

  async function run(
    flow: Flow,
    script?: (step: string, index: number, attempt: number) => Scripted | undefined,
    params: string[] = [],
    platform: 'EC2' | 'FARGATE' = 'EC2',
    resume?: { prefix: string; origin: RunRecord },
  ) {
    if (platform !== fake.platform) fake = (fake.restore(), new FakeBatch(platform, {}, moto.endpoint));
    if (script) fake.script = script;
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const prefix = resume?.prefix ?? `t${++n}/metaflow`;
    const settings: BatchSettings = {
      queue: 'metaflow',
      gpuQueue: 'metaflow',
      jobRoleArn: 'arn:aws:iam::123456789012:role/job',
      executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
      datastoreRoot: { bucket: 'mf-data', prefix, url: `s3://mf-data/${prefix}` } };
    const notices: string[] = [];
    const layer = new BatchComputeLayer({
      settings,
      batch: new BatchClient({ region: 'us-east-1' }),
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
      logMode: 'all',
      logPollMs: 5,
      watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
      notice: (l) => notices.push(l),
    });
    await layer.lookUp(v.graph);
    const datastore = new S3Datastore(new S3ObjectStore(s3, 'mf-data', prefix), { stagingDir: tempDir('mf-staging-') });
    const record = await runFlow({ graph: v.graph, layer, datastore, parameters: resolveParameters(flow, params).values, clock: fakeClock(), origin: resume?.origin });
    const submitted = (step: string, attempt = 0) => fake.submitted.filter((s) => s.tags!['metaflow.step'] === step && s.tags!['metaflow.attempt'] === String(attempt));
    return { record, datastore, layer, notices, submitted, prefix, root: `s3://mf-data/${prefix}` };
  }
  const containers = (input: SubmitJobCommandInput) => {
    const [fetch, main, upload] = input.ecsPropertiesOverride!.taskProperties![0].containers!;
    expect([fetch.name, main.name, upload.name]).toEqual(['fetch', 'main', 'upload']);
    return { fetch: environmentMap(fetch.environment), main: environmentMap(main.environment), upload: environmentMap(upload.environment), command: main.command! };
  };

  test('payloads: a plain step, a foreach array, a later N_TO_N body step, a retried child and a join — ecsProperties definitions and exact helper keys', async () => {
    const flow = defineFlow({
      name: 'IoFlow',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('echo "{\\"n\\": 3}" > "$MF_OUTPUT_DIR/outputs.json"'), foreach: { items: ['x', 'y', 'z'] }, next: 'a' },
        { name: 'a', command: sh('printf "{\\"v\\": \\"%s\\"}" "$MF_FOREACH_ITEM" > "$MF_OUTPUT_DIR/outputs.json"'), retry: { times: 1, minutesBetweenRetries: 0 }, next: 'b' },
        { name: 'b', command: sh('sed "s/}/, \\"b\\": $MF_TASK_ID}/" "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
        { name: 'join', join: true, command: sh('for p in $(echo "$MF_INPUT_PATHS" | tr , " "); do cat "$MF_DATASTORE_ROOT/$p/outputs.json"; done > "$MF_OUTPUT_DIR/all.txt"; echo "{\\"joined\\": true}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'end' },
        { name: 'end', command: sh('test -f "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/all.txt"') },
      ],
    });
    // child 1 of `a` fails its first attempt: a plain retry, and b/1 then runs outside b's array
    const r = await run(flow, (step, index, attempt) => (step === 'a' && index === 1 && attempt === 0 ? { exitCode: 3, statusReason: 'Essential container in task exited' } : undefined));
    expect(r.record.status).toBe('succeeded');
    const id = `IoFlow/${r.record.runId}`;

    const defs = fake.inputs(RegisterJobDefinitionCommand);
    expect(defs.map((d) => d.jobDefinitionName)).toEqual(['start', 'a', 'b', 'join', 'end'].map((s) => expect.stringMatching(new RegExp(`^metaflow_IoFlow-${s}-io-[0-9a-f]{12}$`))));
    expect(defs.every((d) => d.containerProperties === undefined && d.ecsProperties!.taskProperties![0].containers!.map((c) => c.name).join() === 'fetch,main,upload')).toBe(true);
    expect(fake.submitted.every((s) => s.containerOverrides === undefined && s.ecsPropertiesOverride !== undefined)).toBe(true);

    // plain step: no inputs
    const start = containers(r.submitted('start')[0]);
    expect(start.fetch).toEqual({ MF_DATASTORE_URL: r.root, MF_FETCH_KEYS: '', MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${id}/start/0/attempt-0` });
    expect(start.upload).toEqual({ MF_DATASTORE_URL: r.root, MF_OUTPUT_KEY: `${id}/start/0/attempt-0` });
    expect(start.command).toEqual(['sh', '-c', mainScript(), 'metaflow-task', ...flow.steps[0].command]);
    expect(start.main).toMatchObject({ MF_TASK_ID: '0', MF_DATASTORE_ROOT: '/metaflow/root', MF_OUTPUT_DIR: `/metaflow/root/${id}/start/0/attempt-0` });

    // foreach array: items file and the split task, {taskId} for the child
    const [aJob] = r.submitted('a');
    expect(aJob.arrayProperties).toEqual({ size: 3 });
    const a = containers(aJob);
    expect(a.fetch).toEqual({
      MF_ARRAY_INDEX_OFFSET: '0',
      MF_TASK_ID_PREFIX: '',
      MF_FOREACH_ITEMS_FILE: `${id}/start/0/foreach-items.jsonl`,
      MF_DATASTORE_URL: r.root,
      MF_FETCH_KEYS: `${id}/start/0/foreach-items.jsonl ${id}/start/0/`,
      MF_WAIT_KEYS: `${id}/start/0/status.json`,
      MF_WAIT_SECONDS: '120',
      MF_OUTPUT_KEY: `${id}/a/{taskId}/attempt-0`,
    });
    expect(a.upload).toEqual({ MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_DATASTORE_URL: r.root, MF_OUTPUT_KEY: `${id}/a/{taskId}/attempt-0` });
    expect(a.command).toEqual(['sh', '-c', mainScript(), 'metaflow-task', ...childBootstrapCommand(flow.steps[1].command)]);
    expect(a.main).toMatchObject({ MF_DATASTORE_ROOT: '/metaflow/root', MF_OUTPUT_DIR: `/metaflow/root/${id}/a/{taskId}/attempt-0`, MF_FOREACH_ITEMS_FILE: `${id}/start/0/foreach-items.jsonl` });

    // later body step: N_TO_N, waits for each input's status.json as long as the default allows
    const [bJob] = r.submitted('b');
    expect(bJob.dependsOn).toEqual([{ jobId: `job-${fake.submitted.indexOf(aJob) + 1}`, type: 'N_TO_N' }]);
    expect(containers(bJob).fetch).toEqual({
      MF_ARRAY_INDEX_OFFSET: '0',
      MF_TASK_ID_PREFIX: '',
      MF_FOREACH_ITEMS_FILE: `${id}/start/0/foreach-items.jsonl`,
      MF_DATASTORE_URL: r.root,
      MF_FETCH_KEYS: `${id}/start/0/foreach-items.jsonl ${id}/a/{taskId}/`,
      MF_WAIT_KEYS: `${id}/a/{taskId}/status.json`,
      MF_OUTPUT_KEY: `${id}/b/{taskId}/attempt-0`,
    });
    expect(containers(bJob).main).toMatchObject({ MF_WAIT_FOR_INPUTS: '1', MF_INPUT_PATHS: `${id}/a/{taskId}` });

    // the retried child: a plain job with concrete keys and its next attempt's output key
    const [aRetry] = r.submitted('a', 1);
    expect(aRetry.arrayProperties).toBeUndefined();
    expect(containers(aRetry).fetch).toEqual({ MF_ARRAY_INDEX_OFFSET: '1', MF_DATASTORE_URL: r.root, MF_FETCH_KEYS: `${id}/start/0/`, MF_WAIT_KEYS: `${id}/start/0/status.json`, MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${id}/a/1/attempt-1` });
    expect(containers(aRetry).main).toMatchObject({ MF_TASK_ID: '1', MF_RETRY_COUNT: '1', MF_FOREACH_ITEM: 'y', MF_OUTPUT_DIR: `/metaflow/root/${id}/a/1/attempt-1` });
    // b/1's predecessor ran outside a's array: b/1 is a plain job too
    const b1 = r.submitted('b').find((s) => s.tags!['metaflow.task_id'] === '1')!;
    expect(containers(b1).fetch).toMatchObject({ MF_FETCH_KEYS: `${id}/a/1/`, MF_WAIT_KEYS: `${id}/a/1/status.json`, MF_OUTPUT_KEY: `${id}/b/1/attempt-0` });

    // the join: every input's committed outputs
    const join = containers(r.submitted('join')[0]);
    expect(join.fetch).toEqual({
      MF_DATASTORE_URL: r.root,
      MF_FETCH_KEYS: [0, 1, 2].map((i) => `${id}/b/${i}/`).join(' '),
      MF_WAIT_KEYS: [0, 1, 2].map((i) => `${id}/b/${i}/status.json`).join(' '),
      MF_WAIT_SECONDS: '120',
      MF_OUTPUT_KEY: `${id}/join/0/attempt-0`,
    });

    // what the containers wrote, read back from S3 through the datastore
    expect(await r.datastore.readOutputs(`${id}/b/1`)).toEqual({ v: 'y', b: 1 });
    expect(await r.datastore.readOutputs(`${id}/join/0`)).toEqual({ joined: true });
    expect(await r.datastore.get(`${id}/join/0/all.txt`)).toBe('{"v": "x", "b": 0}{"v": "y", "b": 1}{"v": "z", "b": 2}');
    expect(r.record.tasks.find((t) => t.step === 'a' && t.taskId === '1')!.attempts.map((x) => x.status)).toEqual(['failed', 'succeeded']);
  }, 60_000);

  test('a join whose inline input list would crowd the override: the task still gets MF_INPUT_PATHS, fetch reads the list the layer wrote', async () => {
    const flow = defineFlow({
      name: 'WideFlow',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 40 }, (_, i) => i) }, next: 'a' },
        { name: 'a', command: sh('echo "{\\"i\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
        { name: 'join', join: true, command: sh('n=0; for p in $(echo "$MF_INPUT_PATHS" | tr , " "); do test -f "$MF_DATASTORE_ROOT/$p/outputs.json" && n=$((n + 1)); done; echo "{\\"seen\\": $n}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    });
    const r = await run(flow);
    expect(r.record.status).toBe('succeeded');
    const id = `WideFlow/${r.record.runId}`;
    const join = containers(r.submitted('join')[0]);
    const paths = Array.from({ length: 40 }, (_, i) => `${id}/a/${i}`);
    expect(join.main.MF_INPUT_PATHS).toBe(paths.join(','));
    expect(join.fetch).toEqual({ MF_DATASTORE_URL: r.root, MF_FETCH_KEYS: '', MF_FETCH_LISTS: `${id}/join/0/input-paths.txt`, MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${id}/join/0/attempt-0` });
    expect(await r.datastore.get(`${id}/join/0/input-paths.txt`)).toBe(paths.join('\n') + '\n');
    expect(await r.datastore.readOutputs(`${id}/join/0`)).toEqual({ seen: 40 });
  }, 60_000);

  test('examples/fanout.ts on Fargate: the items come from start\'s outputs in S3, the join sums what 20 children uploaded', async () => {
    const r = await run(fanout, undefined, ['width=20'], 'FARGATE'); // square asks for 0.25 vCPU
    expect(r.record.status).toBe('succeeded');
    expect(await r.datastore.readOutputs(`FanoutFlow/${r.record.runId}/join/0`)).toEqual({ total: 2870, children: 20 });
  }, 60_000);

  test('a caught input (only its status.json in S3) and a nested foreach whose inner joins read per-child input lists', async () => {
    const flow = defineFlow({
      name: 'NestFlow',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: ['p', 'q'] }, next: 'outer' },
        { name: 'outer', command: sh('true'), foreach: { items: [1, 2, 3] }, next: 'inner' },
        { name: 'inner', command: sh('echo "{\\"v\\": \\"$MF_TASK_ID\\"}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'ij' },
        {
          name: 'ij',
          join: true,
          command: sh('paths=${MF_INPUT_PATHS:-$(tr "\\n" , < "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE")}; for p in $(echo "$paths" | tr , " "); do cat "$MF_DATASTORE_ROOT/$p/outputs.json"; done | tr -d "\\n" > "$MF_OUTPUT_DIR/seen.txt"'),
          next: 'oj',
        },
        { name: 'oj', join: true, command: sh('true'), next: 'failing' },
        { name: 'failing', command: sh('exit 5'), catch: { var: 'err' }, next: 'end' },
        { name: 'end', command: sh('test -d "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS" && echo "{\\"caught\\": $MF_CATCH_err}" > "$MF_OUTPUT_DIR/outputs.json"') },
      ],
    });
    const r = await run(flow);
    expect(r.record.status).toBe('succeeded');
    const id = `NestFlow/${r.record.runId}`;
    expect(await r.datastore.get(`${id}/ij/1/seen.txt`)).toBe('{"v": "1_0"}{"v": "1_1"}{"v": "1_2"}');
    expect(await r.datastore.get(`${id}/ij/0/seen.txt`)).toBe('{"v": "0_0"}{"v": "0_1"}{"v": "0_2"}');
    expect(await r.datastore.readOutputs(`${id}/end/0`)).toMatchObject({ caught: { step: 'failing', taskId: '0', exitCode: 5 } });
    expect(containers(r.submitted('end')[0]).fetch).toMatchObject({ MF_FETCH_KEYS: `${id}/failing/0/`, MF_WAIT_KEYS: `${id}/failing/0/status.json` });
  }, 60_000);

  test('resume: the reused start is read from the origin run\'s task path in S3', async () => {
    const failed = await run(hello, (step) => (step === 'hello' ? { exitCode: 1, statusReason: 'Essential container in task exited' } : undefined));
    expect(failed.record.status).toBe('failed');
    fake.restore();
    fake = new FakeBatch('EC2', {}, moto.endpoint);
    const r = await run(hello, undefined, [], 'EC2', { prefix: failed.prefix, origin: failed.record });
    expect(r.record.status).toBe('succeeded');
    expect(r.record.tasks.map((t) => `${t.step}:${t.status}`)).toEqual(['start:reused', 'hello:succeeded', 'end:succeeded']);
    const origin = `HelloFlow/${failed.record.runId}/start/0`;
    expect(containers(r.submitted('hello')[0]).fetch).toMatchObject({ MF_FETCH_KEYS: `${origin}/`, MF_WAIT_KEYS: `${origin}/status.json` });
    expect(await r.datastore.readLog({ flow: 'HelloFlow', runId: r.record.runId, step: 'hello', taskId: '0', attempt: 0 })).toContain('{"greeting": "hello, world"}');
  }, 60_000);

  test('examples/hello.ts end to end: three multi-container jobs, the greeting crosses S3, `show` reads the run back from S3', async () => {
    const r = await run(hello);
    expect(r.record.status).toBe('succeeded');
    const id = `HelloFlow/${r.record.runId}`;
    expect(await r.datastore.readOutputs(`${id}/start/0`)).toEqual({ greeting: 'hello, world' });
    expect(await r.datastore.readLog({ flow: 'HelloFlow', runId: r.record.runId, step: 'hello', taskId: '0', attempt: 0 })).toContain('{"greeting": "hello, world"}');
    const back = (await r.datastore.readRun(r.record.runId))!;
    expect(back.tasks.map((t) => `${t.step}/${t.taskId}:${t.status}`)).toEqual(['start/0:succeeded', 'hello/0:succeeded', 'end/0:succeeded']);
    expect(formatRun(back)).toContain(`Run ${r.record.runId} of HelloFlow: succeeded`);
    expect(r.layer.calls.snapshot()).toMatchObject({ RegisterJobDefinition: 3, SubmitJob: 3 });
  }, 60_000);

  test('examples/sweep.ts end to end: 100 items reach the children of ONE array job, pick reads 100 outputs (its input list through the datastore)', async () => {
    const r = await run(sweep);
    expect(r.record.status).toBe('succeeded');
    const id = `SweepFlow/${r.record.runId}`;
    const train = r.submitted('train');
    expect(train).toHaveLength(1);
    expect(train[0].arrayProperties).toEqual({ size: 100 });
    expect(await r.datastore.readOutputs(`${id}/train/42`)).toEqual({ rate: 0.043, loss: expect.closeTo((Math.log10(0.043) + 2) ** 2, 5) });
    expect(await r.datastore.readOutputs(`${id}/pick/0`)).toEqual({ best: { rate: 0.01, loss: 0 }, tried: 100 });
    const pick = containers(r.submitted('pick')[0]);
    // 100 input prefixes are too many for the override: fetch reads the list the layer wrote
    // 100 input paths are over the contract's inline limit: the runner's list, fetched with each listed task
    const list = `${id}/pick/0/input-paths.txt`;
    expect(pick.main.MF_INPUT_PATHS_FILE).toBe(list);
    expect(pick.fetch).toMatchObject({ MF_FETCH_KEYS: '', MF_FETCH_LISTS: list, MF_OUTPUT_KEY: `${id}/pick/0/attempt-0` });
    expect((await r.datastore.get(list))!.trim().split('\n')).toEqual(Array.from({ length: 100 }, (_, i) => `${id}/train/${i}`));
    expect(await r.datastore.readLog({ flow: 'SweepFlow', runId: r.record.runId, step: 'end', taskId: '0', attempt: 0 })).toContain('"tried":100');
  }, 180_000);
}, ['--help']);

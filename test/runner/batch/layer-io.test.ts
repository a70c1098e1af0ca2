/**
 * The Batch layer's I/O on the S3 datastore (moto_server), one container per task: the exact
 * environment-only overrides (the task runtime's MF_FETCH_KEYS, MF_WAIT_KEYS, MF_FETCH_LISTS,
 * MF_OUTPUT_KEY, MF_CODE_URL …) of a plain step, a foreach array, a later N_TO_N body step, a
 * retried child and a join; a wide join through a fetch list; a caught input; a nested foreach's
 * inner joins; a resume reading the reused start from the origin run; and examples/hello.ts,
 * fanout.ts (Fargate), sweep.ts and pyscripts/flow.ts end to end. The simulated Batch
 * (fake-batch.ts) plays every job in its image's root-filesystem stand-in: stage 0 downloads the
 * run's code package, the runtime mirrors the inputs, runs the step and uploads its outputs; each
 * test reads what the containers wrote back from S3. The examples' runs (resilient's hang played
 * as a timed-out attempt of Batch's minimum 60 s timeout) are registered with the real Metaflow
 * metadata service, started once for the file, and read back at its end (issue 16).
 */
import * as path from 'node:path';
import { BatchClient, RegisterJobDefinitionCommand, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import fanout from '../../../examples/fanout';
import hello from '../../../examples/hello';
import pyscripts from '../../../examples/pyscripts/flow';
import resilient from '../../../examples/resilient';
import sweep from '../../../examples/sweep';
import { environmentMap, loaderCommand, TASK_IO_ENV } from '../../../runner/batch/job-shape';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { formatRun } from '../../../runner/cli/commands/show';
import { RunRecord } from '../../../runner/datastore/types';
import { defineFlow, Flow } from '../../../runner/flow/model';
import { resolveParameters } from '../../../runner/flow/parameters';
import { validateFlow } from '../../../runner/flow/validate';
import { batchAttemptMetadata, blobWriterFor, MetadataServiceClient, RunRegistrar } from '../../../runner/metadata';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { EXAMPLES as EXAMPLES_SEEN, resilientOnBatch, type ExampleExpectation, useExampleService } from '../../support/metadata/examples';
import { s3Reader } from '../../support/metadata/service';
import { useMotoBucket } from '../../support/moto-bucket';
import { fakeClock, sh } from '../support/harness';
import { expectPortableJobs, motoDatastore, storeTestCodePackage } from './code-package-fixture';
import { FakeBatch, Scripted } from './fake-batch';

const IMAGE = 'public.ecr.aws/docker/library/python:3.12-slim';
const EXAMPLES = path.resolve(__dirname, '..', '..', '..', 'examples');
const IO_NAMES = new Set<string>(Object.values(TASK_IO_ENV));

const bucket = useMotoBucket('mf-data', 'unused');
// The real Metaflow metadata service, once for the file: the examples' runs register with it.
const examples = useExampleService('mdio-');
const roots: string[] = [];
let fake: FakeBatch | undefined;
let n = 0;
afterEach(() => {
  // every job sent fits ECS with its definition's command and names no path of this machine
  if (fake) expect(expectPortableJobs(fake.submitted, fake.definitions)).toBeGreaterThan(0);
  fake?.restore();
  fake = undefined;
});

interface RunOptions {
  script?: (step: string, index: number, attempt: number) => Scripted | undefined;
  params?: string[];
  platform?: 'EC2' | 'FARGATE';
  resume?: { prefix: string; origin: RunRecord };
  /** The folder packed as the run's code package. @default a folder with data.txt */
  codeDir?: string;
  /** Register the run with the metadata service (when there is one), as this example. @default not registered */
  register?: ExampleExpectation;
}

async function run(flow: Flow, o: RunOptions = {}) {
  fake?.restore();
  fake = new FakeBatch(o.platform ?? 'EC2', {}, bucket.endpoint);
  if (o.script) fake.script = o.script;
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const prefix = o.resume?.prefix ?? `t${++n}/metaflow`;
  const datastore = motoDatastore(bucket.endpoint, 'mf-data', prefix);
  const codeUrl = await storeTestCodePackage(datastore, flow.name, o.codeDir);
  const settings: BatchSettings = {
    queue: 'metaflow',
    gpuQueue: 'metaflow',
    jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
    datastoreRoot: { bucket: 'mf-data', prefix, url: `s3://mf-data/${prefix}` },
  };
  const notices: string[] = [];
  const layer = new BatchComputeLayer({
    settings,
    codePackageUrl: codeUrl,
    batch: new BatchClient({ region: 'us-east-1' }),
    logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    logMode: 'all',
    logPollMs: 5,
    watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
    notice: (l) => notices.push(l),
  });
  await layer.lookUp(v.graph);
  expect(layer.check(v.graph)).toEqual([]);
  const parameters = resolveParameters(flow, o.params ?? []).values;
  const warnings: string[] = [];
  const service = examples.service;
  const registrar =
    o.register && service
      ? new RunRegistrar({
          client: new MetadataServiceClient({ url: service.url, authKey: 'test-key', user: 'ada' }),
          blobs: blobWriterFor(datastore),
          datastore,
          graph: v.graph,
          flowFile: `${flow.name}.ts`,
          parameters,
          attemptMetadata: batchAttemptMetadata(layer.jobLogs),
          warn: (line) => warnings.push(line),
        })
      : undefined;
  await registrar?.preflight(flow.name);
  const record = await runFlow({ graph: v.graph, layer, datastore, parameters, clock: fakeClock(), origin: o.resume?.origin, onEvent: registrar?.onEvent });
  if (registrar) {
    const summary = await registrar.finish(20_000);
    expect({ warnings, registered: summary.registered }).toEqual({ warnings: [], registered: summary.tasks });
    if (record.status === 'succeeded') examples.registered.push({ runId: record.runId, expected: o.register! });
    roots.push(`s3://mf-data/${prefix}`);
  }
  const f = fake;
  const submitted = (step: string, attempt = 0) => f.submitted.filter((s) => s.tags!['metaflow.step'] === step && s.tags!['metaflow.attempt'] === String(attempt));
  const id = `${flow.name}/${record.runId}`;
  return { record, datastore, layer, notices, submitted, prefix, codeUrl, id, fake: f, root: `s3://mf-data/${prefix}` };
}

/** The overrides of a job: environment only; the runtime's I/O variables and the rest apart. */
function overrides(input: SubmitJobCommandInput): { io: Record<string, string>; task: Record<string, string> } {
  expect(Object.keys(input.containerOverrides ?? {})).toEqual(['environment']);
  const env = environmentMap(input.containerOverrides!.environment);
  const io: Record<string, string> = {};
  const task: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) (IO_NAMES.has(k) ? io : task)[k] = v;
  return { io, task };
}

test('payloads: a plain step, a foreach array, a later N_TO_N body step, a retried child and a join — one container, the exact environment', async () => {
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
  const r = await run(flow, { script: (step, index, attempt) => (step === 'a' && index === 1 && attempt === 0 ? { exitCode: 3, statusReason: 'Essential container in task exited' } : undefined) });
  // On a mismatch, say which task did not succeed and why (the attempts' reasons).
  const logOf = (ref?: string) => (ref ? r.fake.streams.get(ref.split('/').pop()!) ?? r.fake.streams.get(ref) : undefined);
  const unsucceeded = r.record.tasks.filter((t) => t.status !== 'succeeded').map((t) => ({ task: `${t.step}/${t.taskId}`, status: t.status, logs: t.attempts.map((a) => logOf(a.logRef)) }));
  expect({ status: r.record.status, unsucceeded, notices: r.notices }).toMatchObject({ status: 'succeeded', unsucceeded: [] });
  const { id, root, codeUrl } = r;
  const code = { MF_DATASTORE_URL: root, MF_CODE_URL: codeUrl };

  // one container per step: containerProperties with the loader and the step's argv
  const defs = r.fake.inputs(RegisterJobDefinitionCommand);
  expect(defs.map((d) => d.jobDefinitionName)).toEqual(['start', 'a', 'b', 'join', 'end'].map((s) => expect.stringMatching(new RegExp(`^metaflow_IoFlow-${s}-[0-9a-f]{12}$`))));
  expect(defs.map((d) => d.containerProperties!.command)).toEqual(flow.steps.map((s) => loaderCommand(s.command)));
  expect(defs.some((d) => 'ecsProperties' in d)).toBe(false);

  // plain step: no inputs; the whole environment, exactly
  const [start] = r.submitted('start');
  expect(environmentMap(start.containerOverrides!.environment)).toEqual({
    MF_FLOW: 'IoFlow',
    MF_RUN_ID: r.record.runId,
    MF_STEP: 'start',
    MF_TASK_ID: '0',
    MF_RETRY_COUNT: '0',
    MF_INPUT_PATHS: '',
    ...code,
    MF_WAIT_SECONDS: '120',
    MF_OUTPUT_KEY: `${id}/start/0/attempt-0`,
  });

  // foreach array: the items file and the split task, `{taskId}` resolved in the container
  const [aJob] = r.submitted('a');
  expect(aJob.arrayProperties).toEqual({ size: 3 });
  const a = overrides(aJob);
  expect(a.io).toEqual({
    ...code,
    MF_FETCH_KEYS: `${id}/start/0/foreach-items.jsonl ${id}/start/0/`,
    MF_WAIT_KEYS: `${id}/start/0/status.json`,
    MF_WAIT_SECONDS: '120',
    MF_OUTPUT_KEY: `${id}/a/{taskId}/attempt-0`,
  });
  expect(a.task).toMatchObject({ MF_ARRAY_INDEX_OFFSET: '0', MF_TASK_ID_PREFIX: '', MF_RETRY_COUNT: '0', MF_FOREACH_ITEMS_FILE: `${id}/start/0/foreach-items.jsonl`, MF_INPUT_PATHS: `${id}/start/0` });

  // later body step: N_TO_N on a's array; its children wait as long as the predecessor may run
  const [bJob] = r.submitted('b');
  expect(bJob.dependsOn).toEqual([{ jobId: `job-${r.fake.submitted.indexOf(aJob) + 1}`, type: 'N_TO_N' }]);
  const b = overrides(bJob);
  expect(b.io).toEqual({
    ...code,
    MF_FETCH_KEYS: `${id}/start/0/foreach-items.jsonl ${id}/a/{taskId}/`,
    MF_WAIT_KEYS: `${id}/a/{taskId}/status.json`,
    MF_OUTPUT_KEY: `${id}/b/{taskId}/attempt-0`,
  });
  expect(b.task).toMatchObject({ MF_INPUT_PATHS: `${id}/a/{taskId}` });

  // the retried child: a plain job with concrete keys and its next attempt's output key
  const [aRetry] = r.submitted('a', 1);
  expect(aRetry.arrayProperties).toBeUndefined();
  const retry = overrides(aRetry);
  expect(retry.io).toEqual({ ...code, MF_FETCH_KEYS: `${id}/start/0/`, MF_WAIT_KEYS: `${id}/start/0/status.json`, MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${id}/a/1/attempt-1` });
  expect(retry.task).toMatchObject({ MF_ARRAY_INDEX_OFFSET: '1', MF_TASK_ID: '1', MF_RETRY_COUNT: '1', MF_FOREACH_ITEM: 'y' });
  // b/1's predecessor ran outside a's array: b/1 is a plain job too
  const b1 = r.submitted('b').find((s) => s.tags!['metaflow.task_id'] === '1')!;
  expect(overrides(b1).io).toEqual({ ...code, MF_FETCH_KEYS: `${id}/a/1/`, MF_WAIT_KEYS: `${id}/a/1/status.json`, MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${id}/b/1/attempt-0` });

  // the join: every input's committed outputs, after its status.json
  expect(overrides(r.submitted('join')[0]).io).toEqual({
    ...code,
    MF_FETCH_KEYS: [0, 1, 2].map((i) => `${id}/b/${i}/`).join(' '),
    MF_WAIT_KEYS: [0, 1, 2].map((i) => `${id}/b/${i}/status.json`).join(' '),
    MF_WAIT_SECONDS: '120',
    MF_OUTPUT_KEY: `${id}/join/0/attempt-0`,
  });

  // what the containers wrote, read back from S3
  expect(await r.datastore.readOutputs(`${id}/b/1`)).toEqual({ v: 'y', b: 1 });
  expect(await r.datastore.readOutputs(`${id}/join/0`)).toEqual({ joined: true });
  expect(await r.datastore.get(`${id}/join/0/all.txt`)).toBe('{"v": "x", "b": 0}{"v": "y", "b": 1}{"v": "z", "b": 2}');
  expect(r.record.tasks.find((t) => t.step === 'a' && t.taskId === '1')!.attempts.map((x) => x.status)).toEqual(['failed', 'succeeded']);
}, 90_000);

test('a wide join: the inline input list would crowd the overrides, so the runtime reads the list the layer wrote (MF_FETCH_LISTS); the task still gets MF_INPUT_PATHS', async () => {
  // long step names make the paths long: 14 children are over the layer's 1,024 inline characters
  const body = 'a_body_step_with_a_name_of_forty_letters'; // the longest a step name may be
  const flow = defineFlow({
    name: 'WideFlow',
    image: IMAGE,
    steps: [
      { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 14 }, (_, i) => i) }, next: body },
      { name: body, command: sh('echo "{\\"i\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
      { name: 'join', join: true, command: sh('n=0; for p in $(echo "$MF_INPUT_PATHS" | tr , " "); do test -f "$MF_DATASTORE_ROOT/$p/outputs.json" && n=$((n + 1)); done; echo "{\\"seen\\": $n}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'end' },
      { name: 'end', command: sh('true') },
    ],
  });
  const r = await run(flow);
  expect(r.record.status).toBe('succeeded');
  const paths = Array.from({ length: 14 }, (_, i) => `${r.id}/${body}/${i}`);
  expect(paths.join('/ ').length).toBeGreaterThan(1024);
  const join = overrides(r.submitted('join')[0]);
  expect(join.task.MF_INPUT_PATHS).toBe(paths.join(','));
  expect(join.io).toEqual({ MF_DATASTORE_URL: r.root, MF_CODE_URL: r.codeUrl, MF_FETCH_LISTS: `${r.id}/join/0/input-paths.txt`, MF_WAIT_SECONDS: '120', MF_OUTPUT_KEY: `${r.id}/join/0/attempt-0` });
  expect(await r.datastore.get(`${r.id}/join/0/input-paths.txt`)).toBe(paths.join('\n') + '\n');
  expect(await r.datastore.readOutputs(`${r.id}/join/0`)).toEqual({ seen: 14 });
  // Batch capacity: never more containers at once than the simulated compute environment has
  expect(r.fake.maxPlayedAtOnce).toBe(r.fake.maxRunning);
}, 90_000);

test('a caught input (only its status.json in S3) and a nested foreach whose inner joins read their own children', async () => {
  const flow = defineFlow({
    name: 'NestFlow',
    image: IMAGE,
    steps: [
      { name: 'start', command: sh('true'), foreach: { items: ['p', 'q'] }, next: 'outer' },
      { name: 'outer', command: sh('true'), foreach: { items: [1, 2] }, next: 'inner' },
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
  const { id } = r;
  expect(await r.datastore.get(`${id}/ij/0/seen.txt`)).toBe('{"v": "0_0"}{"v": "0_1"}');
  expect(await r.datastore.get(`${id}/ij/1/seen.txt`)).toBe('{"v": "1_0"}{"v": "1_1"}');
  // each inner join mirrors its own outer child's children
  const ij = r.submitted('ij').map((s) => overrides(s).io);
  expect(ij.map((io) => io.MF_FETCH_KEYS ?? io.MF_FETCH_LISTS).sort()).toEqual([`${id}/inner/0_0/ ${id}/inner/0_1/`, `${id}/inner/1_0/ ${id}/inner/1_1/`]);
  // the caught input: its task path holds only status.json, which the runtime mirrors
  expect(await r.datastore.readOutputs(`${id}/end/0`)).toMatchObject({ caught: { step: 'failing', taskId: '0', exitCode: 5 } });
  expect(overrides(r.submitted('end')[0]).io).toMatchObject({ MF_FETCH_KEYS: `${id}/failing/0/`, MF_WAIT_KEYS: `${id}/failing/0/status.json` });
}, 90_000);

test("resume: the reused start is read from the origin run's task path in S3", async () => {
  const failed = await run(hello, { script: (step) => (step === 'hello' ? { exitCode: 1, statusReason: 'Essential container in task exited' } : undefined) });
  expect(failed.record.status).toBe('failed');
  expectPortableJobs(failed.fake.submitted, failed.fake.definitions);
  const r = await run(hello, { resume: { prefix: failed.prefix, origin: failed.record } });
  expect(r.record.status).toBe('succeeded');
  expect(r.record.tasks.map((t) => `${t.step}:${t.status}`)).toEqual(['start:reused', 'hello:succeeded', 'end:succeeded']);
  const origin = `HelloFlow/${failed.record.runId}/start/0`;
  expect(overrides(r.submitted('hello')[0]).io).toMatchObject({ MF_FETCH_KEYS: `${origin}/`, MF_WAIT_KEYS: `${origin}/status.json` });
  expect(await r.datastore.readLog({ flow: 'HelloFlow', runId: r.record.runId, step: 'hello', taskId: '0', attempt: 0 })).toContain('{"greeting": "hello, world"}');
}, 90_000);

test('examples/hello.ts end to end: three jobs, the greeting crosses S3, `show` reads the run back from S3', async () => {
  const r = await run(hello, { codeDir: EXAMPLES, register: EXAMPLES_SEEN.hello() });
  expect(r.record.status).toBe('succeeded');
  expect(await r.datastore.readOutputs(`${r.id}/start/0`)).toEqual({ greeting: 'hello, world' });
  expect(await r.datastore.readLog({ flow: 'HelloFlow', runId: r.record.runId, step: 'hello', taskId: '0', attempt: 0 })).toContain('{"greeting": "hello, world"}');
  const back = (await r.datastore.readRun(r.record.runId))!;
  expect(back.tasks.map((t) => `${t.step}/${t.taskId}:${t.status}`)).toEqual(['start/0:succeeded', 'hello/0:succeeded', 'end/0:succeeded']);
  expect(formatRun(back)).toContain(`Run ${r.record.runId} of HelloFlow: succeeded`);
  expect(r.layer.calls.snapshot()).toMatchObject({ RegisterJobDefinition: 3, SubmitJob: 3 });
}, 60_000);

test("examples/fanout.ts on a Fargate queue: the items come from start's outputs in S3, the join sums what 10 children uploaded", async () => {
  const r = await run(fanout, { params: ['width=10'], platform: 'FARGATE', codeDir: EXAMPLES, register: EXAMPLES_SEEN.fanout(10) }); // square asks for 0.25 vCPU
  expect(r.record.status).toBe('succeeded');
  expect(r.fake.inputs(RegisterJobDefinitionCommand).every((d) => d.platformCapabilities?.[0] === 'FARGATE')).toBe(true);
  expect(r.submitted('square')).toHaveLength(1);
  expect(overrides(r.submitted('square')[0]).io.MF_FETCH_KEYS).toContain(`${r.id}/start/0/`);
  expect(await r.datastore.readOutputs(`${r.id}/join/0`)).toEqual({ total: 385, children: 10 });
}, 90_000);

test('examples/sweep.ts end to end: 10 rates reach the children of ONE array job, pick reads their outputs', async () => {
  const rates = Array.from({ length: 10 }, (_, i) => [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.9][i]);
  const r = await run(sweep, { params: [`rates=${rates.join(',')}`], codeDir: EXAMPLES, register: EXAMPLES_SEEN.sweep(rates) });
  expect(r.record.status).toBe('succeeded');
  const train = r.submitted('train');
  expect(train).toHaveLength(1);
  expect(train[0].arrayProperties).toEqual({ size: 10 });
  expect(await r.datastore.readOutputs(`${r.id}/train/4`)).toEqual({ rate: 0.05, loss: expect.closeTo((Math.log10(0.05) + 2) ** 2, 5) });
  expect(await r.datastore.readOutputs(`${r.id}/pick/0`)).toEqual({ best: { rate: 0.01, loss: 0 }, tried: 10 });
  expect(await r.datastore.readLog({ flow: 'SweepFlow', runId: r.record.runId, step: 'end', taskId: '0', attempt: 0 })).toContain('"tried": 10');
}, 90_000);

test("examples/pyscripts/flow.ts end to end: the scripts come from the code package, the data set crosses S3", async () => {
  const r = await run(pyscripts, { params: ['rows=50'], codeDir: path.join(EXAMPLES, 'pyscripts'), register: EXAMPLES_SEEN.pyscripts(50) });
  expect(r.record.status).toBe('succeeded');
  expect(await r.datastore.readOutputs(`${r.id}/start/0`)).toEqual({ rows: 50 });
  expect((await r.datastore.get(`${r.id}/start/0/data.csv`))!.split(/\r?\n/)[0]).toBe('x,y');
  expect(await r.datastore.readOutputs(`${r.id}/train/0`)).toMatchObject({ slope: expect.closeTo(3, 0), intercept: expect.closeTo(2, 0), mse: expect.any(Number) });
  expect(await r.datastore.readLog({ flow: 'PyScriptsFlow', runId: r.record.runId, step: 'end', taskId: '0', attempt: 0 })).toMatch(/^run \S+: y = [23]\.\d+x \+ [\d.]+ \(mse [\d.]+ on 50 rows\)$/m);
}, 60_000);

test('examples/resilient.ts with Batch\'s minimum timeout (60 s; the example\'s 1 s is refused on Batch), its hang played as a timed-out attempt: retry, timeout and catch', async () => {
  const r = await run(resilientOnBatch(resilient), {
    codeDir: EXAMPLES,
    register: EXAMPLES_SEEN.resilient(),
    script: (step, index, attempt) => (step === 'hung' && index === 0 && attempt === 0 ? { statusReason: 'Job attempt duration exceeded timeout' } : undefined),
  });
  expect(r.record.status).toBe('succeeded');
  const attempts = (step: string) => r.record.tasks.find((t) => t.step === step)!.attempts.map((a) => a.status);
  expect({ flaky: attempts('flaky'), hung: attempts('hung'), failing: r.record.tasks.find((t) => t.step === 'failing')!.status }).toEqual({ flaky: ['failed', 'succeeded'], hung: ['timeout', 'succeeded'], failing: 'caught' });
  expect(await r.datastore.readLog({ flow: 'ResilientFlow', runId: r.record.runId, step: 'end', taskId: '0', attempt: 0 })).toMatch(/caught failure: \{"step":"failing".*"exitCode":3/);
}, 90_000);

(examples.available ? test : test.skip)('every example run on Batch is in the metadata service: the Python client (from S3) and the UI backend read it back; a screenshot of its DAG', async () => {
  // (Each run has its own datastore root: the client and the UI find a task's in its metadata, ds-root.)
  await examples.check({ count: 5, env: s3Reader(roots[0] ?? 's3://mf-data/unused', bucket.endpoint), screenshot: { flow: 'ResilientFlow', layer: 'batch' } });
}, 180_000);

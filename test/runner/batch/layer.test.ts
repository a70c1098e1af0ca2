/**
 * The Batch layer through the orchestrator on the simulated Batch (fake-batch.ts): every job runs
 * in its image's root-filesystem stand-in with the task runtime, against an S3 datastore on
 * moto_server holding the run's code package. Outcomes AWS decides (OOM, a pull failure, a spot
 * reclaim, a timeout) are scripted.
 */
import { BatchClient, RegisterJobDefinitionCommand, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { AwsClients } from '../../../runner/aws/clients';
import { formatRun } from '../../../runner/cli/commands/show';
import { BatchComputeLayer, BatchLogMode } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { loaderCommand } from '../../../runner/batch/job-shape';
import { S3Datastore } from '../../../runner/datastore/s3';
import { defineFlow, FlowSpec, StepSpec } from '../../../runner/flow/model';
import { resolveParameters } from '../../../runner/flow/parameters';
import { validateFlow } from '../../../runner/flow/validate';
import { RunEvent } from '../../../runner/orchestrator/events';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { fakeClock, sh } from '../support/harness';
import { FakeBatch, QUEUE_ARN, GPU_QUEUE_ARN, Scripted } from './fake-batch';
import { throttlingHandler } from './throttling-http';
import { expectPortableJobs, motoDatastore, storeTestCodePackage } from './code-package-fixture';
import { useMotoBucket } from '../../support/moto-bucket';

const settings: BatchSettings = {
  queue: 'metaflow',
  gpuQueue: 'gpu',
  jobRoleArn: 'arn:aws:iam::123456789012:role/job',
  datastoreRoot: { bucket: 'mf-data', prefix: 'metaflow', url: 's3://mf-data/metaflow' },
};
const IMAGE = 'public.ecr.aws/docker/library/python:3.12-slim';

const bucket = useMotoBucket('mf-data', 'metaflow');
let datastore: S3Datastore;
/** Code package URL per flow name (each flow's package is stored under its name). */
const packages = new Map<string, string>();
beforeAll(async () => {
  datastore = motoDatastore(bucket.endpoint, 'mf-data', 'metaflow');
  for (const flow of ['TestFlow', 'T']) packages.set(flow, await storeTestCodePackage(datastore, flow));
});

let fake: FakeBatch;
beforeEach(() => {
  fake = new FakeBatch('EC2', {}, bucket.endpoint);
});
afterEach(() => {
  // whatever a test did, every job it sent would fit ECS and names no path of this machine
  expectPortableJobs(fake.submitted, fake.definitions);
  fake.restore();
});

function makeLayer(notices: string[], logMode: BatchLogMode = 'all', flow = 'TestFlow') {
  return new BatchComputeLayer({
    settings,
    codePackageUrl: packages.get(flow),
    batch: new BatchClient({ region: 'us-east-1' }),
    logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    logMode,
    logPollMs: 5,
    watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
    notice: (l) => notices.push(l),
  });
}

async function run(spec: Partial<FlowSpec> & { steps: StepSpec[] }, opts: { logMode?: BatchLogMode; abortAfter?: (events: RunEvent[], abort: () => void) => void; params?: string[] } = {}) {
  const flow = defineFlow({ name: 'TestFlow', image: IMAGE, ...spec });
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const notices: string[] = [];
  const layer = makeLayer(notices, opts.logMode);
  await layer.lookUp(v.graph);
  const events: RunEvent[] = [];
  const abort = new AbortController();
  const record = await runFlow({
    graph: v.graph,
    layer,
    datastore,
    parameters: resolveParameters(flow, opts.params ?? []).values,
    clock: fakeClock(),
    signal: abort.signal,
    onEvent: (e) => {
      events.push(e);
      opts.abortAfter?.(events, () => abort.abort());
    },
  });
  const task = (p: string) => record.tasks.find((t) => `${t.step}/${t.taskId}` === p)!;
  const outputs = async (p: string) => JSON.parse((await datastore.get(`${record.flow}/${record.runId}/${p}/outputs.json`)) ?? 'null');
  return { record, events, notices, layer, task, outputs, datastore, graph: v.graph };
}

const retryJobId = (input: SubmitJobCommandInput) => `job-${fake.submitted.indexOf(input) + 1}`;
const env = (input: SubmitJobCommandInput) => Object.fromEntries((input.containerOverrides?.environment ?? []).map((e) => [e.name, e.value]));

describe('BatchComputeLayer', () => {
  test('a 3-step flow: one job definition per step, one SubmitJob per task with the contract, tags and timeout', async () => {
    const r = await run({
      steps: [
        { name: 'start', command: sh('echo "{\\"greeting\\": \\"hi\\"}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'hello', timeout: { minutes: 5 } },
        { name: 'hello', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"'), next: 'end' },
        { name: 'end', command: sh('echo done') },
      ],
    });
    expect(r.record.status).toBe('succeeded');
    const defs = fake.inputs(RegisterJobDefinitionCommand);
    expect(defs.map((d) => d.jobDefinitionName)).toEqual([expect.stringMatching(/^metaflow_TestFlow-start-[0-9a-f]{12}$/), expect.stringMatching(/^metaflow_TestFlow-hello-/), expect.stringMatching(/^metaflow_TestFlow-end-/)]);
    expect(defs[0]).toMatchObject({
      type: 'container',
      platformCapabilities: ['EC2'],
      containerProperties: { image: IMAGE, jobRoleArn: settings.jobRoleArn, resourceRequirements: [{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '4096' }] },
      retryStrategy: { attempts: 4, evaluateOnExit: [{ onStatusReason: 'Host EC2*', action: 'RETRY' }, { onStatusReason: 'Your Spot Task was interrupted*', action: 'RETRY' }, { onStatusReason: '*', action: 'EXIT' }] },
      timeout: { attemptDurationSeconds: 300 },
      propagateTags: true,
    });
    expect(defs[1].timeout).toBeUndefined();
    expect(fake.submitted).toHaveLength(3);
    const [start, hello] = fake.submitted;
    expect(start).toMatchObject({
      jobName: `TestFlow-${r.record.runId}-start-0-a0`,
      jobQueue: QUEUE_ARN,
      jobDefinition: `arn:jd/${defs[0].jobDefinitionName}:1`,
      propagateTags: true,
      tags: { 'metaflow.flow': 'TestFlow', 'metaflow.run_id': r.record.runId, 'metaflow.step': 'start', 'metaflow.task_id': '0', 'metaflow.attempt': '0' },
    });
    expect(start.arrayProperties).toBeUndefined();
    expect(start.dependsOn).toBeUndefined();
    expect(env(hello)).toMatchObject({
      MF_FLOW: 'TestFlow',
      MF_RUN_ID: r.record.runId,
      MF_STEP: 'hello',
      MF_TASK_ID: '0',
      MF_RETRY_COUNT: '0',
      MF_INPUT_PATHS: `TestFlow/${r.record.runId}/start/0`,
      // the task runtime's I/O: the input's committed outputs, the attempt's output key, the code
      MF_DATASTORE_URL: 's3://mf-data/metaflow',
      MF_FETCH_KEYS: `TestFlow/${r.record.runId}/start/0/`,
      MF_OUTPUT_KEY: `TestFlow/${r.record.runId}/hello/0/attempt-0`,
      MF_CODE_URL: packages.get('TestFlow'),
    });
    // the container's root and output dir are the runtime's to set (a mirror in the container)
    expect(env(hello).MF_DATASTORE_ROOT).toBeUndefined();
    expect(env(hello).MF_OUTPUT_DIR).toBeUndefined();
    // one container, the loader with the step's argv in the definition; the overrides carry only environment
    expect(defs[1].containerProperties!.command).toEqual(loaderCommand(sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"')));
    expect(Object.keys(hello.containerOverrides!)).toEqual(['environment']);
    expect(await bucket.get(`TestFlow/${r.record.runId}/start/0/outputs.json`)).toBe('{"greeting": "hi"}\n');
    // started/finished carry the job id and the log stream; lines are tailed from CloudWatch
    const hello0 = r.task('hello/0').attempts[0];
    expect(hello0.externalId).toBe('job-2');
    expect(hello0.logRef).toBe('metaflow/default/job-2-0');
    expect(r.events.filter((e) => e.type === 'task-log' && e.task.step === 'hello').map((e) => (e as { line: string }).line)).toEqual(['{"greeting": "hi"}']);
    expect(r.layer.summary()[0]).toMatch(/^AWS API calls: \d+ \(.*DescribeJobQueues 1.*RegisterJobDefinition 3, SubmitJob 3\)/);
    // the counts printed at the end are kept in the run record, and `show` prints them
    const stored = (await r.datastore.readRun(r.record.runId))!;
    expect(stored.apiCalls).toMatchObject({ DescribeJobQueues: 1, DescribeComputeEnvironments: 1, RegisterJobDefinition: 3, SubmitJob: 3, DescribeJobs: expect.any(Number), GetLogEvents: expect.any(Number) });
    expect(formatRun(stored)).toMatch(/\n {2}AWS API calls: \d+ \(DescribeComputeEnvironments 1, DescribeJobDefinitions 3, DescribeJobQueues 1, DescribeJobs \d+, GetLogEvents \d+, RegisterJobDefinition 3, SubmitJob 3\)\n/);
  });

  test('a 20-way foreach with two body steps: ONE array job per step, N_TO_N, the child contract derived in the container', async () => {
    const r = await run({
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 20 }, (_, i) => `item-${i}`) }, next: 'a' },
        { name: 'a', command: sh('printf "{\\"v\\": \\"%s-%s\\"}" "$MF_FOREACH_ITEM" "$MF_TASK_ID" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'b', resources: { memory: 1024 } },
        { name: 'b', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
        { name: 'join', join: true, command: sh('echo joined'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    }, { logMode: 'none' });
    expect(r.record.status).toBe('succeeded');
    const steps = fake.submitted.map((s) => s.tags!['metaflow.step']);
    expect(steps).toEqual(['start', 'a', 'b', 'join', 'end']);
    const a = fake.submitted[1];
    const b = fake.submitted[2];
    expect(a.arrayProperties).toEqual({ size: 20 });
    expect(a.jobName).toBe(`TestFlow-${r.record.runId}-a-0_19-a0`);
    expect(a.tags).toMatchObject({ 'metaflow.task_id': '0_19', 'metaflow.attempt': '0' });
    expect(a.dependsOn).toBeUndefined();
    expect(b.arrayProperties).toEqual({ size: 20 });
    expect(b.dependsOn).toEqual([{ jobId: 'job-2', type: 'N_TO_N' }]);
    expect(a.containerOverrides!.command).toBeUndefined();
    expect(env(a)).toMatchObject({ MF_ARRAY_INDEX_OFFSET: '0', MF_RETRY_COUNT: '0', MF_TASK_ID_PREFIX: '', MF_FOREACH_COUNT: '20', MF_FOREACH_ITEMS_FILE: `TestFlow/${r.record.runId}/start/0/foreach-items.jsonl` });
    // b's children wait for a's child of the same index to be committed, then mirror its outputs
    expect(env(b)).toMatchObject({ MF_INPUT_PATHS: `TestFlow/${r.record.runId}/a/{taskId}`, MF_WAIT_KEYS: `TestFlow/${r.record.runId}/a/{taskId}/status.json` });
    expect(env(b).MF_FETCH_KEYS).toContain(`TestFlow/${r.record.runId}/a/{taskId}/`);
    expect(await r.outputs('b/17')).toEqual({ v: 'item-17-17' });
    expect(await r.outputs('a/0')).toEqual({ v: 'item-0-0' });
    expect(r.task('a/7').attempts[0].externalId).toBe('job-2:7');
    expect(r.task('b/19').attempts[0].externalId).toBe('job-3:19');
  });

  test('user retry: a new plain job for the failed child with the next MF_RETRY_COUNT; then catch', async () => {
    fake.script = (step, index) => (step === 'a' && index === 2 ? { exitCode: 3, statusReason: 'Essential container in task exited' } : undefined);
    const r = await run({
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: [0, 1, 2, 3] }, next: 'a' },
        { name: 'a', command: sh('true'), retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'err' }, next: 'join' },
        { name: 'join', join: true, command: sh('echo "$MF_CATCH_err"'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    }, { logMode: 'failed' });
    expect(r.record.status).toBe('succeeded');
    const retry = fake.submitted.find((s) => s.tags!['metaflow.attempt'] === '1')!;
    expect(retry.arrayProperties).toBeUndefined();
    expect(retry.jobName).toBe(`TestFlow-${r.record.runId}-a-2-a1`);
    expect(env(retry)).toMatchObject({ MF_RETRY_COUNT: '1', MF_TASK_ID: '2', MF_FOREACH_INDEX: '2', MF_FOREACH_ITEM: '2', MF_ARRAY_INDEX_OFFSET: '2' });
    expect(r.task('a/2').status).toBe('caught');
    expect(r.task('a/2').attempts.map((a) => a.externalId)).toEqual(['job-2:2', retryJobId(retry)]);
    expect(r.task('a/2').attempts.map((a) => [a.status, a.exitCode, a.reason])).toEqual([
      ['failed', 3, 'exit code 3: Essential container in task exited'],
      ['failed', 3, 'exit code 3: Essential container in task exited'],
    ]);
  });

  test.each<[string, Scripted, string, RegExp]>([
    ['OOM', { exitCode: 137, reason: 'OutOfMemoryError: Container killed due to memory usage', statusReason: 'Essential container in task exited' }, 'failed', /ran out of memory \(limit 1024 MiB\).*raise resources.memory above 1024 MiB/],
    ['CannotPullContainer', { reason: 'CannotPullContainerError: pull image manifest has been retried 1 time(s): not found', statusReason: 'Task failed to start' }, 'failed', /image could not be pulled.*another attempt pulls the same image/],
    ['attempt timeout', { statusReason: 'Job attempt duration exceeded timeout' }, 'timeout', /^timed out: Job attempt duration exceeded timeout/],
  ])('%s: a clear reason on the attempt, the last log lines after the failure', async (_name, scripted, status, reason) => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    fake.script = (step) => (step === 'start' ? { ...scripted, lines } : undefined);
    const r = await run({ steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] }, { logMode: 'failed' });
    expect(r.record.status).toBe('failed');
    const attempt = r.task('start/0').attempts[0];
    expect(attempt.status).toBe(status);
    expect(attempt.reason).toMatch(reason);
    // --logs failed: nothing streamed while it ran, the last 20 lines after it failed
    const shown = r.events.flatMap((e) => (e.type === 'task-log' ? [e.line] : []));
    expect(shown).toEqual(lines.slice(10));
  });

  test('CannotPullContainer spends none of the step\'s retries: one job, catch still applies, the record and show say why', async () => {
    fake.script = (step) => (step === 'start' ? { reason: 'CannotPullContainerError: pull image manifest has been retried 1 time(s): not found', statusReason: 'Task failed to start' } : undefined);
    const r = await run({ steps: [{ name: 'start', command: sh('true'), retry: { times: 2, minutesBetweenRetries: 0 }, catch: { var: 'err' }, next: 'end' }, { name: 'end', command: sh('true') }] }, { logMode: 'none' });
    expect(fake.submitted.filter((s) => s.tags!['metaflow.step'] === 'start')).toHaveLength(1);
    expect(r.record.status).toBe('succeeded');
    const task = r.task('start/0');
    expect(task.status).toBe('caught');
    expect(task.attempts).toMatchObject([{ attempt: 0, status: 'failed', retryable: false }]);
    expect(task.caught!.message).toMatch(/^step start\/0 failed: the image could not be pulled: CannotPullContainerError.*\(another attempt pulls the same image\) \(not retried: another attempt cannot succeed; 2 retries left unused\)$/);
    expect(formatRun(r.record)).toMatch(/caught: start\/0 after 1 attempt\(s\): the image could not be pulled.*\(not retried: another attempt cannot succeed\)\n/);
  });

  test('a spot reclaim Batch retried: the attempt succeeds, the retry is counted in the record and said', async () => {
    fake.script = (step) => (step === 'start' ? { run: true, attemptsBefore: [{ statusReason: 'Host EC2 (instance i-0abc) terminated.', container: { logStreamName: 'old' } }] } : undefined);
    const r = await run({ steps: [{ name: 'start', command: sh('echo ok'), next: 'end' }, { name: 'end', command: sh('true') }] });
    expect(r.record.status).toBe('succeeded');
    const attempt = r.task('start/0').attempts[0];
    expect(attempt.infrastructureRetries).toBe(1);
    expect(attempt.reason).toBe('exit code 0 (Batch retried it 1 time after losing the host: Host EC2 (instance i-0abc) terminated.)');
    expect(formatRun(r.record)).toContain('\nhost losses retried by AWS Batch (not user retries): start/0#0 ×1\n');
    expect(r.notices).toContain('[start/0#0] info: AWS Batch ran it again after losing its host (spot reclaim or host loss): Host EC2 (instance i-0abc) terminated.');
  });

  test('a running array child is reported started with its log stream, and its log is tailed while it runs', async () => {
    fake.script = (step, index) => (step === 'a' && index === 1 ? { hang: true, lines: ['working on 1'] } : undefined);
    let timer: NodeJS.Timeout | undefined;
    const r = await run(
      {
        steps: [
          { name: 'start', command: sh('true'), foreach: { items: [0, 1, 2] }, next: 'a' },
          { name: 'a', command: sh('true'), next: 'join' },
          { name: 'join', join: true, command: sh('true'), next: 'end' },
          { name: 'end', command: sh('true') },
        ],
      },
      {
        abortAfter: (events, abort) => {
          timer ??= setTimeout(abort, 5000); // the old watcher never reports the child: give up, fail below
          if (events.some((e) => e.type === 'task-log' && e.line === 'working on 1')) abort();
        },
      },
    );
    clearTimeout(timer);
    const started = r.events.find((e) => e.type === 'task-started' && e.task.step === 'a' && e.task.taskId === '1');
    expect(started).toMatchObject({ start: { externalId: 'job-2:1', logRef: 'metaflow/default/job-2-1' } });
    expect(r.events.some((e) => e.type === 'task-log' && e.task.taskId === '1' && e.line === 'working on 1')).toBe(true);
    // it was running, not queued, when the run was stopped
    expect(r.task('a/1').attempts[0]).toMatchObject({ status: 'cancelled', externalId: 'job-2:1', logRef: 'metaflow/default/job-2-1' });
    expect(r.task('a/1').attempts[0].startedAt).toBeDefined();
    expect(r.layer.calls.snapshot().ListJobs).toBeGreaterThanOrEqual(1);
  });

  test('Ctrl-C during the run: every job not finished is terminated, attempts cancelled, said', async () => {
    fake.script = (step) => (step === 'a' ? { hang: true } : undefined);
    let abortNow: (() => void) | undefined;
    fake.onSubmit = (input) => {
      if (input.tags!['metaflow.step'] === 'a') setTimeout(() => abortNow?.(), 100);
    };
    const r = await run(
      {
        steps: [
          { name: 'start', command: sh('true'), foreach: { items: [1, 2, 3] }, next: 'a' },
          { name: 'a', command: sh('true'), next: 'join' },
          { name: 'join', join: true, command: sh('true'), next: 'end' },
          { name: 'end', command: sh('true') },
        ],
      },
      { abortAfter: (_e, abort) => (abortNow = abort) },
    );
    expect(r.record.status).toBe('interrupted');
    expect(fake.terminated).toEqual(['job-2']);
    expect(r.layer.termination!.terminated).toEqual(['job-2']);
    expect(r.notices).toContain('terminated 1 AWS Batch job: job-2');
    expect(['a/0', 'a/1', 'a/2'].map((p) => r.task(p).status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  test("Ctrl-C: TerminateJob stops the container as ECS does, the SIGTERM reaches the step's command through the runtime, what it wrote is uploaded", async () => {
    const r = await run(
      { steps: [{ name: 'start', command: sh('echo before > "$MF_OUTPUT_DIR/before.txt"; trap \'echo "got TERM"; exit 143\' TERM; echo ready; sleep 600 & wait'), next: 'end' }, { name: 'end', command: sh('true') }] },
      { abortAfter: (events, abort) => events.some((e) => e.type === 'task-log' && e.line === 'ready') && abort() },
    );
    expect(r.record.status).toBe('interrupted');
    expect(fake.terminated).toEqual(['job-1']);
    // the container goes on after TerminateJob returned: its trap runs, the runtime uploads and exits 143
    const key = `TestFlow/${r.record.runId}/start/0/attempt-0/before.txt`;
    for (let i = 0; i < 300 && (await bucket.get(key)) === undefined; i += 1) await new Promise((res) => setTimeout(res, 100));
    expect(await bucket.get(key)).toBe('before\n');
    for (let i = 0; i < 300 && !fake.streams.get('metaflow/default/job-1-0')!.includes('got TERM'); i += 1) await new Promise((res) => setTimeout(res, 100));
    expect(fake.streams.get('metaflow/default/job-1-0')).toEqual(['ready', 'got TERM']);
  }, 60_000);

  test('a second Ctrl-C (forceStop): TerminateJob sent at once without waiting, the jobs left listed', async () => {
    fake.script = (step) => (step === 'start' ? { hang: true } : undefined);
    const notices: string[] = [];
    const flow = defineFlow({ name: 'TestFlow', image: IMAGE, steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] });
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const layer = makeLayer(notices);
    await layer.lookUp(v.graph);
    const abort = new AbortController();
    const running = runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock: fakeClock(), signal: abort.signal });
    while (layer.jobsLeft().length === 0) await new Promise((r) => setTimeout(r, 5));
    layer.forceStop();
    expect(notices).toEqual(['quitting at once; TerminateJob sent but not confirmed for 1 job: job-1']);
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.terminated).toEqual(['job-1']);
    abort.abort();
    expect((await running).status).toBe('interrupted');
  });

  test('Ctrl-C during submission: the job being submitted is terminated too', async () => {
    let abortNow: (() => void) | undefined;
    fake.onSubmit = (input) => {
      if (input.tags!['metaflow.step'] === 'start') abortNow?.();
    };
    const r = await run({ steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] }, { abortAfter: (_e, abort) => (abortNow = abort) });
    expect(r.record.status).toBe('interrupted');
    expect(fake.terminated).toEqual(['job-1']);
    expect(r.task('start/0').status).toBe('cancelled');
    expect(fake.submitted).toHaveLength(1);
  });

  test('a step running node in python:3.12-slim fails as it would on AWS: exit 127, the runtime says the command is not in the image', async () => {
    const r = await run({ steps: [{ name: 'start', command: ['node', '-e', 'console.log(1)'], next: 'end' }, { name: 'end', command: sh('true') }] }, { logMode: 'failed' });
    expect(r.record.status).toBe('failed');
    expect(r.task('start/0').attempts[0]).toMatchObject({ status: 'failed', exitCode: 127 });
    const shown = r.events.flatMap((e) => (e.type === 'task-log' ? [e.line] : []));
    expect(shown).toContainEqual(expect.stringMatching(/^metaflow-cdk: node: command not found in this image \(PATH=\/usr\/local\/bin:/));
    expect(fake.submitted.map((s) => s.tags!['metaflow.step'])).toEqual(['start']);
  });

  test('check: GPU steps go to the GPU queue, a step may name its own queue, queue problems are one line each', async () => {
    fake = (fake.restore(), new FakeBatch('EC2', { off: { state: 'DISABLED' } }));
    const flow = defineFlow({
      name: 'Q',
      image: IMAGE,
      steps: [
        { name: 'start', command: ['true'], resources: { gpu: 1 }, next: 'a' },
        { name: 'a', command: ['true'], batch: { queue: 'off' }, next: 'b' },
        { name: 'b', command: ['true'], batch: { queue: 'missing' }, timeout: { seconds: 10 }, next: 'end' },
        { name: 'end', command: ['echo', ''], resources: { cpu: 0.5 } },
      ],
    });
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const layer = makeLayer([]);
    expect(layer.check(v.graph)).toEqual(['the Batch layer looks its queues up first (call lookUp(graph) before check)']);
    await layer.lookUp(v.graph);
    expect(layer.check(v.graph)).toEqual([
      'step "a": job queue "off" is DISABLED',
      'step "b": job queue "missing" does not exist',
      'step "end": resources.cpu must be a whole number of vCPUs on EC2 (fractions only on Fargate), got 0.5',
      'step "end": command argument 2 is an empty string, which AWS Batch refuses (leave it out, or pass the value through env)',
    ]);
    expect(layer.description).toBe('AWS Batch, queues metaflow, gpu, missing, off');
    expect(GPU_QUEUE_ARN).toContain('gpu');
  });

  test('flow validation: a step\'s batch options are an object of known fields', () => {
    const flow = (batch: unknown) => defineFlow({ name: 'V', image: IMAGE, steps: [{ name: 'start', command: ['true'], batch: batch as never, next: 'end' }, { name: 'end', command: ['true'] }] });
    expect(validateFlow(flow({ queu: 'x' }))).toMatchObject({ ok: false, problems: ['step "start" batch: unknown field "queu" (did you mean "queue"?)'] });
    expect(validateFlow(flow('q'))).toMatchObject({ ok: false, problems: ['step "start": batch must be an object, got "q"'] });
    expect(validateFlow(flow({ queue: 'q', tags: { team: 'ml' } })).ok).toBe(true);
  });
});

describe('BatchComputeLayer under throttling', () => {
  test('TooManyRequestsException twice on every Batch operation: absorbed by the SDK retry strategy, the run succeeds', async () => {
    let jobs = 0;
    const now = Date.now();
    const http = throttlingHandler(2, (p, body) => {
      switch (p) {
        case '/v1/describejobqueues':
          return { jobQueues: [{ jobQueueName: 'metaflow', jobQueueArn: QUEUE_ARN, state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }] }] };
        case '/v1/describecomputeenvironments':
          return { computeEnvironments: [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', state: 'ENABLED', status: 'VALID', computeResources: { type: 'EC2' } }] };
        case '/v1/describejobdefinitions':
          return { jobDefinitions: [] };
        case '/v1/registerjobdefinition':
          return { jobDefinitionName: body.jobDefinitionName, jobDefinitionArn: `arn:jd/${String(body.jobDefinitionName)}:1`, revision: 1 };
        case '/v1/submitjob':
          return { jobId: `job-${++jobs}`, jobName: body.jobName, jobArn: `arn:job-${jobs}` };
        case '/v1/describejobs':
          return { jobs: (body.jobs as string[]).map((jobId) => ({ jobId, jobName: jobId, jobQueue: QUEUE_ARN, jobDefinition: 'd', status: 'SUCCEEDED', startedAt: now, stoppedAt: now + 1, container: { exitCode: 0 } })) };
        default:
          throw new Error(`unexpected ${p}`);
      }
    });
    fake.restore(); // real clients below, with the fake HTTP transport
    const options = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, retryMode: 'standard' as const };
    const clients = new AwsClients({ ...options, requestHandler: http });
    const flow = defineFlow({ name: 'T', image: IMAGE, steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }] });
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const layer = new BatchComputeLayer({ settings, codePackageUrl: packages.get('T'), batch: clients.batch, logs: clients.logs, logMode: 'none', watcher: { minIntervalMs: 5 } });
    await layer.lookUp(v.graph);
    expect(layer.check(v.graph)).toEqual([]);
    const record = await runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock: fakeClock() });
    expect(record.status).toBe('succeeded');
    // every operation: two throttled requests, then its logical calls
    expect(Object.fromEntries(http.requests)).toEqual({
      '/v1/describejobqueues': 3,
      '/v1/describecomputeenvironments': 3,
      '/v1/describejobdefinitions': 4,
      '/v1/registerjobdefinition': 4,
      '/v1/submitjob': 4,
      '/v1/describejobs': 4,
    });
    expect(layer.calls.snapshot()).toEqual({ DescribeComputeEnvironments: 1, DescribeJobDefinitions: 2, DescribeJobQueues: 1, DescribeJobs: 2, RegisterJobDefinition: 2, SubmitJob: 2 });
    clients.destroy();
  });
});

test('a foreach of ONE child: a plain job (no array of one), its id without a child suffix', async () => {
  const fakeOne = fake;
  const r = await run({
    steps: [
      { name: 'start', command: sh('true'), foreach: { items: ['only'] }, next: 'a' },
      { name: 'a', command: sh('printf "{\\"item\\": \\"%s\\"}" "$MF_FOREACH_ITEM" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
      { name: 'join', join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ],
  });
  expect(r.record.status).toBe('succeeded');
  const a = fakeOne.submitted.find((s) => s.tags!['metaflow.step'] === 'a')!;
  expect(a.arrayProperties).toBeUndefined();
  expect(r.task('a/0').attempts[0].externalId).toBe('job-2');
  expect(await r.outputs('a/0')).toEqual({ item: 'only' });
});

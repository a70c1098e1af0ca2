/**
 * The same flows under `metaflow-cdk run` on AWS Batch (the Batch layer against the simulated
 * Batch, test/runner/batch/fake-batch.ts) and compiled for Step Functions (aws-local-stepfunctions
 * with every job played by batch-task-player.ts), each job in its image's root-filesystem
 * stand-in with S3 on moto_server — and their run records compared task by task: the run's
 * status, each task's status, its attempts' statuses and its caught failure (step, task, exit
 * code, reason, attempts), and what the steps after a catch saw in MF_CATCH_<var>. Differences
 * are bugs or are listed in docs/step-functions.md ("Differences from `run`").
 *
 * Time is scaled on both sides: `run` sleeps on a fake clock and its Batch ends a timed-out
 * attempt by script; on Step Functions ASL retry intervals are 0, the runtime's own retry delays
 * are real (0.6 s), and a 60 s attempt timeout is played as 1 s (the player rewrites
 * MF_ATTEMPT_TIMEOUT_SECONDS) with the command sleeping past it.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import type { RunRecord } from '../../../runner/datastore/types';
import type { FlowSpec } from '../../../runner/flow/model';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { useMotoBucket } from '../../support/moto-bucket';
import { motoDatastore, storeTestCodePackage } from '../batch/code-package-fixture';
import { FakeBatch, type Scripted } from '../batch/fake-batch';
import { fakeClock } from '../support/harness';
import { BatchTaskPlayer } from './batch-task-player';
import { compileValid, graphOf, runMachine, sh, storeCodePackage } from './compiler-support';

const BUCKET = 'mf-bucket';
const IMAGE = 'public.ecr.aws/docker/library/python:3.12-slim';
const TIMED_OUT: Scripted = { statusReason: 'Job attempt duration exceeded timeout' };
/** What a step after a catch writes: the value it saw. */
const SEEN = (v: string) => sh(`printf '{"seen": %s}' "$MF_CATCH_${v}" > "$MF_OUTPUT_DIR/outputs.json"`);

interface Case {
  readonly flow: FlowSpec;
  /** `run`'s Batch ends these attempts as timed out (the Step Functions side's command sleeps past its timeout). */
  readonly timeouts?: readonly (readonly [step: string, index: number, attempt: number])[];
  /** Tasks whose outputs.json is compared (what they saw of a caught failure). */
  readonly seen?: readonly string[];
  /** What the flow is there for, as `run` recorded it (so that both sides agreeing is not both being empty). */
  readonly expected: Record<string, { status: string; attempts: string[] }>;
}

const CASES: Record<string, Case> = {
  'catch in foreach': {
    flow: {
      name: 'ParCatchIn',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: [10, 20, 30] }, next: 'body' },
        // child 1 fails both attempts: caught; the others succeed
        { name: 'body', command: sh('[ "$MF_FOREACH_INDEX" != 1 ] || exit 3'), retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'bad' }, next: 'after' },
        { name: 'after', command: SEEN('bad'), next: 'join' },
        { name: 'join', join: true, command: SEEN('bad'), next: 'end' },
        { name: 'end', command: SEEN('bad') },
      ],
    },
    seen: ['after/0', 'after/1', 'join/0', 'end/0'],
    expected: { 'body/0': { status: 'succeeded', attempts: ['succeeded'] }, 'body/1': { status: 'caught', attempts: ['failed', 'failed'] }, 'after/1': { status: 'succeeded', attempts: ['succeeded'] } },
  },
  'nested foreach': {
    flow: {
      name: 'ParNested',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: ['a', 'b'] }, next: 'outer' },
        { name: 'outer', command: sh('echo \'{"parts": [1, 2]}\' > "$MF_OUTPUT_DIR/outputs.json"'), foreach: { output: 'parts' }, next: 'inner' },
        // task 1_0 fails its first attempt only; 1_1 fails both: caught
        { name: 'inner', command: sh('[ "$MF_TASK_ID/$MF_RETRY_COUNT" != 1_0/0 ] && [ "$MF_TASK_ID" != 1_1 ] || exit 4'), retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'ic' }, next: 'innerjoin' },
        { name: 'innerjoin', join: true, command: SEEN('ic'), next: 'outerjoin' },
        { name: 'outerjoin', join: true, command: SEEN('ic'), next: 'end' },
        { name: 'end', command: SEEN('ic') },
      ],
    },
    seen: ['innerjoin/0', 'innerjoin/1', 'outerjoin/0', 'end/0'],
    expected: {
      'inner/1_0': { status: 'succeeded', attempts: ['failed', 'succeeded'] },
      'inner/1_1': { status: 'caught', attempts: ['failed', 'failed'] },
      'inner/0_1': { status: 'succeeded', attempts: ['succeeded'] },
      'outerjoin/0': { status: 'succeeded', attempts: ['succeeded'] },
    },
  },
  'retry with delay': {
    flow: {
      name: 'ParDelay',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), next: 'flaky' },
        { name: 'flaky', command: sh('[ "$MF_RETRY_COUNT" = 2 ] || exit 5'), retry: { times: 2, minutesBetweenRetries: 0.01 }, next: 'fan' },
        { name: 'fan', command: sh('true'), foreach: { items: [1, 2] }, next: 'body' },
        // child 0 fails twice, then succeeds; child 1 at once
        { name: 'body', command: sh('[ "$MF_FOREACH_INDEX" = 1 ] || [ "$MF_RETRY_COUNT" = 2 ] || exit 6'), retry: { times: 2, minutesBetweenRetries: 0.01 }, next: 'join' },
        { name: 'join', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    },
    expected: { 'flaky/0': { status: 'succeeded', attempts: ['failed', 'failed', 'succeeded'] }, 'body/0': { status: 'succeeded', attempts: ['failed', 'failed', 'succeeded'] }, 'body/1': { status: 'succeeded', attempts: ['succeeded'] } },
  },
  timeouts: {
    flow: {
      name: 'ParTimeout',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), next: 'slow' },
        // the first attempt runs past the timeout, the retry does not
        { name: 'slow', command: sh('[ "$MF_RETRY_COUNT" != 0 ] || sleep 30'), timeout: { seconds: 60 }, retry: { times: 1, minutesBetweenRetries: 0 }, next: 'fan' },
        { name: 'fan', command: sh('true'), foreach: { items: [1, 2] }, next: 'body' },
        // child 1 runs past the timeout on both attempts: caught as a timeout
        { name: 'body', command: sh('[ "$MF_FOREACH_INDEX" != 1 ] || sleep 30'), timeout: { seconds: 60 }, retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'late' }, next: 'join' },
        { name: 'join', join: true, command: SEEN('late'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    },
    timeouts: [
      ['slow', 0, 0],
      ['body', 1, 0],
      ['body', 1, 1],
    ],
    seen: ['join/0'],
    expected: { 'slow/0': { status: 'succeeded', attempts: ['timeout', 'succeeded'] }, 'body/1': { status: 'caught', attempts: ['timeout', 'timeout'] } },
  },
  'branch + catch': {
    flow: {
      name: 'ParBranch',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('true'), next: ['ok', 'failing'] },
        { name: 'ok', command: sh('true'), next: 'join' },
        { name: 'failing', command: sh('exit 3'), retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'err' }, next: 'join' },
        { name: 'join', join: true, command: SEEN('err'), next: 'end' },
        { name: 'end', command: SEEN('err') },
      ],
    },
    seen: ['join/0', 'end/0'],
    expected: { 'failing/0': { status: 'caught', attempts: ['failed', 'failed'] }, 'ok/0': { status: 'succeeded', attempts: ['succeeded'] } },
  },
  'empty foreach': {
    flow: {
      name: 'ParEmpty',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('echo \'{"items": []}\' > "$MF_OUTPUT_DIR/outputs.json"'), foreach: { output: 'items' }, next: 'body' },
        { name: 'body', command: sh('true'), next: 'join' },
        { name: 'join', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    },
    expected: { 'start/0': { status: 'failed', attempts: ['failed'] } },
  },
  'empty foreach, caught': {
    flow: {
      name: 'ParEmptyCaught',
      image: IMAGE,
      steps: [
        { name: 'start', command: sh('echo \'{"items": []}\' > "$MF_OUTPUT_DIR/outputs.json"'), foreach: { output: 'items' }, retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'none' }, next: 'body' },
        { name: 'body', command: sh('true'), next: 'join' },
        { name: 'join', join: true, command: SEEN('none'), next: 'end' },
        { name: 'end', command: SEEN('none') },
      ],
    },
    seen: ['join/0', 'end/0'],
    expected: { 'start/0': { status: 'caught', attempts: ['failed', 'failed'] }, 'join/0': { status: 'succeeded', attempts: ['succeeded'] } },
  },
};

/** What is compared of a run record. */
function view(run: RunRecord) {
  const tasks = [...run.tasks].sort((a, b) => `${a.step}/${a.taskId}`.localeCompare(`${b.step}/${b.taskId}`));
  return {
    status: run.status,
    tasks: tasks.map((t) => ({
      task: `${t.step}/${t.taskId}`,
      status: t.status,
      attempts: t.attempts.map((a) => a.status),
      caught: t.caught && { step: t.caught.step, taskId: t.caught.taskId, exitCode: t.caught.exitCode, statusReason: t.caught.statusReason, attempts: t.caught.attempts },
    })),
  };
}

/** A caught failure as compared (its message's wording is each layer's own). */
const withoutMessages = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(withoutMessages) : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'message').map(([k, v]) => [k, withoutMessages(v)])) : value;

describeWithTool('moto_server', 'the same flows under `run` (simulated Batch) and on Step Functions (the player): the run records match task by task', () => {
  const moto = useMotoBucket(BUCKET, 'metaflow');
  beforeAll(() => storeCodePackage(moto));
  let n = 0;

  const read = async (key: string) => {
    try {
      return await (await moto.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
    } catch (e) {
      if ((e as Error).name === 'NoSuchKey') return undefined;
      throw e;
    }
  };

  /** `metaflow-cdk run --compute batch` on the simulated Batch, in its own datastore prefix. */
  async function underRun(c: Case) {
    const fake = new FakeBatch('EC2', {}, moto.endpoint);
    try {
      fake.script = (step, index, attempt) => (c.timeouts?.some(([s, i, a]) => s === step && i === index && a === attempt) ? TIMED_OUT : undefined);
      const graph = graphOf(c.flow);
      const prefix = `run${++n}`;
      const datastore = motoDatastore(moto.endpoint, BUCKET, prefix);
      const codePackageUrl = await storeTestCodePackage(datastore, c.flow.name);
      const layer = new BatchComputeLayer({
        settings: { queue: 'metaflow', gpuQueue: 'metaflow', jobRoleArn: 'arn:aws:iam::123456789012:role/job', executionRoleArn: 'arn:aws:iam::123456789012:role/exec', datastoreRoot: { bucket: BUCKET, prefix, url: `s3://${BUCKET}/${prefix}` } },
        codePackageUrl,
        batch: new BatchClient({ region: 'us-east-1' }),
        logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
        logMode: 'none',
        watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
        notice: () => undefined,
      });
      await layer.lookUp(graph);
      const record = await runFlow({ graph, layer, datastore, parameters: {}, clock: fakeClock() });
      return { record, outputs: (task: string) => read(`${prefix}/${c.flow.name}/${record.runId}/${task}/outputs.json`) };
    } finally {
      fake.restore();
    }
  }

  /** The compiled machine in aws-local-stepfunctions, its record read back from the datastore. */
  async function onStepFunctions(c: Case) {
    const compiled = compileValid(graphOf(c.flow));
    const batch = new BatchTaskPlayer(compiled, moto.endpoint, undefined, { MF_ATTEMPT_TIMEOUT_SECONDS: '1', MF_STOP_GRACE_SECONDS: '1' });
    const execution = `parity-${c.flow.name}`;
    await runMachine(
      compiled,
      {},
      {
        submitJob: (state, params) => batch.submitJob(state, params),
        getObject: async (_bucket, key) => read(key),
        putObject: async (Bucket, Key, Body) => void (await moto.s3.send(new PutObjectCommand({ Bucket, Key, Body }))),
      },
      execution,
    );
    const record = await motoDatastore(moto.endpoint, BUCKET, 'metaflow').readRun(execution);
    if (!record) throw new Error(`no run record of ${execution}\n${batch.log()}`);
    return { record, batch, outputs: (task: string) => read(`metaflow/${c.flow.name}/${execution}/${task}/outputs.json`) };
  }

  test.each(Object.keys(CASES))('%s', async (name) => {
    const c = CASES[name];
    const run = await underRun(c);
    const byTask = new Map(view(run.record).tasks.map((t) => [t.task, { status: t.status, attempts: t.attempts }]));
    for (const [task, want] of Object.entries(c.expected)) expect([task, byTask.get(task)]).toEqual([task, want]);
    const sfn = await onStepFunctions(c);
    expect({ log: sfn.batch.log(), ...view(sfn.record) }).toEqual({ log: sfn.batch.log(), ...view(run.record) });
    for (const task of c.seen ?? []) {
      const [a, b] = [await run.outputs(task), await sfn.outputs(task)];
      expect([task, withoutMessages(b && JSON.parse(b))]).toEqual([task, withoutMessages(a && JSON.parse(a))]);
      expect(a).toBeDefined();
    }
    // the delay between a body child's attempts is slept in its container
    if (name === 'retry with delay') expect(sfn.batch.log('body')).toContain('body: metaflow-cdk: attempt 0 of body/0 failed: retrying in 0.6s (attempt 1)');
  }, 120_000);
});

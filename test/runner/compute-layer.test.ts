import { AttemptListener, ComputeLayer, LayerContext, TaskGroup } from '../../runner/compute/types';
import { AttemptRef, cachedChildReads, childEnvironment, childTaskId, ENV_BUDGET_BYTES, environmentBytes } from '../../runner/contract';
import { LocalDatastore } from '../../runner/datastore/local';
import { defineFlow, FlowSpec } from '../../runner/flow/model';
import { validateFlow } from '../../runner/flow/validate';
import { LayerCheckError, runFlow } from '../../runner/orchestrator/orchestrator';
import { formatRun } from '../../runner/cli/commands/show';
import { fakeClock, tempDir } from './support/harness';

/** `unretryable`: failed, and the layer says another attempt cannot succeed (`retryable: false`). */
type Outcome = 'succeeded' | 'failed' | 'unretryable';

/** A layer that runs nothing: it records what it was given and answers like Batch would. */
class RecordingLayer implements ComputeLayer {
  readonly name = 'recording';
  readonly description = 'recording';
  readonly submissions: { groupId: string; children: string[]; follows?: string }[] = [];
  readonly groups: TaskGroup[] = [];
  context!: LayerContext;
  constructor(
    private readonly outcome: (a: AttemptRef) => Outcome,
    private readonly twice = false,
    private readonly problems: string[] = [],
  ) {}
  check(): string[] {
    return this.problems;
  }
  open(context: LayerContext): void {
    this.context = context;
  }
  submit(group: TaskGroup): void {
    const t = group.template;
    this.groups.push(group);
    this.submissions.push({ groupId: t.groupId, children: group.children.map((c) => `${childTaskId(t, c.index)}#${c.attempt}`), follows: group.follows });
    const listener: AttemptListener = this.context.listener;
    setImmediate(() => {
      for (const c of group.children) {
        const a: AttemptRef = { flow: t.flow, runId: t.runId, step: t.step, taskId: childTaskId(t, c.index), attempt: c.attempt };
        listener.started(a, { at: Date.now(), externalId: `job-${t.groupId}:${c.index}`, logRef: `stream/${t.groupId}/${c.index}` });
        const said = this.outcome(a);
        const outcome = said === 'unretryable' ? 'failed' : said;
        const result = { outcome, exitCode: outcome === 'succeeded' ? 0 : 1, reason: said, startedAt: Date.now(), finishedAt: Date.now(), externalId: `job-${t.groupId}:${c.index}`, ...(said === 'unretryable' ? { retryable: false } : {}) };
        listener.finished(a, result);
        // Batch may report a job twice (a poll and an event), and CloudWatch lines come late.
        if (this.twice) listener.finished(a, { ...result, outcome: 'failed', reason: 'duplicate' });
        listener.log(a, 'stdout', `late line of ${a.step}/${a.taskId}#${a.attempt}`);
      }
    });
  }
  async cancelAll(): Promise<void> {}
  forceStop(): void {}
}

const shape: FlowSpec = {
  name: 'Shape',
  image: 'repo/image:1',
  steps: [
    { name: 'start', command: ['x'], foreach: { items: [10, 'twenty', { n: 30 }] }, next: 'child' },
    { name: 'child', command: ['y'], image: 'repo/gpu:2', resources: { gpu: 1 }, retry: { times: 1, minutesBetweenRetries: 3 }, next: 'second' },
    { name: 'second', command: ['y2'], next: 'join' },
    { name: 'join', join: true, command: ['z'], next: 'end' },
    { name: 'end', command: ['w'] },
  ],
};

async function run(layer: RecordingLayer, spec: FlowSpec = shape) {
  const v = validateFlow(defineFlow(spec));
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const clock = fakeClock();
  const datastore = new LocalDatastore(tempDir());
  const record = await runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock });
  return { record, clock, datastore };
}

test('a fan-out reaches the layer as one template per body step, children differing only by index', async () => {
  // Child 1 fails its first attempt: only that child is resubmitted, alone, in the same group.
  const layer = new RecordingLayer((a) => (a.step === 'child' && a.taskId === '1' && a.attempt === 0 ? 'failed' : 'succeeded'));
  const { record, clock, datastore } = await run(layer);
  expect(record.status).toBe('succeeded');
  expect(record.compute).toBe('recording');
  const by = (id: string) => layer.submissions.filter((s) => s.groupId === id);
  expect(by('start')).toEqual([{ groupId: 'start', children: ['0#0'] }]);
  expect(by('child')).toEqual([
    { groupId: 'child', children: ['0#0', '1#0', '2#0'] },
    { groupId: 'child', children: ['1#1'] },
  ]);
  // The second body step is a group too, element-wise after the first (Batch N_TO_N).
  expect(by('second').flatMap((s) => s.children).sort()).toEqual(['0#0', '1#0', '2#0']);
  expect(by('second').every((s) => s.follows === 'child')).toBe(true);
  expect(clock.sleeps).toEqual([180_000]);

  // One template object for every submission of a group, with no per-child values in it.
  const childGroups = layer.groups.filter((g) => g.template.groupId === 'child');
  expect(new Set(childGroups.map((g) => g.template)).size).toBe(1);
  const template = childGroups[0].template;
  expect(template).toMatchObject({ image: 'repo/gpu:2', command: ['y'], policies: { resources: { cpu: 1, memory: 4096, gpu: 1 }, retries: 1 }, foreach: { taskIdPrefix: '', count: 3 } });
  for (const k of ['MF_TASK_ID', 'MF_FOREACH_INDEX', 'MF_FOREACH_ITEM', 'MF_RETRY_COUNT', 'MF_INPUT_PATHS']) expect(template.env[k]).toBeUndefined();
  expect(environmentBytes(template.env)).toBeLessThan(ENV_BUDGET_BYTES);

  // Each child's values derive from the index and the datastore (what a Batch container does).
  const reads = cachedChildReads((k) => datastore.get(k));
  const env2 = await childEnvironment(template, 2, 0, reads);
  expect(env2).toMatchObject({ MF_TASK_ID: '2', MF_FOREACH_INDEX: '2', MF_FOREACH_ITEM: '{"n":30}', MF_FOREACH_COUNT: '3', MF_RETRY_COUNT: '0', MF_INPUT_PATHS: `Shape/${record.runId}/start/0` });
  expect(env2.MF_FOREACH_ITEM_TEXT).toBeUndefined(); // an object item: JSON
  // A string item: its text, marked as text (so the helpers keep "twenty" or "007" as a string).
  expect(await childEnvironment(template, 1, 1, reads)).toMatchObject({ MF_FOREACH_ITEM: 'twenty', MF_FOREACH_ITEM_TEXT: '1' });
  const second = layer.groups.find((g) => g.template.groupId === 'second')!.template;
  expect((await childEnvironment(second, 1, 0, reads)).MF_INPUT_PATHS).toBe(`Shape/${record.runId}/child/1`);
  expect(layer.groups.find((g) => g.template.groupId === 'end')!.template.image).toBe('repo/image:1');
});

test('reports are idempotent and may come late; the layer ids are recorded with each attempt', async () => {
  const layer = new RecordingLayer(() => 'succeeded', true);
  const { record, datastore } = await run(layer);
  // A second terminal report changes nothing (it used to start the join with an input missing).
  expect(record.status).toBe('succeeded');
  expect(record.tasks.filter((t) => t.step === 'join')).toHaveLength(1);
  expect(record.tasks.every((t) => t.status === 'succeeded' && t.attempts.length === 1)).toBe(true);
  const child = record.tasks.find((t) => t.step === 'child' && t.taskId === '2')!;
  expect(child.attempts[0]).toMatchObject({ externalId: 'job-child:2', logRef: 'stream/child/2' });
  // A log line that came after `finished` is kept with its attempt.
  expect(await datastore.readLog({ flow: 'Shape', runId: record.runId, step: 'child', taskId: '2', attempt: 0 })).toBe('late line of child/2#0\n');
});

test("the layer's check refuses a flow before anything runs", async () => {
  const layer = new RecordingLayer(() => 'succeeded', false, ['step "child": timeout must be ≥ 60 s on Batch, got 5']);
  const root = tempDir();
  const v = validateFlow(defineFlow(shape));
  if (!v.ok) throw new Error();
  const datastore = new LocalDatastore(root);
  await expect(runFlow({ graph: v.graph, layer, datastore, parameters: {} })).rejects.toThrow(LayerCheckError);
  expect(layer.submissions).toEqual([]);
  expect((await datastore.listRuns()).runs).toEqual([]);
});

describe('a failure the layer marks not retryable (retryable: false)', () => {
  const spec = (extra: Partial<FlowSpec['steps'][number]>): FlowSpec => ({
    name: 'NoRetry',
    image: 'repo/image:1',
    steps: [{ name: 'start', command: ['x'], retry: { times: 3, minutesBetweenRetries: 1 }, next: 'end', ...extra }, { name: 'end', command: ['w'] }],
  });

  test('spends none of the step\'s retries: one attempt, no retry delay, the run fails saying why', async () => {
    const layer = new RecordingLayer((a) => (a.step === 'start' ? 'unretryable' : 'succeeded'));
    const { record, clock } = await run(layer, spec({}));
    expect(layer.submissions.filter((s) => s.groupId === 'start')).toEqual([{ groupId: 'start', children: ['0#0'] }]);
    expect(clock.sleeps).toEqual([]);
    expect(record.status).toBe('failed');
    expect(record.error).toBe('step start/0 failed: unretryable (not retried: another attempt cannot succeed; 3 retries left unused)');
    expect(record.tasks[0].attempts).toMatchObject([{ attempt: 0, status: 'failed', retryable: false }]);
    expect(formatRun(record)).toContain('failed: start/0 after 1 attempt(s): unretryable (not retried: another attempt cannot succeed)\n');
  });

  test('catch still applies', async () => {
    const layer = new RecordingLayer((a) => (a.step === 'start' ? 'unretryable' : 'succeeded'));
    const { record } = await run(layer, spec({ catch: { var: 'err' } }));
    expect(record.status).toBe('succeeded');
    expect(record.tasks[0]).toMatchObject({ status: 'caught', caught: { attempts: 1, message: 'step start/0 failed: unretryable (not retried: another attempt cannot succeed; 3 retries left unused)' } });
  });

  test('an ordinary failure still uses every retry', async () => {
    const layer = new RecordingLayer((a) => (a.step === 'start' ? 'failed' : 'succeeded'));
    const { record } = await run(layer, spec({}));
    expect(record.tasks[0].attempts).toHaveLength(4);
    expect(record.tasks[0].attempts.every((a) => a.retryable === undefined)).toBe(true);
  });
});

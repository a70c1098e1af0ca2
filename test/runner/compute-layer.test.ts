import { AttemptListener, ComputeLayer, TaskSpec } from '../../runner/compute/types';
import { LocalDatastore } from '../../runner/datastore/local';
import { defineFlow } from '../../runner/flow/model';
import { validateFlow } from '../../runner/flow/validate';
import { runFlow } from '../../runner/orchestrator/orchestrator';
import { fakeClock, tempDir } from './support/harness';

/** A layer that runs nothing: it records what it was given and answers like Batch would. */
class RecordingLayer implements ComputeLayer {
  readonly name = 'recording';
  readonly groups: string[][] = [];
  readonly specs: TaskSpec[] = [];
  constructor(private readonly outcome: (t: TaskSpec) => 'succeeded' | 'failed') {}
  submit(group: readonly TaskSpec[], listener: AttemptListener): void {
    this.groups.push(group.map((t) => t.key));
    this.specs.push(...group);
    setImmediate(() => {
      for (const t of group) {
        listener.started(t, Date.now());
        listener.log(t, 'stdout', `ran ${t.key}`);
        const outcome = this.outcome(t);
        listener.finished(t, { outcome, exitCode: outcome === 'succeeded' ? 0 : 1, reason: outcome, startedAt: Date.now(), finishedAt: Date.now() });
      }
    });
  }
  async cancelAll(): Promise<void> {}
}

const flow = defineFlow({
  name: 'Shape',
  image: 'repo/image:1',
  steps: [
    { name: 'start', command: ['x'], foreach: { items: [10, 20, 30] }, next: 'child' },
    { name: 'child', command: ['y'], image: 'repo/gpu:2', resources: { gpu: 1 }, retry: { times: 1, minutesBetweenRetries: 3 }, next: 'join' },
    { name: 'join', join: true, command: ['z'], next: 'end' },
    { name: 'end', command: ['w'] },
  ],
});

test('the orchestrator hands a fan-out to the layer as one group and hears each child separately', async () => {
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  // Child 1 fails its first attempt: only that child is resubmitted, alone.
  const layer = new RecordingLayer((t) => (t.step === 'child' && t.taskId === '1' && t.attempt === 0 ? 'failed' : 'succeeded'));
  const clock = fakeClock();
  const record = await runFlow({ graph: v.graph, layer, datastore: new LocalDatastore(tempDir()), parameters: {}, clock });
  expect(record.status).toBe('succeeded');
  expect(record.compute).toBe('recording');
  expect(layer.groups).toEqual([['start/0#0'], ['child/0#0', 'child/1#0', 'child/2#0'], ['child/1#1'], ['join/0#0'], ['end/0#0']]);
  expect(clock.sleeps).toEqual([180_000]);
  const child = layer.specs.find((s) => s.key === 'child/2#0')!;
  expect(child).toMatchObject({ image: 'repo/gpu:2', command: ['y'], policies: { resources: { cpu: 1, memory: 4096, gpu: 1 }, retries: 1 } });
  expect(child.env).toMatchObject({ MF_FOREACH_INDEX: '2', MF_FOREACH_ITEM: '30', MF_FOREACH_COUNT: '3', MF_RETRY_COUNT: '0' });
  expect(layer.specs.find((s) => s.key === 'end/0#0')!.image).toBe('repo/image:1');
});

import { LocalComputeLayer } from '../../runner/compute/local';
import { AttemptListener, AttemptResult, TaskSpec } from '../../runner/compute/types';
import { effectivePolicies } from '../../runner/policy';

const spec = (taskId: string, command: string[], timeoutSeconds?: number): TaskSpec => ({
  key: `s/${taskId}#0`,
  flow: 'F',
  runId: 'r',
  step: 's',
  taskId,
  attempt: 0,
  command,
  env: { MF_TASK_ID: taskId },
  policies: { ...effectivePolicies({}), timeoutSeconds },
});

function listener() {
  const results = new Map<string, AttemptResult>();
  const lines: string[] = [];
  const started: string[] = [];
  let onFinish = () => {};
  const l: AttemptListener = {
    started: (t) => void started.push(t.taskId),
    log: (t, stream, line) => void lines.push(`${t.taskId} ${stream} ${line}`),
    finished: (t, r) => {
      results.set(t.taskId, r);
      onFinish();
    },
  };
  const settled = (n: number) =>
    new Promise<void>((resolve) => {
      onFinish = () => results.size >= n && resolve();
      onFinish();
    });
  return { l, results, lines, started, settled };
}

test('streams stdout and stderr lines, including a last line without a newline', async () => {
  const layer = new LocalComputeLayer({ maxWorkers: 2 });
  const h = listener();
  layer.submit([spec('0', ['/bin/sh', '-c', 'echo out; echo err >&2; printf "no newline"; exit 3'])], h.l);
  await h.settled(1);
  expect(h.lines.sort()).toEqual(['0 stderr err', '0 stdout no newline', '0 stdout out']);
  expect(h.results.get('0')).toMatchObject({ outcome: 'failed', exitCode: 3, reason: 'exit code 3' });
});

test('queues beyond maxWorkers; cancelAll stops the running task and the queued ones, and later submits', async () => {
  const layer = new LocalComputeLayer({ maxWorkers: 1, killGraceMs: 200 });
  const h = listener();
  layer.submit(['0', '1', '2'].map((id) => spec(id, ['/bin/sleep', '30'])), h.l);
  expect(h.started).toEqual(['0']);
  await layer.cancelAll('test');
  expect(h.results.get('0')).toMatchObject({ outcome: 'cancelled', signal: 'SIGTERM' });
  expect(h.results.get('1')).toMatchObject({ outcome: 'cancelled', reason: 'cancelled before it started: test' });
  expect(h.results.get('2')?.outcome).toBe('cancelled');
  layer.submit([spec('3', ['/bin/true'])], h.l);
  expect(h.results.get('3')?.outcome).toBe('cancelled');
  expect(h.started).toEqual(['0']);
});

test('a signal death is a failure that names the signal', async () => {
  const layer = new LocalComputeLayer();
  const h = listener();
  layer.submit([spec('0', ['/bin/sh', '-c', 'kill -KILL $$'])], h.l);
  await h.settled(1);
  expect(h.results.get('0')).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
});

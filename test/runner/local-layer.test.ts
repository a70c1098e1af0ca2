import * as fs from 'node:fs';
import * as path from 'node:path';
import { LocalComputeLayer } from '../../runner/compute/local';
import { AttemptListener, AttemptResult } from '../../runner/compute/types';
import { TaskTemplate } from '../../runner/contract';
import { LocalDatastore } from '../../runner/datastore/local';
import { effectivePolicies } from '../../runner/policy';
import { alive, tempDir } from './support/harness';

const template = (taskId: string, command: string[], timeoutSeconds?: number): TaskTemplate => ({
  flow: 'F',
  runId: 'r',
  step: 's',
  groupId: `s-${taskId}`,
  taskId,
  command,
  env: { MF_STEP: 's' },
  inputPaths: [],
  policies: { ...effectivePolicies({}), timeoutSeconds },
});
const single = (taskId: string, command: string[], timeoutSeconds?: number) => ({ template: template(taskId, command, timeoutSeconds), children: [{ index: 0, attempt: 0 }] });

function open(layer: LocalComputeLayer) {
  const results = new Map<string, AttemptResult>();
  const lines: string[] = [];
  const started: string[] = [];
  let onChange = () => {};
  const l: AttemptListener = {
    started: (t) => {
      started.push(t.taskId);
      onChange();
    },
    log: (t, stream, line) => void lines.push(`${t.taskId} ${stream} ${line}`),
    finished: (t, r) => {
      results.set(t.taskId, r);
      onChange();
    },
  };
  const until = (f: () => boolean) =>
    new Promise<void>((resolve) => {
      onChange = () => f() && resolve();
      onChange();
    });
  const datastore = new LocalDatastore(tempDir());
  layer.open({ datastore, listener: l });
  return { results, lines, started, datastore, settled: (n: number) => until(() => results.size >= n), startedN: (n: number) => until(() => started.length >= n) };
}

test('streams stdout and stderr lines, including a last line without a newline', async () => {
  const layer = new LocalComputeLayer({ maxWorkers: 2 });
  const h = open(layer);
  layer.submit(single('0', ['/bin/sh', '-c', 'echo out; echo err >&2; printf "no newline"; exit 3']));
  await h.settled(1);
  expect(h.lines.sort()).toEqual(['0 stderr err', '0 stdout no newline', '0 stdout out']);
  expect(h.results.get('0')).toMatchObject({ outcome: 'failed', exitCode: 3, reason: 'exit code 3', logRef: 'F/r/s/0/attempt-0.log' });
  expect(h.results.get('0')!.externalId).toMatch(/^pid:\d+$/);
});

test('queues beyond maxWorkers; cancelAll stops the running task and the queued ones, and later submits', async () => {
  const layer = new LocalComputeLayer({ maxWorkers: 1, killGraceMs: 200 });
  const h = open(layer);
  for (const id of ['0', '1', '2']) layer.submit(single(id, ['/bin/sleep', '30']));
  await h.startedN(1);
  expect(h.started).toEqual(['0']);
  await layer.cancelAll('test');
  expect(h.results.get('0')).toMatchObject({ outcome: 'cancelled', signal: 'SIGTERM' });
  expect(h.results.get('1')).toMatchObject({ outcome: 'cancelled', reason: 'cancelled before it started: test' });
  expect(h.results.get('2')?.outcome).toBe('cancelled');
  layer.submit(single('3', ['/bin/true']));
  expect(h.results.get('3')?.outcome).toBe('cancelled');
  expect(h.started).toEqual(['0']);
});

test('a signal death is a failure that names the signal', async () => {
  const layer = new LocalComputeLayer();
  const h = open(layer);
  layer.submit(single('0', ['/bin/sh', '-c', 'kill -KILL $$']));
  await h.settled(1);
  expect(h.results.get('0')).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
});

test('when a task ends, what it left in its process group is killed (a background child with redirected output too)', async () => {
  const layer = new LocalComputeLayer();
  const h = open(layer);
  const pidFile = path.join(h.datastore.root, 'bg.pid');
  // The background child does not hold the task's pipes, so nothing waits for it.
  layer.submit(single('0', ['/bin/sh', '-c', `sleep 30 >/dev/null 2>&1 </dev/null & echo $! > ${pidFile}; exit 0`]));
  await h.settled(1);
  expect(h.results.get('0')?.outcome).toBe('succeeded');
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  const deadline = Date.now() + 2000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(alive(pid)).toBe(false);
});

test('forceStop kills every running process group at once', async () => {
  const layer = new LocalComputeLayer({ maxWorkers: 2 });
  const h = open(layer);
  const pidFile = path.join(h.datastore.root, 'term.pid');
  layer.submit(single('0', ['/bin/sh', '-c', `trap "" TERM; echo $$ > ${pidFile}; sleep 30`]));
  await h.startedN(1);
  while (!fs.existsSync(pidFile) || !fs.readFileSync(pidFile, 'utf8').trim()) await new Promise((r) => setTimeout(r, 20));
  layer.forceStop();
  await h.settled(1);
  expect(h.results.get('0')).toMatchObject({ outcome: 'failed', signal: 'SIGKILL' });
  expect(alive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
});

test('an output directory the file system refuses is an error of that attempt, named', async () => {
  const layer = new LocalComputeLayer();
  const h = open(layer);
  const long = template('0', ['/bin/true']);
  layer.submit({ template: { ...long, step: 'x'.repeat(300) }, children: [{ index: 0, attempt: 0 }] });
  await h.settled(1);
  expect(h.results.get('0')).toMatchObject({ outcome: 'error', reason: expect.stringMatching(/^could not prepare the task: ENAMETOOLONG/) });
});

import { LocalDatastore } from '../../runner/datastore/local';
import { runSortKey } from '../../runner/datastore/layout';
import { RunSummary, TaskRecord } from '../../runner/datastore/types';
import { checkRunner } from '../../runner/orchestrator/liveness';
import { RunRecorder } from '../../runner/orchestrator/recorder';
import { tempDir } from './support/harness';

const summary = (runId: string, flow = 'F'): RunSummary => ({ flow, runId, status: 'succeeded', startedAt: '2026-11-21T00:00:00.000Z', parameters: {}, withRetry: false, compute: 'local', taskCount: 0 });

describe('the run index', () => {
  const ids = ['20261121-100000-aaaaaa', '20261121-100001-bbbbbb', '20261122-090000-cccccc', '20261231-235959-dddddd', '20250101-000000-eeeeee'];

  test('key order is newest first, and the id comes back from the key', () => {
    const keys = ids.map(runSortKey).sort();
    expect(keys.map((k) => ids.find((id) => runSortKey(id) === k))).toEqual([ids[3], ids[2], ids[1], ids[0], ids[4]]);
  });

  // Paging, reading one run, corrupt records: the contract suite on both stores (datastore-contract.test.ts).
});

describe('the run recorder', () => {
  const task = (i: number): TaskRecord => ({ step: 's', taskId: String(i), status: 'queued', inputs: [], attempts: [] });

  test('writes the summary plus only the task chunks that changed, one write at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const chunks: number[] = [];
    class SlowStore extends LocalDatastore {
      async put(key: string, body: string) {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        await super.put(key, body);
        inFlight--;
      }
      async writeTaskChunk(flow: string, runId: string, chunk: number, tasks: readonly TaskRecord[]) {
        chunks.push(chunk);
        return super.writeTaskChunk(flow, runId, chunk, tasks);
      }
    }
    const store = new SlowStore(tempDir());
    const recorder = new RunRecorder({ ...summary('20261121-100000-aaaaaa'), status: 'running', tasks: [] }, store);
    for (let i = 0; i < 2500; i++) recorder.onEvent({ type: 'task-queued', task: { flow: 'F', runId: 'r', step: 's', taskId: String(i), inputs: [] }, attempt: 0 });
    await recorder.flush();
    expect(chunks.sort()).toEqual([0, 1, 2]);
    chunks.length = 0;
    recorder.onEvent({ type: 'task-started', task: { flow: 'F', runId: 'r', step: 's', taskId: '2100' }, attempt: 0, at: Date.now(), start: { at: Date.now(), externalId: 'pid:1' } });
    // Three flushes asked at once: serialized, and the change is written once.
    await Promise.all([recorder.flush(), recorder.flush(), recorder.flush()]);
    expect(chunks).toEqual([2]);
    expect(most).toBeLessThanOrEqual(3); // never two writes of the record at once (3 chunk puts of ONE write at most)
    const back = await store.readRun('20261121-100000-aaaaaa');
    expect(back!.tasks).toHaveLength(2500);
    expect(back!.tasks[2100]).toMatchObject({ status: 'running', attempts: [{ externalId: 'pid:1' }] });
    expect(back!.tasks[5]).toEqual(task(5));
  });
});

describe('a run whose runner died', () => {
  const running = (owner: RunSummary['owner']): RunSummary => ({ ...summary('20261121-100000-aaaaaa'), status: 'running', owner });
  test('on this host: the owner pid is gone', () => {
    const now = Date.parse('2026-11-21T10:00:00Z');
    const owner = { pid: 4242, host: 'here', heartbeatAt: '2026-11-21T09:59:59Z' };
    expect(checkRunner(running(owner), now, 'here', () => false)).toEqual({ dead: true, reason: 'its runner (pid 4242 on here) is gone; last heartbeat 2026-11-21T09:59:59Z' });
    expect(checkRunner(running(owner), now, 'here', () => true).dead).toBe(false);
  });
  test('on another host: the heartbeat is older than a minute', () => {
    const now = Date.parse('2026-11-21T10:00:00Z');
    expect(checkRunner(running({ pid: 1, host: 'there', heartbeatAt: '2026-11-21T09:59:30Z' }), now, 'here').dead).toBe(false);
    expect(checkRunner(running({ pid: 1, host: 'there', heartbeatAt: '2026-11-21T09:58:30Z' }), now, 'here')).toMatchObject({ dead: true });
  });
  test('a run that ended is never dead', () => {
    expect(checkRunner({ ...summary('x'), owner: { pid: 1, host: 'h', heartbeatAt: '2000-01-01T00:00:00Z' } }, Date.now(), 'h', () => false).dead).toBe(false);
  });
});

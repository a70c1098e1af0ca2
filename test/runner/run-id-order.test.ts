import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalDatastore } from '../../runner/datastore/local';
import { runSortKey } from '../../runner/datastore/layout';

/** `runs` lists the index in key order: runs started within one second must come newest first too. */
describe('run ids order the index newest first, also within one second', () => {
  const dir = mkdtempSync(join(tmpdir(), 'run-id-order-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => jest.useRealTimers());

  test('ids made 1 ms, 400 ms and 1 s apart sort newest first; the id keeps its documented shape', () => {
    const store = new LocalDatastore(dir);
    jest.useFakeTimers({ now: Date.parse('2026-11-21T16:30:00.000Z') });
    const ids: string[] = [];
    for (const step of [0, 1, 400, 599]) {
      jest.setSystemTime(Date.parse('2026-11-21T16:30:00.000Z') + step);
      ids.push(store.newRunId());
    }
    jest.setSystemTime(Date.parse('2026-11-21T16:30:01.000Z'));
    ids.push(store.newRunId());
    for (const id of ids) expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    const newestFirst = [...ids].reverse();
    expect([...ids].sort((a, b) => (runSortKey(a) < runSortKey(b) ? -1 : 1))).toEqual(newestFirst);
  });
});

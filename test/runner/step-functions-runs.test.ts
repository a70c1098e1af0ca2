/**
 * The readers' side of Step Functions runs, on the local store (the same KeyedDatastore code as
 * S3's; test/runner/sfn/runs-record.test.ts covers S3 with records a real execution wrote): a run
 * filed in the index under its start time is found by id through its lookup copy, listed among
 * the runner's runs by start time, and its tasks are its status.json files.
 */
import { LocalDatastore } from '../../runner/datastore/local';
import { layout, runIdOfIndexKey, startedRunSortKey } from '../../runner/datastore/layout';
import type { RunSummary, TaskRecord } from '../../runner/datastore/types';
import { tempDir } from './support/harness';

const SFN_RUN = 'sfn-20261121-120000-c0ffee';
const STARTED = '2026-11-21T12:00:01.250Z';

const task = (step: string, status: 'succeeded' | 'failed', finishedAt: string): TaskRecord => ({
  step, taskId: '0', status, inputs: [], attempts: [{ attempt: 0, status, exitCode: status === 'succeeded' ? 0 : 2, finishedAt, externalId: `job-${step}` }],
});

async function storeWithRuns(): Promise<LocalDatastore> {
  const store = new LocalDatastore(tempDir('mfcdk-sfnruns-'));
  // What the compiled state machine writes (runner/sfn/compiler/run-record.ts) …
  const summary: RunSummary = {
    flow: 'F', runId: SFN_RUN, status: 'failed', startedAt: STARTED, finishedAt: '2026-11-21T12:03:01.250Z', parameters: { n: 1 },
    withRetry: false, compute: 'batch', orchestrator: 'step-functions', executionArn: `arn:aws:states:us-east-1:1:execution:m:${SFN_RUN}`, taskCount: 0, error: 'States.TaskFailed',
  };
  const entry = JSON.stringify({ flow: 'F', runId: SFN_RUN, startedAt: STARTED });
  await store.put(layout.runSummary('F', SFN_RUN), JSON.stringify(summary));
  await store.put(layout.runLookup(SFN_RUN), entry);
  await store.put(`${layout.runIndexPrefix}${startedRunSortKey(STARTED, SFN_RUN)}.json`, entry);
  // … and what its tasks' upload helpers commit (outputs and attempt copies are not tasks).
  await store.put(`F/${SFN_RUN}/train/0/status.json`, JSON.stringify(task('train', 'failed', '2026-11-21T12:02:59Z')));
  await store.put(`F/${SFN_RUN}/start/0/status.json`, JSON.stringify(task('start', 'succeeded', '2026-11-21T12:01:00Z')));
  await store.put(`F/${SFN_RUN}/start/0/outputs.json`, '{}');
  await store.put(`F/${SFN_RUN}/start/0/attempt-0/outputs.json`, '{}');
  // Runner runs started a second before and after it.
  for (const runId of ['20261121-120000-3e7aaa', '20261121-120002-3e7bbb']) {
    await store.writeRunSummary({ flow: 'G', runId, status: 'succeeded', startedAt: STARTED, parameters: {}, withRetry: false, compute: 'local', taskCount: 0 }, true);
  }
  return store;
}

test('the index name from the start time: digits of yyyymmdd and hhmmss inverted, the run id after "~", and back', () => {
  expect(startedRunSortKey(STARTED, SFN_RUN)).toBe(`79738878-879998~${SFN_RUN}`);
  expect(runIdOfIndexKey(`${layout.runIndexPrefix}79738878-879998~${SFN_RUN}.json`)).toBe(SFN_RUN);
  // The runner's forms are unchanged.
  expect(runIdOfIndexKey(layout.runIndex('20261121-120000-3e7aaa'))).toBe('20261121-120000-3e7aaa');
  expect(runIdOfIndexKey(layout.runIndex('my-run'))).toBe('my-run');
});

test('a Step Functions run: found by id, its tasks from status.json in the order they finished, its duration from its times', async () => {
  const store = await storeWithRuns();
  const run = (await store.readRun(SFN_RUN))!;
  expect(run).toMatchObject({ flow: 'F', status: 'failed', orchestrator: 'step-functions', durationMs: 180_000, taskCount: 2 });
  expect(run.tasks.map((t) => [t.step, t.status, t.attempts[0].externalId])).toEqual([['start', 'succeeded', 'job-start'], ['train', 'failed', 'job-train']]);
  expect(await store.readRun('sfn-20261121-120000-000000')).toBeUndefined();
});

test('listed among the runner runs by start time, newest first, with its task count', async () => {
  const store = await storeWithRuns();
  const page = await store.listRuns();
  expect(page.corrupt).toEqual([]);
  expect(page.runs.map((r) => [r.runId, r.taskCount])).toEqual([['20261121-120002-3e7bbb', 0], [SFN_RUN, 2], ['20261121-120000-3e7aaa', 0]]);
});

test('a status.json that is not a task record makes the run unreadable, naming the key', async () => {
  const store = await storeWithRuns();
  await store.put(`F/${SFN_RUN}/end/0/status.json`, '{"status":"succeeded"}');
  await expect(store.readRun(SFN_RUN)).rejects.toThrow(`run ${SFN_RUN}: its record F/${SFN_RUN}/end/0/status.json is corrupt (not a task status)`);
});

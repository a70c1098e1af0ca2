/**
 * Run and task statuses of `runs --from service` by the Metaflow UI backend's rules
 * (metaflow-service v2.5.1 services/ui_backend_service/data/db/tables/run.py and task.py): the
 * cases the real-service test (reader.test.ts) cannot wait for — a retried end step, heartbeats
 * that stopped.
 */
import { RUN_INACTIVE_CUTOFF_S, runStatus, taskStatus, TASK_HEARTBEAT_THRESHOLD_S } from '../../../runner/metadata/reader';

const T0 = 1_800_000_000_000;
const md = (field_name: string, value: string, ts: number, attempt = 0) => ({ step_name: 'end', task_id: 't-0', field_name, value, tags: [`attempt_id:${attempt}`], ts_epoch: ts });

test('a run: the end step\'s latest attempt_ok decides; a newer attempt after a failed one is running; else the heartbeat', () => {
  const run = { ts_epoch: T0, last_heartbeat_ts: T0 / 1000 + 5 };
  expect(runStatus(run, [md('attempt', '0', T0 + 1000), md('attempt_ok', 'True', T0 + 3000)], T0 + 10_000)).toEqual({ status: 'completed', durationMs: 3000 });
  expect(runStatus(run, [md('attempt_ok', 'False', T0 + 3000)], T0 + 10_000)).toEqual({ status: 'failed', durationMs: 3000 });
  // The end step failed and is being retried: running, not failed.
  expect(runStatus(run, [md('attempt_ok', 'False', T0 + 3000), md('attempt', '1', T0 + 4000, 1)], T0 + 10_000).status).toBe('running');
  // No end yet: a heartbeat in the last 6 minutes is a live run; an older one is a dead one.
  expect(runStatus(run, [], T0 + (RUN_INACTIVE_CUTOFF_S - 10) * 1000).status).toBe('running');
  expect(runStatus(run, [], T0 + (RUN_INACTIVE_CUTOFF_S + 10) * 1000)).toEqual({ status: 'failed', durationMs: 5000 });
  // A run without heartbeats (an old client) and without an end: failed, as the UI shows it.
  expect(runStatus({ ts_epoch: T0, last_heartbeat_ts: null }, [], T0 + 1000).status).toBe('failed');
});

test("a task: its last attempt's attempt_ok; done without it is unknown; a stale heartbeat is failed; nothing yet is pending", () => {
  const beat = { last_heartbeat_ts: T0 / 1000 };
  const retried = [md('attempt', '0', T0), md('attempt_ok', 'False', T0 + 100), md('attempt', '1', T0 + 200, 1), md('attempt_ok', 'True', T0 + 300, 1)];
  expect(taskStatus(beat, retried, T0 + 1000)).toMatchObject({ status: 'completed', attempts: 2, startedAt: T0, finishedAt: T0 + 300 });
  expect(taskStatus(beat, [md('attempt', '0', T0), md('attempt-done', '0', T0 + 100)], T0 + 1000).status).toBe('unknown');
  expect(taskStatus(beat, [md('attempt', '0', T0), md('attempt_ok', 'False', T0 + 100), md('caught', 'exit 3', T0 + 100)], T0 + 1000)).toMatchObject({ status: 'failed', caught: 'exit 3' });
  expect(taskStatus(beat, [md('attempt', '0', T0)], T0 + (TASK_HEARTBEAT_THRESHOLD_S - 5) * 1000).status).toBe('running');
  expect(taskStatus(beat, [md('attempt', '0', T0)], T0 + (TASK_HEARTBEAT_THRESHOLD_S + 5) * 1000).status).toBe('failed');
  expect(taskStatus({ last_heartbeat_ts: null }, [], T0).status).toBe('pending');
});

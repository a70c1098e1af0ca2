import type { RunRecord, TaskRecord } from '../../../runner/datastore/types';
import { resumeSummary } from '../../../runner/progress/resume-summary';

const attempt = { attempt: 0, status: 'succeeded' as const, exitCode: 0 };
const task = (step: string, taskId: string, status: TaskRecord['status'], ran = status !== 'reused'): TaskRecord => ({
  step,
  taskId,
  status,
  inputs: [],
  attempts: ran ? [{ ...attempt, status: status === 'failed' ? 'failed' : 'succeeded' } as TaskRecord['attempts'][number]] : [],
});
const record = (tasks: TaskRecord[], originRunId?: string) => ({ flow: 'F', runId: 'new', status: 'failed', tasks, originRunId }) as unknown as RunRecord;

test('a resumed foreach: reused and rerun children counted per step, in the flow\'s order; steps not reached left out', () => {
  const tasks = [
    task('train', '0', 'reused'),
    task('start', '0', 'reused'),
    ...[1, 2, 3].map((i) => task('train', String(i), 'reused')),
    task('train', '4', 'failed'),
    task('pick', '0', 'cancelled', false), // never started: not counted as run
  ];
  expect(resumeSummary(record(tasks, 'old'), ['start', 'train', 'pick', 'end'])).toEqual([
    'reused from run old: start (1 task), train (4 of 5 tasks)',
    'ran: train (1 of 5 tasks)',
  ]);
});

test('nothing reused (an origin that failed in start), and a run that is not a resume', () => {
  expect(resumeSummary(record([task('start', '0', 'succeeded'), task('end', '0', 'succeeded')], 'old'), ['start', 'end'])).toEqual([
    'reused from run old: nothing (every task ran again)',
    'ran: start (1 task), end (1 task)',
  ]);
  expect(resumeSummary(record([task('start', '0', 'succeeded')]), ['start'])).toEqual([]);
});

/**
 * `metaflow-cdk sfn status` on a history moto cannot produce (Batch `submitJob.sync` tasks, a
 * retry, a failure): the per-state table shows each attempt's Batch job, the failure shows the
 * job's status reason and exit code instead of the whole job description. SFN answers come from
 * aws-sdk-client-mock; the CLI runs in-process through main().
 */
import { DescribeExecutionCommand, GetExecutionHistoryCommand, HistoryEvent, SFNClient } from '@aws-sdk/client-sfn';
import type { StateView } from '../../../runner/sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '../../../runner/cli/main';
import { RUNTIME_EXIT } from '../../../runner/batch/job-shape';
import { errorLine, formatExecutionStatus, ROWS_PER_STATE } from '../../../runner/cli/commands/sfn/status';
import { ACCOUNT, PREFIX, sfnEnv } from './support';

const sfnMock = mockClient(SFNClient);
const NAME = `${PREFIX}_TrainFlow`;
const RUN = 'sfn-20261121-170000-a1b2c3';
const EXEC = `arn:aws:states:us-east-1:${ACCOUNT}:execution:${NAME}:${RUN}`;
const t = (s: number) => new Date(Date.UTC(2026, 10, 21, 17, 0, s));
const job = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ JobId: id, JobName: `TrainFlow-${id}`, ...extra });
const failedJob = (id: string) => job(id, { Status: 'FAILED', StatusReason: 'Essential container in task exited', Container: { ExitCode: 3, LogStreamName: 'x/y/z' }, Padding: 'p'.repeat(5000) });
const batch = { resourceType: 'batch', resource: 'submitJob.sync' };

const HISTORY: HistoryEvent[] = [
  { id: 1, type: 'ExecutionStarted', timestamp: t(0) },
  { id: 2, previousEventId: 1, type: 'TaskStateEntered', timestamp: t(1), stateEnteredEventDetails: { name: 'start' } },
  { id: 3, previousEventId: 2, type: 'TaskScheduled', timestamp: t(1) },
  { id: 4, previousEventId: 3, type: 'TaskSubmitted', timestamp: t(2), taskSubmittedEventDetails: { ...batch, output: job('job-a') } },
  { id: 5, previousEventId: 4, type: 'TaskFailed', timestamp: t(5), taskFailedEventDetails: { ...batch, error: 'States.TaskFailed', cause: failedJob('job-a') } },
  { id: 6, previousEventId: 5, type: 'TaskScheduled', timestamp: t(7) },
  { id: 7, previousEventId: 6, type: 'TaskSubmitted', timestamp: t(8), taskSubmittedEventDetails: { ...batch, output: job('job-b') } },
  { id: 8, previousEventId: 7, type: 'TaskSucceeded', timestamp: t(10), taskSucceededEventDetails: { ...batch, output: job('job-b') } },
  { id: 9, previousEventId: 8, type: 'TaskStateExited', timestamp: t(10), stateExitedEventDetails: { name: 'start' } },
  { id: 10, previousEventId: 9, type: 'TaskStateEntered', timestamp: t(11), stateEnteredEventDetails: { name: 'end' } },
  { id: 11, previousEventId: 10, type: 'TaskScheduled', timestamp: t(11) },
  { id: 12, previousEventId: 11, type: 'TaskSubmitted', timestamp: t(12), taskSubmittedEventDetails: { ...batch, output: job('job-c') } },
  { id: 13, previousEventId: 12, type: 'TaskFailed', timestamp: t(75), taskFailedEventDetails: { ...batch, error: 'States.TaskFailed', cause: failedJob('job-c') } },
  { id: 14, previousEventId: 13, type: 'ExecutionFailed', timestamp: t(75) },
] as HistoryEvent[];

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'metaflow-cdk', 'sfn', ...args], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env: sfnEnv(),
  });
  return { code, stdout, stderr };
}

beforeEach(() => {
  sfnMock.reset();
  sfnMock.on(DescribeExecutionCommand, { executionArn: EXEC }).resolves({
    executionArn: EXEC, name: RUN, status: 'FAILED', startDate: t(0), stopDate: t(75), error: 'States.TaskFailed', cause: failedJob('job-c'),
  } as never);
  sfnMock.on(GetExecutionHistoryCommand, { executionArn: EXEC }).resolves({ events: HISTORY });
});

test('per state: attempts, duration and the Batch job of every attempt; failures as status reason and exit code', async () => {
  const r = await cli(['status', RUN, '--flow', 'TrainFlow', '--region', 'us-east-1']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toBe([
    `Run ${RUN} of ${NAME}: FAILED in 1m15s`,
    `  started ${t(0).toISOString()}, stopped ${t(75).toISOString()}`,
    `  execution ${EXEC}`,
    '  error: States.TaskFailed: Essential container in task exited (exit code 3)',
    '',
    'state  type  status     attempts  duration  batch jobs',
    'start  Task  SUCCEEDED         2  9.0s      job-a,job-b',
    'end    Task  FAILED            1  -         job-c',
    '',
    'failed: end after 1 attempt(s): States.TaskFailed: Essential container in task exited (exit code 3)',
    '',
  ].join('\n'));
  expect(sfnMock.commandCalls(DescribeExecutionCommand)[0].args[0].input).toEqual({ executionArn: EXEC });
});

test('--json is the whole status, Batch job ids per state included', async () => {
  const r = await cli(['status', EXEC, '--json']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({
    executionArn: EXEC, runId: RUN, stateMachine: NAME, status: 'FAILED',
    states: [{ name: 'start', attempts: 2, retries: 1, batchJobIds: ['job-a', 'job-b'] }, { name: 'end', status: 'FAILED', batchJobIds: ['job-c'] }],
  });
});

test('an execution that does not exist is one line, exit 2; an AWS failure is one line, exit 1', async () => {
  const other = EXEC.replace(RUN, 'sfn-20261121-170000-000000');
  sfnMock.on(DescribeExecutionCommand, { executionArn: other }).rejects(Object.assign(new Error('Execution Does Not Exist'), { name: 'ExecutionDoesNotExist' }));
  expect(await cli(['status', other])).toEqual({ code: 2, stdout: '', stderr: `metaflow-cdk: no execution "${other}"\n` });
  const denied = Object.assign(new Error('User: arn:aws:iam::123456789012:user/x is not authorized to perform: states:GetExecutionHistory\non resource'), {
    name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 },
  });
  sfnMock.on(GetExecutionHistoryCommand, { executionArn: EXEC }).rejects(denied);
  expect(await cli(['status', EXEC])).toEqual({
    code: 1, stdout: '', stderr: 'metaflow-cdk: AWS AccessDeniedException: User: arn:aws:iam::123456789012:user/x is not authorized to perform: states:GetExecutionHistory\n',
  });
});

test('errorLine: a one-container job\'s exit code and reason from Container; the task runtime\'s own exit codes say what failed', () => {
  const cause = (container: object, reason = 'Essential container in task exited') => JSON.stringify({ JobId: 'j', Status: 'FAILED', StatusReason: reason, Container: container });
  expect(errorLine('States.TaskFailed', cause({ ExitCode: 3 }))).toBe('States.TaskFailed: Essential container in task exited (exit code 3)');
  expect(errorLine('States.TaskFailed', cause({ ExitCode: RUNTIME_EXIT.noPython }))).toBe(`States.TaskFailed: Essential container in task exited: the image has no python3 on its PATH (exit code ${RUNTIME_EXIT.noPython})`);
  expect(errorLine('States.TaskFailed', cause({ ExitCode: RUNTIME_EXIT.fetchFailed }))).toBe(`States.TaskFailed: Essential container in task exited: its inputs could not be fetched from the datastore (exit code ${RUNTIME_EXIT.fetchFailed})`);
  const notStarted = 'CannotStartContainerError: Error response from daemon: failed to create shim task';
  expect(errorLine('States.TaskFailed', cause({ Reason: notStarted }, 'Task failed to start'))).toBe(`States.TaskFailed: Task failed to start — ${notStarted}`);
  // An array job's description has no Container: its status reason alone.
  expect(errorLine('States.TaskFailed', JSON.stringify({ Status: 'FAILED', StatusReason: '2 of 5 child jobs failed', ArrayProperties: { Size: 5 } }))).toBe('States.TaskFailed: 2 of 5 child jobs failed');
});

test('errorLine: a cause that is not a job description is kept, on one line and cut', () => {
  expect(errorLine('States.Timeout', undefined)).toBe('States.Timeout');
  expect(errorLine(undefined, 'line one\n  line two')).toBe('line one line two');
  expect(errorLine('E', 'x'.repeat(400))).toBe(`E: ${'x'.repeat(299)}…`);
  expect(errorLine(undefined, undefined)).toBe('no error given');
});

test('a state entered more than ROWS_PER_STATE times (Map iterations) is one row of counts; failure lines are capped', () => {
  const iteration = (i: number): StateView => ({
    name: 'train', type: 'Task', status: i < 11 ? 'FAILED' : 'SUCCEEDED', attempts: i === 0 ? 2 : 1, retries: i === 0 ? 1 : 0,
    batchJobIds: [`job-${i}`], enteredAt: t(i), exitedAt: t(i + 1 + i), durationMs: (1 + i) * 1000,
    lastError: i < 11 ? { error: 'States.TaskFailed', cause: failedJob(`job-${i}`) } : undefined,
  });
  const start: StateView = { name: 'start', type: 'Task', status: 'SUCCEEDED', attempts: 1, retries: 0, batchJobIds: ['job-s'], durationMs: 500 };
  const states = [start, ...Array.from({ length: ROWS_PER_STATE + 2 }, (_, i) => iteration(i))];
  const text = formatExecutionStatus({ executionArn: EXEC, stateMachine: NAME, runId: RUN, status: 'SUCCEEDED', states });
  const table = text.split('\n\n')[1].split('\n');
  expect(table).toEqual([
    'state      type  status                  attempts  duration  batch jobs',
    'start      Task  SUCCEEDED                      1  500ms     job-s',
    'train ×12  Task  11 FAILED, 1 SUCCEEDED        13  ≤12.0s    12 jobs',
  ]);
  const failures = text.split('\n\n')[2].trim().split('\n');
  expect(failures).toHaveLength(11);
  expect(failures[0]).toBe('failed: train after 2 attempt(s): States.TaskFailed: Essential container in task exited (exit code 3)');
  expect(failures[10]).toBe('… and 1 more failed (--json lists every one)');
  // Up to ROWS_PER_STATE entries keep a row each, in the order they were entered.
  const few = formatExecutionStatus({ executionArn: EXEC, stateMachine: NAME, runId: RUN, status: 'RUNNING', states: [start, iteration(11), iteration(11)] });
  expect(few.split('\n\n')[1].trim().split('\n').slice(1).map((l) => l.split(/\s{2,}/)[0])).toEqual(['start', 'train', 'train']);
});

import { BatchClient, TerminateJobCommand } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { ApiCallCounter } from '../../../runner/batch/api-calls';
import { jobLogGroup, LogTailer } from '../../../runner/batch/log-tailer';
import { terminateJobs } from '../../../runner/batch/terminator';

describe('terminator', () => {
  const batchMock = mockClient(BatchClient);
  beforeEach(() => batchMock.reset());

  test('terminates every non-terminal job, array parents included, and reports what it did', async () => {
    batchMock.on(TerminateJobCommand).resolves({}).on(TerminateJobCommand, { jobId: 'gone' }).rejects(new Error('Job gone not found'));
    const calls = new ApiCallCounter();
    const result = await terminateJobs(
      new BatchClient({ region: 'us-east-1' }),
      [
        { jobId: 'array-parent', status: 'RUNNING' },
        { jobId: 'queued', status: 'RUNNABLE' },
        { jobId: 'never-seen' },
        { jobId: 'done', status: 'SUCCEEDED' },
        { jobId: 'gone', status: 'PENDING' },
      ],
      'metaflow-cdk: interrupted (Ctrl-C)',
      calls,
    );
    expect(result).toEqual({
      terminated: ['array-parent', 'never-seen', 'queued'],
      alreadyFinished: ['done'],
      failed: [{ jobId: 'gone', error: 'Job gone not found' }],
    });
    expect(batchMock.commandCalls(TerminateJobCommand).map((c) => c.args[0].input).sort((a, b) => a.jobId!.localeCompare(b.jobId!))).toEqual([
      { jobId: 'array-parent', reason: 'metaflow-cdk: interrupted (Ctrl-C)' },
      { jobId: 'gone', reason: 'metaflow-cdk: interrupted (Ctrl-C)' },
      { jobId: 'never-seen', reason: 'metaflow-cdk: interrupted (Ctrl-C)' },
      { jobId: 'queued', reason: 'metaflow-cdk: interrupted (Ctrl-C)' },
    ]);
    expect(calls.snapshot()).toEqual({ TerminateJob: 4 });
  });
});

describe('log tailer (exact calls)', () => {
  const logsMock = mockClient(CloudWatchLogsClient);
  beforeEach(() => logsMock.reset());

  test('startFromHead + nextForwardToken; stops on the repeated token; caps streams followed at once', async () => {
    logsMock
      .on(GetLogEventsCommand, { logStreamName: 's1', nextToken: undefined })
      .resolves({ events: [{ message: 'a', timestamp: 1 }], nextForwardToken: 'f/1' })
      .on(GetLogEventsCommand, { logStreamName: 's1', nextToken: 'f/1' })
      .resolves({ events: [{ message: 'b', timestamp: 2 }], nextForwardToken: 'f/2' })
      .on(GetLogEventsCommand, { logStreamName: 's1', nextToken: 'f/2' })
      .resolves({ events: [], nextForwardToken: 'f/2' })
      .on(GetLogEventsCommand, { logStreamName: 's2' })
      .resolves({ events: [{ message: 'z' }], nextForwardToken: 'same' })
      .on(GetLogEventsCommand, { logStreamName: 's2', nextToken: 'same' })
      .resolves({ events: [], nextForwardToken: 'same' });
    const lines: string[] = [];
    const tailer = new LogTailer(new CloudWatchLogsClient({ region: 'us-east-1' }), (key, line) => lines.push(`${key}:${line}`), { maxStreams: 1, latePolls: 0 });
    tailer.follow('t1', { stream: 's1' });
    tailer.follow('t2', { stream: 's2', group: '/custom' });
    expect(tailer.following).toEqual({ active: ['t1'], waiting: ['t2'] });
    await tailer.poll();
    expect(lines).toEqual(['t1:a', 't1:b']);
    expect(logsMock.commandCalls(GetLogEventsCommand).map((c) => c.args[0].input)).toEqual([
      { logGroupName: '/aws/batch/job', logStreamName: 's1', startFromHead: true, nextToken: undefined },
      { logGroupName: '/aws/batch/job', logStreamName: 's1', startFromHead: true, nextToken: 'f/1' },
      { logGroupName: '/aws/batch/job', logStreamName: 's1', startFromHead: true, nextToken: 'f/2' },
    ]);
    tailer.finish('t1');
    await tailer.poll();
    expect(tailer.following).toEqual({ active: ['t2'], waiting: [] });
    await tailer.poll();
    expect(lines).toEqual(['t1:a', 't1:b', 't2:z']);
    expect(logsMock.commandCalls(GetLogEventsCommand).at(-2)!.args[0].input.logGroupName).toBe('/custom');
  });

  test('a stream that does not exist yet (or never will: the container did not start) is not an error', async () => {
    const missing = Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' });
    logsMock.on(GetLogEventsCommand).rejects(missing);
    const tailer = new LogTailer(new CloudWatchLogsClient({ region: 'us-east-1' }), () => undefined, { latePolls: 0 });
    tailer.follow('t', { stream: 'later' });
    await tailer.poll();
    expect(tailer.following.active).toEqual(['t']);
    tailer.finish('t');
    await tailer.poll();
    expect(tailer.following.active).toEqual([]);
  });

  test("the last lines of an OOM-killed task's stream in one call", async () => {
    logsMock.on(GetLogEventsCommand).resolves({ events: [{ message: 'allocating 8 GiB' }, { message: 'Killed' }] });
    const tailer = new LogTailer(new CloudWatchLogsClient({ region: 'us-east-1' }), () => undefined);
    expect(await tailer.lastLines({ stream: 'metaflow/default/x' }, 2)).toEqual(['allocating 8 GiB', 'Killed']);
    expect(logsMock.commandCalls(GetLogEventsCommand)[0].args[0].input).toEqual({
      logGroupName: '/aws/batch/job',
      logStreamName: 'metaflow/default/x',
      startFromHead: false,
      limit: 2,
    });
    expect(jobLogGroup({ container: { logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': '/mf/jobs' } } } })).toBe('/mf/jobs');
    expect(jobLogGroup({})).toBe('/aws/batch/job');
  });
});

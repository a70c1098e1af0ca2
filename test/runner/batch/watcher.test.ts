import { BatchClient, DescribeJobsCommand, JobDetail, ListJobsCommand } from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { BatchWatcher, WatchEvent } from '../../../runner/batch/watcher';
import { classifyFailure, explainRunnable } from '../../../runner/batch/failures';
import { FakeClock } from './fake-clock';

const batchMock = mockClient(BatchClient);
beforeEach(() => batchMock.reset());

const SPOT = 'Host EC2 (instance i-0a1b2c3d4e5f) terminated.';
const OOM = 'OutOfMemoryError: Container killed due to memory usage';
const PULL = 'CannotPullContainerError: Error response from daemon: pull access denied for nosuch/image, repository does not exist';
const TIMEOUT = 'Job attempt duration exceeded timeout';
const EXITED = 'Essential container in task exited';

function job(jobId: string, status: string, extra: Partial<JobDetail> = {}): JobDetail {
  return { jobId, jobName: jobId, jobQueue: 'q', jobDefinition: 'd', status: status as never, startedAt: status === 'RUNNING' || status === 'SUCCEEDED' || status === 'FAILED' ? 1000 : undefined, ...extra };
}

function setup(answer: (ids: string[]) => JobDetail[]) {
  batchMock.on(DescribeJobsCommand).callsFake((input: { jobs: string[] }) => ({ jobs: answer(input.jobs) }));
  const clock = new FakeClock(0);
  const events: WatchEvent[] = [];
  const watcher = new BatchWatcher(new BatchClient({ region: 'us-east-1' }), (e) => events.push(e), { clock });
  return { clock, events, watcher };
}

describe('Batch watcher', () => {
  test('plain job: started with its log stream, finished with exit 0; polls back off with age', async () => {
    const { clock, events, watcher } = setup(([id]) => {
      const t = clock.now();
      if (t < 20_000) return [job(id, 'RUNNABLE')];
      if (t < 3_600_000) return [job(id, 'RUNNING', { container: { logStreamName: 'metaflow/default/abc' } })];
      return [job(id, 'SUCCEEDED', { container: { exitCode: 0, logStreamName: 'metaflow/default/abc' }, attempts: [{ container: { exitCode: 0 } }] })];
    });
    watcher.add({ jobId: 'j1', size: 1, ref: 'start/0' });
    await watcher.run();
    expect(events).toEqual([
      { type: 'started', job: expect.objectContaining({ jobId: 'j1' }), childIndex: undefined, at: 1000, logStreamName: 'metaflow/default/abc' },
      {
        type: 'finished',
        job: expect.objectContaining({ jobId: 'j1' }),
        childIndex: undefined,
        outcome: expect.objectContaining({ status: 'SUCCEEDED', exitCode: 0, batchAttempts: 1, infrastructureRetries: [], failure: undefined }),
      },
    ]);
    const polls = batchMock.commandCalls(DescribeJobsCommand).length;
    // an hour-long job: ~5 s polls at first, 120 s later — far from one call per second
    expect(polls).toBeGreaterThan(30);
    expect(polls).toBeLessThan(70);
    expect(watcher.calls.snapshot()).toEqual({ DescribeJobs: polls });
  });

  test('DescribeJobs in chunks of ≤100 IDs for 250 plain jobs', async () => {
    const { watcher } = setup((ids) => ids.map((id) => job(id, 'SUCCEEDED', { container: { exitCode: 0 } })));
    for (let i = 0; i < 250; i += 1) watcher.add({ jobId: `j${i}`, size: 1, ref: i });
    await watcher.run();
    expect(batchMock.commandCalls(DescribeJobsCommand).map((c) => c.args[0].input.jobs!.length)).toEqual([100, 100, 50]);
  });

  test('a spot reclaim that Batch retried is visible; the task still succeeds', async () => {
    const { events, watcher } = setup(([id]) => [
      job(id, 'SUCCEEDED', {
        container: { exitCode: 0 },
        attempts: [{ statusReason: SPOT, container: { reason: 'Host EC2 (instance i-0a1b2c3d4e5f) terminated.' } }, { container: { exitCode: 0 } }],
      }),
    ]);
    watcher.add({ jobId: 'j', size: 1, ref: 'x' });
    await watcher.run();
    const finished = events.find((e) => e.type === 'finished');
    expect(finished).toMatchObject({ outcome: { status: 'SUCCEEDED', batchAttempts: 2, infrastructureRetries: [{ attempt: 1, statusReason: SPOT }] } });
  });

  test.each([
    [
      'OOM',
      { statusReason: EXITED, container: { exitCode: 137, reason: OOM, resourceRequirements: [{ type: 'MEMORY', value: '4096' }] } },
      { kind: 'oom', message: `ran out of memory (limit 4096 MiB): ${OOM} (exit code 137)`, hint: 'raise resources.memory above 4096 MiB', retryable: true },
    ],
    [
      'CannotPullContainer',
      { statusReason: 'Task failed to start', container: { reason: PULL } },
      { kind: 'cannot-pull', message: `the image could not be pulled: ${PULL}`, retryable: false },
    ],
    ['attempt timeout', { statusReason: TIMEOUT, container: {} }, { kind: 'timeout', message: `timed out: ${TIMEOUT}`, retryable: true }],
    [
      'spot reclaim on every attempt',
      { statusReason: SPOT, attempts: [{ statusReason: SPOT }, { statusReason: SPOT }], container: {} },
      { kind: 'host-lost', message: `lost its host (spot reclaim or host terminated) on each of 2 Batch attempts: ${SPOT}`, retryable: true },
    ],
    ['non-zero exit', { statusReason: EXITED, container: { exitCode: 3 } }, { kind: 'exit', message: `exit code 3: ${EXITED}`, retryable: true }],
  ])('a failed job: %s', async (_name, detail, failure) => {
    const { events, watcher } = setup(([id]) => [job(id, 'FAILED', detail as Partial<JobDetail>)]);
    watcher.add({ jobId: 'j', size: 1, ref: 'x' });
    await watcher.run();
    expect(events.find((e) => e.type === 'finished')).toMatchObject({ outcome: { status: 'FAILED', failure } });
  });

  test('array job: watched through its parent; ListJobs(FAILED) only when failures appear; every child reported once', async () => {
    const size = 300;
    const { clock, events, watcher } = setup((ids) =>
      ids.map((id) => {
        if (!id.includes(':')) {
          const t = clock.now();
          const status = t < 600_000 ? 'RUNNING' : 'FAILED';
          const summary: Record<string, number> = t < 300_000 ? { RUNNING: 300 } : t < 600_000 ? { RUNNING: 299, FAILED: 1 } : { SUCCEEDED: 299, FAILED: 1 };
          return job(id, status, { arrayProperties: { size, statusSummary: summary } });
        }
        const index = Number(id.split(':')[1]);
        return index === 7
          ? job(id, 'FAILED', { arrayProperties: { index }, statusReason: EXITED, container: { exitCode: 2, logStreamName: `s/${index}` } })
          : job(id, 'SUCCEEDED', { arrayProperties: { index }, container: { exitCode: 0, logStreamName: `s/${index}` } });
      }),
    );
    batchMock.on(ListJobsCommand).callsFake((input: { jobStatus: string }) => ({
      jobSummaryList: input.jobStatus === 'FAILED' ? [{ jobId: 'arr:7', jobName: 'n', status: 'FAILED' }] : Array.from({ length: size }, (_, i) => ({ jobId: `arr:${i}`, jobName: 'n', status: 'RUNNING' })),
    }));
    watcher.add({ jobId: 'arr', size, firstIndex: 10_000, ref: 'fit' });
    await watcher.run();
    const finished = events.filter((e) => e.type === 'finished') as Extract<WatchEvent, { type: 'finished' }>[];
    expect(finished).toHaveLength(size);
    expect(new Set(finished.map((e) => e.childIndex)).size).toBe(size);
    expect(finished[0]).toMatchObject({ childIndex: 10_007, outcome: { status: 'FAILED', exitCode: 2, logStreamName: 's/7' } });
    expect(events.filter((e) => e.type === 'started')).toHaveLength(size);
    expect(events.filter((e) => e.type === 'progress').map((e) => (e as { summary: unknown }).summary)).toEqual([
      { RUNNING: 300 },
      { RUNNING: 299, FAILED: 1 },
      { SUCCEEDED: 299, FAILED: 1 },
    ]);
    // RUNNING once (the started count grew from 0 to 300, then stayed), FAILED once
    expect(batchMock.commandCalls(ListJobsCommand).map((c) => c.args[0].input)).toEqual([
      { arrayJobId: 'arr', jobStatus: 'RUNNING', maxResults: 1000 },
      { arrayJobId: 'arr', jobStatus: 'FAILED', maxResults: 1000 },
    ]);
    // children described 100 at a time: 3 (the 300 running, for `started`) + 1 (failed child) + 3 (the 299 others once finished)
    const childCalls = batchMock.commandCalls(DescribeJobsCommand).filter((c) => c.args[0].input.jobs![0].includes(':'));
    expect(childCalls.map((c) => c.args[0].input.jobs!.length)).toEqual([100, 100, 100, 1, 100, 100, 99]);
  });

  test('array children reported live: ListJobs(RUNNING) only when the started count grows, new children described for their log streams, ended ones for their results', async () => {
    const size = 250;
    // 0–300 s nothing runs; 300–900 s children 0–149 run; 900–1200 s 0–149 done, 150–249 run; then all done.
    const childStatus = (i: number, t: number) => (t < 300_000 ? 'RUNNABLE' : i < 150 ? (t < 900_000 ? 'RUNNING' : 'SUCCEEDED') : t < 900_000 ? 'RUNNABLE' : t < 1_200_000 ? 'RUNNING' : 'SUCCEEDED');
    const { clock, events, watcher } = setup((ids) =>
      ids.map((id) => {
        const t = clock.now();
        if (!id.includes(':')) {
          const summary: Record<string, number> = {};
          for (let i = 0; i < size; i += 1) summary[childStatus(i, t)] = (summary[childStatus(i, t)] ?? 0) + 1;
          return job(id, summary.SUCCEEDED === size ? 'SUCCEEDED' : 'RUNNING', { startedAt: undefined, arrayProperties: { size, statusSummary: summary } });
        }
        const index = Number(id.split(':')[1]);
        const status = childStatus(index, t);
        return job(id, status, { startedAt: index < 150 ? 300_000 : 900_000, arrayProperties: { index }, container: { exitCode: status === 'SUCCEEDED' ? 0 : undefined, logStreamName: `s/${index}` } });
      }),
    );
    batchMock.on(ListJobsCommand).callsFake((input: { jobStatus: string }) => ({
      jobSummaryList: Array.from({ length: size }, (_, i) => i).filter((i) => childStatus(i, clock.now()) === input.jobStatus).map((i) => ({ jobId: `arr:${i}`, jobName: 'n', status: input.jobStatus })),
    }));
    watcher.add({ jobId: 'arr', size, firstIndex: 5, ref: 'fit' });
    await watcher.run();
    const started = events.filter((e) => e.type === 'started') as Extract<WatchEvent, { type: 'started' }>[];
    const firstFinished = events.findIndex((e) => e.type === 'finished');
    // every child started once, each while it ran (before any child was reported finished), with its stream
    expect(started).toHaveLength(size);
    expect(new Set(started.map((e) => e.childIndex)).size).toBe(size);
    expect(events.findIndex((e) => e.type === 'started' && e.childIndex === 5 + 249)).toBeLessThan(firstFinished);
    expect(started.find((e) => e.childIndex === 5 + 42)).toMatchObject({ at: 300_000, logStreamName: 's/42' });
    // one ListJobs per growth of the started count, however many polls saw the same summary
    expect(batchMock.commandCalls(ListJobsCommand).map((c) => c.args[0].input)).toEqual([
      { arrayJobId: 'arr', jobStatus: 'RUNNING', maxResults: 1000 },
      { arrayJobId: 'arr', jobStatus: 'RUNNING', maxResults: 1000 },
    ]);
    const childCalls = batchMock.commandCalls(DescribeJobsCommand).filter((c) => c.args[0].input.jobs![0].includes(':'));
    // 150 newly running children; then 100 newly running and the first 150, which no longer run (ended); the last 100 once the parent ended
    expect(childCalls.map((c) => c.args[0].input.jobs!.length)).toEqual([100, 50, 100, 100, 50, 100]);
    // so the first 150 are reported finished while the array still runs, not when it ends
    const arrayEnded = events.findIndex((e) => e.type === 'progress' && e.summary.SUCCEEDED === size);
    expect(events.findIndex((e) => e.type === 'finished' && e.childIndex === 5 + 149)).toBeLessThan(arrayEnded);
    expect(events.findIndex((e) => e.type === 'finished' && e.childIndex === 5 + 150)).toBeGreaterThan(arrayEnded);
    expect(events.filter((e) => e.type === 'finished')).toHaveLength(size);
    expect(watcher.calls.snapshot().ListJobs).toBe(2);

    // Following no logs live (childLogStreams: false): `started` from ListJobs' summaries, no DescribeJobs for them.
    batchMock.resetHistory();
    const quiet: WatchEvent[] = [];
    clock.time = 0;
    const w = new BatchWatcher(new BatchClient({ region: 'us-east-1' }), (e) => quiet.push(e), { clock, childLogStreams: false });
    batchMock.on(ListJobsCommand).callsFake((input: { jobStatus: string }) => ({
      jobSummaryList: Array.from({ length: size }, (_, i) => i)
        .filter((i) => childStatus(i, clock.now()) === input.jobStatus)
        .map((i) => ({ jobId: `arr:${i}`, jobName: 'n', status: input.jobStatus, startedAt: i < 150 ? 300_000 : 900_000, arrayProperties: { index: i } })),
    }));
    w.add({ jobId: 'arr', size, firstIndex: 5, ref: 'fit' });
    await w.run();
    expect(quiet.filter((e) => e.type === 'started')).toHaveLength(size);
    expect(quiet.find((e) => e.type === 'started' && e.childIndex === 5 + 42)).toEqual(expect.objectContaining({ at: 300_000, logStreamName: undefined }));
    const described = batchMock.commandCalls(DescribeJobsCommand).filter((c) => c.args[0].input.jobs![0].includes(':'));
    // only for results: the 150 ended ones mid-run, the last 100 at the end
    expect(described.map((c) => c.args[0].input.jobs!.length)).toEqual([100, 50, 100]);
  });

  test('stuck RUNNABLE: one event saying why (no environment can place it vs capacity)', async () => {
    const { clock, events, watcher } = setup(([id]) => [
      job(id, clock.now() < 1_200_000 ? 'RUNNABLE' : 'SUCCEEDED', { container: { resourceRequirements: [{ type: 'VCPU', value: '96' }, { type: 'MEMORY', value: '8192' }] } }),
    ]);
    const environments = [{ computeEnvironmentName: 'spot', computeEnvironmentArn: 'a', ecsClusterArn: 'c', computeResources: { type: 'SPOT' as const, maxvCpus: 64, subnets: [] } }];
    const w = new BatchWatcher(new BatchClient({ region: 'us-east-1' }), (e) => events.push(e), {
      clock,
      queueInfo: async (queue) => ({ queue, computeEnvironments: environments }),
    });
    void watcher;
    w.add({ jobId: 'j', size: 1, ref: 'x', queue: 'q' });
    await w.run();
    expect(events.filter((e) => e.type === 'stuck')).toEqual([
      expect.objectContaining({ explanation: 'no compute environment can place it (96 vCPUs, 8192 MiB, 0 GPUs): spot has maxvCpus 64 < 96 vCPUs asked' }),
    ]);
    expect(explainRunnable({ container: { resourceRequirements: [{ type: 'VCPU', value: '2' }] } }, environments)).toMatch(/^waiting for capacity: a compute environment can place it/);
    expect(explainRunnable({ container: { resourceRequirements: [{ type: 'GPU', value: '1' }] } }, [{ ...environments[0], computeResources: { ...environments[0].computeResources, instanceTypes: ['m5.large'] } }])).toMatch(
      /spot has no GPU instance types \(m5.large\)$/,
    );
  });

  test('a multi-container (output-passing) job: exit code, reason and log stream come from the main container', async () => {
    const { events, watcher } = setup(([id]) => [
      job(id, 'FAILED', {
        statusReason: EXITED,
        container: undefined,
        ecsProperties: {
          taskProperties: [
            {
              containers: [
                { name: 'fetch', image: 'helper', exitCode: 0, logStreamName: 'io/fetch/1' },
                { name: 'main', image: 'busybox', exitCode: 137, reason: OOM, logStreamName: 'io/main/1', resourceRequirements: [{ type: 'MEMORY', value: '2048' }] },
                { name: 'upload', image: 'helper', exitCode: 137, logStreamName: 'io/upload/1' },
              ],
            },
          ],
        },
      }),
    ]);
    watcher.add({ jobId: 'j', size: 1, ref: 'x' });
    await watcher.run();
    expect(events.find((e) => e.type === 'finished')).toMatchObject({
      outcome: { exitCode: 137, logStreamName: 'io/main/1', failure: { kind: 'oom', hint: 'raise resources.memory above 2048 MiB' } },
    });
  });

  test('a job DescribeJobs does not name yet (eventual consistency after SubmitJob) is asked about again after the interval, not at once', async () => {
    // Batch's reads are eventually consistent: a job just submitted may be missing from DescribeJobs.
    let calls = 0;
    const { clock, events, watcher } = setup(([id]) => {
      calls += 1;
      // without the interval the clock never moves: a bounded answer ends the loop so the count fails the test
      if (clock.now() < 30_000 && calls < 1000) return [];
      return [job(id, 'SUCCEEDED', { container: { exitCode: 0 } })];
    });
    watcher.add({ jobId: 'j', size: 1, ref: 'x' });
    await watcher.run();
    expect(events.map((e) => e.type)).toEqual(['started', 'finished']);
    // 5 s minimum interval: the first look at 5 s, then every 5 s until 30 s
    expect(calls).toBe(6);
    expect(clock.now()).toBe(30_000);
  });

  test('terminated jobs are classified apart from failures', () => {
    expect(classifyFailure({ statusReason: 'Terminated by metaflow-cdk: interrupted (Ctrl-C)' })).toEqual({
      kind: 'terminated',
      message: 'terminated: Terminated by metaflow-cdk: interrupted (Ctrl-C)',
      retryable: false,
    });
  });
});

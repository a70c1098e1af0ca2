/**
 * The Batch layer on a simulated AWS Batch (aws-sdk-client-mock answering from a simulated
 * clock): a flow start → 1,000-task foreach (10 simulated minutes each, 100 running at once) →
 * join → end, driven by the real registry, queue inspector, submitter and watcher. Prints Batch
 * API calls per operation and in total, and the wall time to submit a 10,000-task foreach.
 * Targets (issue 9): ≤ 200 Batch calls for the 1,000-task run; ≤ 5 s to submit 10,000 tasks.
 *
 *   npm run bench:batch
 */
import {
  BatchClient,
  DescribeComputeEnvironmentsCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobQueuesCommand,
  DescribeJobsCommand,
  JobDetail,
  ListJobsCommand,
  RegisterJobDefinitionCommand,
  SubmitJobCommand,
  SubmitJobCommandInput,
} from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { performance } from 'node:perf_hooks';
import { ApiCallCounter } from '../runner/batch/api-calls';
import { BatchClock } from '../runner/batch/clock';
import { JobDefinitionRegistry } from '../runner/batch/job-definitions';
import { QueueInspector } from '../runner/batch/queues';
import { BatchSubmitter, JobTemplate, SubmittedJob } from '../runner/batch/submitter';
import { BatchWatcher } from '../runner/batch/watcher';
import { effectivePolicies } from '../runner/policy';
import { TaskCode, TaskIo, taskJobDefinition } from '../runner/batch/job-shape';

/** The jobs' I/O and code package (the bench counts API calls; nothing runs). */
const BENCH_IO: TaskIo = { datastoreUrl: 's3://bench/metaflow', fetchKeys: [], outputKey: 'SweepFlow/1/fit/{taskId}/attempt-0' };
const BENCH_CODE: TaskCode = { codeUrl: `s3://bench/metaflow/SweepFlow/data/ab/ab${'0'.repeat(38)}` };

const MINUTE = 60_000;
const WIDTH = 1000;
const TASK_MS = 10 * MINUTE;
const SHORT_MS = 1 * MINUTE;
const CONCURRENCY = 100;
const SCHEDULING_MS = 30_000;

class SimClock implements BatchClock {
  time = 0;
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.time += Math.max(0, ms);
  }
}

interface SimJob {
  readonly id: string;
  readonly createdAt: number;
  readonly size: number;
  readonly durationMs: number;
}

/** A Batch that runs every job it is given on schedule: state is a function of the clock. */
function simulatedBatch(clock: SimClock, staggerMs: number) {
  const mock = mockClient(BatchClient);
  const jobs = new Map<string, SimJob>();
  let next = 0;
  const childTimes = (job: SimJob, i: number) => {
    const start = job.createdAt + SCHEDULING_MS + Math.floor(i / CONCURRENCY) * job.durationMs + (i % CONCURRENCY) * staggerMs;
    return { start, end: start + job.durationMs };
  };
  const state = (start: number, end: number) => (clock.now() < start ? 'RUNNABLE' : clock.now() < end ? 'RUNNING' : 'SUCCEEDED');
  const describe = (id: string): JobDetail => {
    const [parentId, child] = id.split(':');
    const job = jobs.get(parentId)!;
    const base = { jobId: id, jobName: id, jobQueue: 'q', jobDefinition: 'd', createdAt: job.createdAt };
    if (child !== undefined) {
      const { start, end } = childTimes(job, Number(child));
      const status = state(start, end);
      return { ...base, status, startedAt: start, arrayProperties: { index: Number(child) }, container: { exitCode: status === 'SUCCEEDED' ? 0 : undefined, logStreamName: `s/${id}` }, attempts: status === 'SUCCEEDED' ? [{ container: { exitCode: 0 } }] : [] };
    }
    if (job.size === 1) {
      const { start, end } = childTimes(job, 0);
      const status = state(start, end);
      return { ...base, status, startedAt: start, container: { exitCode: status === 'SUCCEEDED' ? 0 : undefined, logStreamName: `s/${id}` }, attempts: [] };
    }
    const summary: Record<string, number> = {};
    for (let i = 0; i < job.size; i += 1) {
      const { start, end } = childTimes(job, i);
      const s = state(start, end);
      summary[s] = (summary[s] ?? 0) + 1;
    }
    const status = summary.SUCCEEDED === job.size ? 'SUCCEEDED' : summary.RUNNING || summary.SUCCEEDED ? 'RUNNING' : 'PENDING';
    return { ...base, status, arrayProperties: { size: job.size, statusSummary: summary } } as JobDetail;
  };
  mock
    .on(DescribeJobQueuesCommand)
    .resolves({ jobQueues: [{ jobQueueName: 'q', jobQueueArn: 'arn:q', priority: 1, state: 'ENABLED', status: 'VALID', computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }] }] })
    .on(DescribeComputeEnvironmentsCommand)
    .resolves({ computeEnvironments: [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', computeResources: { type: 'SPOT', maxvCpus: 400, subnets: [] } }] })
    .on(DescribeJobDefinitionsCommand)
    .resolves({ jobDefinitions: [] })
    .on(RegisterJobDefinitionCommand)
    .callsFake((input) => ({ jobDefinitionArn: `arn:def/${input.jobDefinitionName}:1`, jobDefinitionName: input.jobDefinitionName, revision: 1 }))
    .on(SubmitJobCommand)
    .callsFake((input: SubmitJobCommandInput) => {
      const id = `job-${++next}`;
      const size = input.arrayProperties?.size ?? 1;
      jobs.set(id, { id, createdAt: clock.now(), size, durationMs: size > 1 || input.jobName!.includes('-fit-') ? TASK_MS : SHORT_MS });
      return { jobId: id, jobName: input.jobName, jobArn: `arn:${id}` };
    })
    .on(DescribeJobsCommand)
    .callsFake((input: { jobs: string[] }) => ({ jobs: input.jobs.map(describe) }))
    .on(ListJobsCommand)
    .callsFake((input: { arrayJobId: string; jobStatus: string }) => {
      const job = jobs.get(input.arrayJobId)!;
      const ids: { jobId: string; startedAt: number; arrayProperties: { index: number } }[] = [];
      for (let i = 0; i < job.size; i += 1) {
        const { start, end } = childTimes(job, i);
        if (state(start, end) === input.jobStatus) ids.push({ jobId: `${job.id}:${i}`, startedAt: start, arrayProperties: { index: i } });
      }
      return { jobSummaryList: ids };
    });
  return mock;
}

async function simulatedRun(staggerMs: number, childLogStreams = true): Promise<{ calls: ApiCallCounter; minutes: number; finished: number; live: { count: number; delayMs: number; finishedLateMs: number; finishedCount: number } }> {
  const clock = new SimClock();
  const mock = simulatedBatch(clock, staggerMs);
  const batch = new BatchClient({ region: 'us-east-1' });
  const calls = new ApiCallCounter();
  const registry = new JobDefinitionRegistry(batch, calls);
  const queues = new QueueInspector(batch, calls);
  const submitter = new BatchSubmitter(batch, calls);
  let finished = 0;
  // Array children reported `started` while they still ran (their logs can be followed live), and how late.
  const live = { count: 0, delayMs: 0, finishedLateMs: 0, finishedCount: 0 };
  const watcher = new BatchWatcher(batch, (e) => {
    if (e.type === 'finished') finished += 1;
    if (e.type === 'finished' && e.job.size > 1 && e.outcome.startedAt !== undefined) {
      live.finishedCount += 1;
      live.finishedLateMs += clock.now() - (e.outcome.startedAt + TASK_MS);
    }
    if (e.type === 'started' && e.job.size > 1 && clock.now() < e.at + TASK_MS) {
      live.count += 1;
      live.delayMs += clock.now() - e.at;
    }
  }, { clock, calls, childLogStreams });
  const policies = effectivePolicies({});
  const info = await queues.inspect('q');
  const definition = taskJobDefinition({ flow: 'SweepFlow', step: 'any', image: 'python:3.12-slim', policies, platform: info.platform ?? 'EC2' }, ['true']);
  const name = await registry.ensure(definition);
  const template = (step: string): JobTemplate => ({ flow: 'SweepFlow', runId: '1', step, attempt: 0, queue: 'q', jobDefinition: name, definition, env: { MF_STEP: step }, io: BENCH_IO, code: BENCH_CODE });
  const watch = (jobs: readonly SubmittedJob[]) => {
    for (const job of jobs) watcher.add({ jobId: job.jobId, size: job.size, firstIndex: job.firstIndex, ref: job.jobName });
    return watcher.run();
  };
  await watch([await submitter.submitTask(template('start'), '0')]);
  await watch(await submitter.submitGroup(template('fit'), WIDTH));
  await watch([await submitter.submitTask(template('join'), '0')]);
  await watch([await submitter.submitTask(template('end'), '0')]);
  mock.restore();
  return { calls, minutes: clock.now() / MINUTE, finished, live };
}

async function submitTenThousand(): Promise<number> {
  const mock = mockClient(BatchClient);
  mock.on(SubmitJobCommand).resolves({ jobId: 'j', jobName: 'n', jobArn: 'a' });
  const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
  const started = performance.now();
  const jobs = await submitter.submitGroup(
    { flow: 'SweepFlow', runId: '1', step: 'fit', attempt: 0, queue: 'q', jobDefinition: 'd', definition: taskJobDefinition({ flow: 'SweepFlow', step: 'fit', image: 'python:3.12-slim', policies: effectivePolicies({}), platform: 'EC2' }, ['true']), env: { MF_STEP: 'fit' }, io: BENCH_IO, code: BENCH_CODE },
    10_000,
  );
  const ms = performance.now() - started;
  mock.restore();
  if (jobs.length !== 1) throw new Error(`expected one array job, got ${jobs.length}`);
  return ms;
}

function print(title: string, run: Awaited<ReturnType<typeof simulatedRun>>, target = ''): void {
  console.log(title);
  console.log(`  simulated time ${run.minutes.toFixed(1)} min, ${run.finished} task events 'finished'`);
  console.log(`  foreach children reported 'started' while running: ${run.live.count} of ${WIDTH}${run.live.count ? `, on average ${(run.live.delayMs / run.live.count / 1000).toFixed(0)} s after they started` : ''}`);
  console.log(`  foreach children reported 'finished' on average ${(run.live.finishedLateMs / Math.max(1, run.live.finishedCount) / MINUTE).toFixed(1)} min after they ended`);
  console.log('  Batch API calls per operation:');
  for (const [op, n] of Object.entries(run.calls.snapshot())) console.log(`    ${op.padEnd(28)} ${n}`);
  console.log(`  total Batch API calls          ${run.calls.total}${target}`);
}

async function main(): Promise<void> {
  const run = await simulatedRun(0);
  print(`Simulated run: start → ${WIDTH}-task foreach (10 min each, ${CONCURRENCY} at once, each wave starting together) → join → end`, run, ' (target ≤ 200)');
  // Children of a wave starting one by one, 6 s apart: the running count changes at nearly every poll.
  const staggered = await simulatedRun(TASK_MS / CONCURRENCY);
  print(`The same with the children of each wave starting ${TASK_MS / CONCURRENCY / 1000} s apart (not a target, the worst case for live 'started')`, staggered);
  const quiet = await simulatedRun(TASK_MS / CONCURRENCY, false);
  print(`The same, staggered, with --logs failed|none (no log streams needed while tasks run: 'started' from ListJobs alone)`, quiet);
  const ms = await submitTenThousand();
  console.log(`Submit a 10,000-task foreach: ${ms.toFixed(1)} ms wall (1 SubmitJob; target ≤ 5000 ms)`);
  if (run.calls.total > 200 || ms > 5000 || run.finished !== WIDTH + 3) process.exitCode = 1;
}

void main();

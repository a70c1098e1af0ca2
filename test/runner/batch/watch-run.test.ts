/**
 * Watching a run again after its runner died (runner/batch/watch-run.ts) on a simulated Batch
 * (fake-batch.ts: each job runs in its image's stand-in with the task runtime, S3 on moto): the run record says `running` with a dead
 * owner, its jobs were submitted by the runner that died and still run; the watch follows them to
 * the end and records their attempts, outputs and status.json.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { BatchClient, DescribeJobsCommand } from '@aws-sdk/client-batch';
import { findRunJobs } from '../../../runner/batch/terminator';
import { BatchSubmitter, JobTemplate } from '../../../runner/batch/submitter';
import { watchRunToEnd } from '../../../runner/batch/watch-run';
import { formatRun } from '../../../runner/cli/commands/show';
import { taskJobDefinition } from '../../../runner/batch/job-shape';
import { effectivePolicies } from '../../../runner/policy';
import { S3Datastore } from '../../../runner/datastore/s3';
import { useMotoBucket } from '../../support/moto-bucket';
import { expectPortableJobs, motoDatastore, storeTestCodePackage } from './code-package-fixture';
import { RunRecord, TaskRecord } from '../../../runner/datastore/types';
import { checkRunner } from '../../../runner/orchestrator/liveness';
import { sh } from '../support/harness';
import { FakeBatch, QUEUE_ARN } from './fake-batch';

const FLOW = 'WatchFlow';
const bucket = useMotoBucket('mf-data', 'mf');
let codeUrl: string;
let datastore: S3Datastore;
beforeAll(async () => {
  datastore = motoDatastore(bucket.endpoint, 'mf-data', 'mf');
  codeUrl = await storeTestCodePackage(datastore, FLOW);
});

let fake: FakeBatch;
beforeEach(() => {
  fake = new FakeBatch('EC2', {}, bucket.endpoint);
});
afterEach(() => {
  expectPortableJobs(fake.submitted, fake.definitions);
  fake.restore();
});
const done = (step: string, taskId = '0'): TaskRecord => ({ step, taskId, status: 'succeeded', inputs: [], attempts: [{ attempt: 0, status: 'succeeded', exitCode: 0 }] });

/** A run whose runner (a process that has exited) died while `tasks` were its state. */
async function deadRun(datastore: S3Datastore, tasks: TaskRecord[]): Promise<RunRecord> {
  const deadPid = spawnSync('true').pid!;
  const record: RunRecord = {
    flow: FLOW,
    runId: datastore.newRunId(),
    status: 'running',
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    parameters: {},
    withRetry: false,
    compute: 'batch',
    owner: { pid: deadPid, host: os.hostname(), heartbeatAt: new Date(Date.now() - 30_000).toISOString() },
    taskCount: tasks.length,
    tasks,
  };
  const { tasks: _t, ...summary } = record;
  await datastore.writeTaskChunk(FLOW, record.runId, 0, tasks);
  await datastore.writeRunSummary(summary, true);
  return (await datastore.readRun(record.runId))!;
}

/** A job template of `step` running `command`, its definition registered with the simulated Batch. */
function template(run: RunRecord, step: string, command: string[], env: Record<string, string> = {}, array = false): JobTemplate {
  const definition = taskJobDefinition({ flow: FLOW, step, image: 'python:3.12-slim', policies: effectivePolicies({}), platform: 'EC2' }, command);
  const arn = `arn:jd/${definition.jobDefinitionName}:1`;
  fake.definitions.set(arn, definition);
  const taskId = array ? '{taskId}' : '0';
  return {
    flow: FLOW, runId: run.runId, step, attempt: 0, queue: QUEUE_ARN, jobDefinition: arn, definition, env,
    io: { datastoreUrl: datastore.root, fetchKeys: [], outputKey: `${FLOW}/${run.runId}/${step}/${taskId}/attempt-0` },
    code: { codeUrl },
  };
}

async function watch(run: RunRecord) {
  const batch = new BatchClient({ region: 'us-east-1' });
  const jobs = await findRunJobs(batch, { flow: FLOW, runId: run.runId, queues: [QUEUE_ARN] });
  const lines: string[] = [];
  const result = await watchRunToEnd({ batch, datastore, run, jobs, deadBecause: checkRunner(run).reason!, watcher: { minIntervalMs: 5, maxIntervalMs: 20 }, onLine: (l) => lines.push(l) });
  return { ...result, lines, jobs, stored: (await datastore.readRun(run.runId))! };
}

test('a foreach array still running when the runner died: every child recorded, the failed one too; the run is failed, resume next', async () => {
  const run = await deadRun(datastore, [done('start'), ...[0, 1, 2].map((i): TaskRecord => ({ step: 'a', taskId: String(i), status: 'queued', inputs: ['start/0'], foreachIndex: i, attempts: [] }))]);
  expect(checkRunner(run).dead).toBe(true);
  fake.script = (step, index) => (step === 'a' && index === 2 ? { exitCode: 3, statusReason: 'Essential container in task exited' } : undefined);
  const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
  await submitter.submitGroup(template(run, 'a', sh('sleep 0.2'), { MF_TASK_ID_PREFIX: '' }, true), 3);

  const r = await watch(run);
  const task = (id: string) => r.stored.tasks.find((t) => `${t.step}/${t.taskId}` === id)!;
  expect(['start/0', 'a/0', 'a/1', 'a/2'].map((id) => task(id).status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'failed']);
  expect(task('a/1').attempts).toMatchObject([{ attempt: 0, status: 'succeeded', exitCode: 0, externalId: 'job-1:1', logRef: 'metaflow/default/job-1-1' }]);
  expect(task('a/1').attempts[0].startedAt).toBeDefined();
  // its usage names the compute environment of the job's queue (show's usage, runner/usage)
  expect(task('a/1').attempts[0].usage).toMatchObject({ capacity: 'EC2', computeEnvironment: 'ce' });
  expect(task('a/2').attempts).toMatchObject([{ status: 'failed', exitCode: 3, reason: 'exit code 3: Essential container in task exited' }]);
  expect((await datastore.readTaskStatus(`${FLOW}/${run.runId}/a/1`))?.status).toBe('succeeded');
  expect(r.stored.status).toBe('failed');
  expect(r.stored.error).toMatch(/^its runner died \(its runner \(pid \d+ on .*\) is gone; .*\); `metaflow-cdk watch` followed its 1 AWS Batch job to the end \(2 attempts succeeded, 1 failed\); `metaflow-cdk resume .*` runs what did not succeed$/);
  expect(r.stored.owner?.pid).toBe(process.pid);
  expect(r.lines).toContain('[a/2#0] failed: exit code 3: Essential container in task exited');
  expect(formatRun(r.stored)).toContain('failed: a/2 after 1 attempt(s): exit code 3');
});

test("the end step still running: recorded with its outputs committed, the run succeeds; an attempt the runner recorded is left alone", async () => {
  const startedEnd: TaskRecord = { step: 'end', taskId: '0', status: 'running', inputs: ['start/0'], attempts: [{ attempt: 0, status: 'running', exitCode: null, startedAt: new Date().toISOString(), externalId: 'job-2' }] };
  const run = await deadRun(datastore, [done('start'), startedEnd]);
  const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
  // start's job (finished long ago, recorded by the runner), then end's, still to run
  fake.script = (step) => (step === 'start' ? { exitCode: 0 } : undefined);
  await submitter.submitTask(template(run, 'start', sh('true')), '0');
  await submitter.submitTask(template(run, 'end', sh(`sleep 0.2; echo '{"total": 6}' > "$MF_OUTPUT_DIR/outputs.json"`)), '0');

  const r = await watch(run);
  expect(r.jobs).toHaveLength(2);
  expect(r.recorded).toEqual({ succeeded: 1, failed: 0 });
  expect(r.stored.status).toBe('succeeded');
  expect(r.stored.error).toBeUndefined();
  const end = r.stored.tasks.find((t) => t.step === 'end')!;
  expect(end.status).toBe('succeeded');
  expect(end.attempts).toHaveLength(1);
  expect(end.attempts[0]).toMatchObject({ status: 'succeeded', externalId: 'job-2' });
  expect(await datastore.readOutputs(`${FLOW}/${run.runId}/end/0`)).toEqual({ total: 6 });
  expect(r.stored.tasks.find((t) => t.step === 'start')!.attempts).toEqual([{ attempt: 0, status: 'succeeded', exitCode: 0 }]);
  expect(r.lines).toEqual(['[end/0#0] succeeded: exit code 0']);
  expect(fake.batch.commandCalls(DescribeJobsCommand).length).toBeGreaterThan(1);
});

/**
 * A Step Functions run in the S3 datastore, read back by the CLI: compiled flows executed with
 * aws-local-stepfunctions, their S3 tasks (the run record) going to moto_server's S3, every Batch
 * job played for real (test/support/ecs-task-player.ts: the fetch, main and upload containers in
 * real shells, so the status.json files are the upload helper's own). Then `runs`, `show` and
 * `logs` (the CLI, in-process through main()) read the runs from S3 alone, logs from moto's
 * CloudWatch Logs through the Batch job id (DescribeJobs from aws-sdk-client-mock: moto cannot
 * run multi-container jobs).
 */
import { BatchClient, DescribeJobsCommand } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { startedRunSortKey } from '../../../runner/datastore/layout';
import type { CompiledFlow } from '../../../runner/sfn/compiler/types';
import type { RunSummary } from '../../../runner/datastore/types';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, type MotoServer, workerMoto } from '../../support/moto';
import { BatchTaskPlayer, type PlayedJob } from './batch-task-player';
import { datastoreCli, useMotoForSdk } from './support';
import { type AwsHandlers, CODE_PACKAGE, CODE_PACKAGE_KEY, compileValid, EXECUTION_ARN, EXECUTION, graphOf, OPTIONS, runMachine, sh } from './compiler-support';

const BUCKET = 'mf-bucket';
const ROOT = OPTIONS.datastoreRoot;
const IMAGE = 'public.ecr.aws/docker/library/python:3.12-slim';
const GROUP = '/aws/batch/job';
const OK_RUN = 'sfn-20261121-200000-aaa111';
const FAILED_RUN = 'sfn-20261121-200100-bbb222';
const arnOf = (name: string) => EXECUTION_ARN.replace(EXECUTION, name);

const batchMock = mockClient(BatchClient);

describeWithTool('moto_server', 'a Step Functions run in the S3 datastore: runs, show and logs (moto_server)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let logs: CloudWatchLogsClient;
  const savedEnv = { ...process.env };
  /** Batch job id → its main container's log stream, as DescribeJobs would answer. */
  const jobs = new Map<string, string>();
  let seenWhileRunning: { summary?: RunSummary; index?: string } = {};

  /** An object of the test bucket (moto), or undefined. */
  const getObject = async (key: string) => {
    try {
      return await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToString();
    } catch (err) {
      if ((err as Error).name === 'NoSuchKey') return undefined;
      throw err;
    }
  };

  const cli = (...args: string[]) => datastoreCli(ROOT, ...args);

  /**
   * The machine's AWS: S3 tasks on moto; each Batch job played (job ids `<flow>-job-<n>`), its main
   * container's lines put in CloudWatch Logs as Batch's awslogs driver would; `before` runs first.
   */
  const aws = (flow: string, compiled: CompiledFlow, submits: string[], before?: (state: string) => Promise<void>): AwsHandlers => {
    const player = new BatchTaskPlayer(compiled, moto.endpoint, (n) => `${flow}-job-${n}`);
    return {
      getObject: (bucket, key) => (bucket === BUCKET ? getObject(key) : Promise.resolve(undefined)),
      putObject: async (bucket, key, body) => void (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))),
      submitJob: async (state, params) => {
        submits.push(state);
        await before?.(state);
        const result = await player.submitJob(state, params);
        await logJob(player.jobs.at(-1)!);
        return result;
      },
    };
  };

  /** A played job's container lines in CloudWatch Logs, as Batch's awslogs driver would put them. */
  async function logJob(job: PlayedJob): Promise<void> {
    const stream = `${job.params.JobDefinition}/default/${job.jobId}`;
    await logs.send(new CreateLogStreamCommand({ logGroupName: GROUP, logStreamName: stream }));
    const lines = job.children[0].lines;
    const t0 = Date.now();
    if (lines.length) await logs.send(new PutLogEventsCommand({ logGroupName: GROUP, logStreamName: stream, logEvents: lines.map((message, i) => ({ message, timestamp: t0 + i })) }));
    jobs.set(job.jobId, stream);
  }

  const okFlow = graphOf({
    name: 'SfnRuns',
    image: IMAGE,
    parameters: { who: { default: 'world' } },
    steps: [
      { name: 'start', command: sh('echo "hello $MF_PARAM_WHO"; echo \'{"n": 1}\' > "$MF_OUTPUT_DIR/outputs.json"'), next: 'flaky' },
      { name: 'flaky', command: sh('[ "$MF_RETRY_COUNT" = 1 ] || { echo "attempt $MF_RETRY_COUNT fails"; exit 3; }; echo "attempt 1 works"'), next: 'end', retry: { times: 1 } },
      { name: 'end', command: sh('echo done') },
    ],
  });
  const failingFlow = graphOf({
    name: 'SfnFails',
    image: IMAGE,
    steps: [
      { name: 'start', command: sh('echo starting'), next: 'broken' },
      { name: 'broken', command: sh('echo "broken: no data" >&2; exit 5'), next: 'end' },
      { name: 'end', command: sh('echo never') },
    ],
  });

  beforeAll(async () => {
    moto = await workerMoto();
    useMotoForSdk(moto.endpoint);
    s3 = new S3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    logs = new CloudWatchLogsClient({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `metaflow/${CODE_PACKAGE_KEY}`, Body: CODE_PACKAGE.body }));
    await logs.send(new CreateLogGroupCommand({ logGroupName: GROUP }));
    batchMock.on(DescribeJobsCommand).callsFake(({ jobs: ids }: { jobs: string[] }) => ({
      // A job whose stream is '' never started its containers (no log streams at all).
      jobs: ids.filter((id) => jobs.has(id)).map((id) => ({
        jobId: id,
        jobName: 'x',
        status: jobs.get(id) ? 'SUCCEEDED' : 'FAILED',
        ...(jobs.get(id) ? {} : { statusReason: 'CannotPullContainerError: pull access denied' }),
        // One container per job: its log stream under `container` (none when it never started).
        container: jobs.get(id) ? { logStreamName: jobs.get(id) } : {},
      })),
    }));
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    s3?.destroy();
    logs?.destroy();
    batchMock.restore();
    process.env = savedEnv;
    await moto?.stop();
  });

  test('executions: the record is written before the first task, then the end; the machines fail and succeed as without it', async () => {
    const okCompiled = compileValid(okFlow);
    const okSubmits: string[] = [];
    const beforeStart = async (state: string) => {
      if (state !== 'start') return;
      const text = await getObject(`metaflow/SfnRuns/${OK_RUN}/run.json`);
      seenWhileRunning = { summary: text ? JSON.parse(text) : undefined, index: await getObject(`metaflow/.index/ids/${OK_RUN}.json`) };
    };
    const ok = await runMachine(okCompiled, { Parameters: { who: 'mars' } }, aws('SfnRuns', okCompiled, okSubmits, beforeStart), OK_RUN);
    expect(ok.error).toBeUndefined();
    expect(ok.output).toEqual({ params: { who: 'mars' }, caught: {}, ctx: {} });
    expect(okSubmits).toEqual(['start', 'flaky', 'flaky', 'end']);

    // The index files runs by start time to the second: start the second run in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const failingCompiled = compileValid(failingFlow);
    const failedSubmits: string[] = [];
    const failed = await runMachine(failingCompiled, {}, aws('SfnFails', failingCompiled, failedSubmits), FAILED_RUN);
    expect(failedSubmits).toEqual(['start', 'broken']);
    // The execution fails with the task's own error, after the record says so.
    expect(JSON.parse(failed.error!.message.replace(/^[^{]*/, ''))).toMatchObject({ JobId: 'SfnFails-job-2', JobName: 'SfnFails-broken', Status: 'FAILED', StatusReason: 'Essential container in task exited' });

    expect(seenWhileRunning.summary).toMatchObject({
      flow: 'SfnRuns', runId: OK_RUN, status: 'running', orchestrator: 'step-functions', executionArn: arnOf(OK_RUN), compute: 'batch', parameters: { who: 'mars' }, taskCount: 0,
      // The code package its jobs load, for `code` and `register` (the URL ends in its sha1).
      codePackage: { url: OPTIONS.codePackageUrl, sha1: CODE_PACKAGE.sha1 },
    });
    expect(JSON.parse(seenWhileRunning.index!)).toEqual({ flow: 'SfnRuns', runId: OK_RUN, startedAt: seenWhileRunning.summary!.startedAt });
    // The index entry is filed under the start time, digits inverted by the machine: the reader's own sort key.
    const okRecord = JSON.parse((await getObject(`metaflow/SfnRuns/${OK_RUN}/run.json`))!) as RunSummary;
    expect(await getObject(`metaflow/.index/runs/${startedRunSortKey(okRecord.startedAt, OK_RUN)}.json`)).toBe(seenWhileRunning.index);
    expect(okRecord).toMatchObject({ status: 'succeeded', finishedAt: expect.stringMatching(/^\d{4}-/) });
    const failedRecord = JSON.parse((await getObject(`metaflow/SfnFails/${FAILED_RUN}/run.json`))!) as RunSummary;
    expect(failedRecord).toMatchObject({ status: 'failed', error: 'States.TaskFailed', finishedAt: expect.stringMatching(/^\d{4}-/) });
  }, 120_000);

  test('runs --all: both, newest first, with their task counts from the status.json files', async () => {
    // Step Functions runs carry no user tag: `runs` alone lists the current user's runs.
    expect((await cli('runs')).stdout).toMatch(/^no runs tagged user:\S+ in s3:\/\/\S+; 2 other runs not shown \(--all lists every run\)\n$/);
    const r = await cli('runs', '--all');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => l.split(/\s+/));
    expect(rows[0]).toEqual(['run', 'flow', 'status', 'started', 'duration', 'tasks', 'tags']);
    expect(rows.slice(1).map((c) => [c[0], c[1], c[2], c[5]])).toEqual([
      [FAILED_RUN, 'SfnFails', 'failed', '2'],
      [OK_RUN, 'SfnRuns', 'succeeded', '3'],
    ]);
    expect(rows[1][4]).toMatch(/^\d+(\.\d)?m?s$|^\d+m\d+s$/);
  });

  test('show: the steps from the status.json files, the execution, and where the history is', async () => {
    const r = await cli('show', OK_RUN);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Run ${OK_RUN} of SfnRuns: succeeded in \\S+$`));
    expect(lines.slice(1, 4)).toEqual([
      `  started ${JSON.parse((await getObject(`metaflow/SfnRuns/${OK_RUN}/run.json`))!).startedAt} on batch by Step Functions`,
      `  execution ${arnOf(OK_RUN)}`,
      '  parameters who="mars"',
    ]);
    expect(r.stdout).toMatch(/^start\s+1\s+1\s+1\s+0\s+0\s+0\s+0\s/m);
    // The retried task: a retry is a new job, whose runtime keeps the earlier attempt in status.json (2 attempts, the last succeeded).
    expect(r.stdout).toMatch(/^flaky\s+1\s+2\s+1\s+0\s+0\s+0\s+0\s/m);
    expect(r.stdout).toMatch(/^end\s+1\s+1\s+1\s+0\s+0\s+0\s+0\s/m);
    expect(r.stdout).toContain(`each with every attempt; every state with its Batch job: \`metaflow-cdk sfn status ${arnOf(OK_RUN)}\``);
    const flaky = JSON.parse((await cli('show', OK_RUN, '--json')).stdout).tasks.find((t: { step: string }) => t.step === 'flaky');
    expect(flaky.attempts.map((a: { attempt: number; status: string; exitCode: number; externalId: string }) => [a.attempt, a.status, a.exitCode, a.externalId])).toEqual([
      [0, 'failed', 3, 'SfnRuns-job-2'],
      [1, 'succeeded', 0, 'SfnRuns-job-3'],
    ]);

    const f = await cli('show', FAILED_RUN);
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(new RegExp(`^Run ${FAILED_RUN} of SfnFails: failed in \\S+\\n`));
    expect(f.stdout).toContain('\n  error: States.TaskFailed\n');
    expect(f.stdout).toMatch(/^broken\s+1\s+1\s+0\s+1\s+0\s+0\s+0\s/m);
    expect(f.stdout).toContain('failed: broken/0 after 1 attempt(s): exit code 5');
    const json = JSON.parse((await cli('show', FAILED_RUN, '--json')).stdout);
    // In the order they finished, to the second (the upload helper's clock): these two may tie.
    expect(json.tasks.map((t: { step: string; status: string }) => [t.step, t.status]).sort()).toEqual([['broken', 'failed'], ['start', 'succeeded']]);
    expect(json.tasks.find((t: { step: string }) => t.step === 'broken').attempts).toEqual([
      // `show` adds its usage from DescribeJobs (runner/usage/sfn.ts): this stand-in names no resources or queue
      { attempt: 0, status: 'failed', exitCode: 5, reason: 'exit code 5', externalId: 'SfnFails-job-2', startedAt: expect.any(String), finishedAt: expect.any(String), usage: { vcpus: 0, memoryMiB: 0, gpus: 0 } },
    ]);
  });

  test('code: the package the record names, fetched and checked against its sha1', async () => {
    const listed = await cli('code', OK_RUN, '--list');
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(listed.stdout).toMatch(/^\d+\t_mfcdk\/mfcdk_task\.py$/m);
  });

  test('logs: the main container of the task\'s Batch job, from CloudWatch Logs', async () => {
    const before = batchMock.commandCalls(DescribeJobsCommand).length; // `show` asked too, for the usage
    expect(await cli('logs', `${OK_RUN}/start/0`)).toEqual({ code: 0, stdout: 'hello mars\n', stderr: '' });
    expect(await cli('logs', `${OK_RUN}/flaky/0`)).toEqual({ code: 0, stdout: 'attempt 1 works\n', stderr: '' });
    expect(await cli('logs', `${FAILED_RUN}/broken/0`)).toEqual({ code: 0, stdout: 'broken: no data\n', stderr: '' });
    const describe = batchMock.commandCalls(DescribeJobsCommand).slice(before).map((c) => c.args[0].input.jobs);
    expect(describe).toEqual([['SfnRuns-job-1'], ['SfnRuns-job-3'], ['SfnFails-job-2']]);
  });

  test('logs: one line when Batch no longer knows the job, or CloudWatch no longer has its stream', async () => {
    const stream = jobs.get('SfnFails-job-2')!;
    jobs.delete('SfnFails-job-2');
    expect(await cli('logs', `${FAILED_RUN}/broken/0`)).toEqual({
      code: 1,
      stdout: '',
      stderr: `metaflow-cdk: logs of ${FAILED_RUN}/broken/0: AWS Batch no longer knows job SfnFails-job-2 (it keeps jobs about 7 days after they end), so its log stream cannot be found\n`,
    });
    jobs.set('SfnFails-job-2', `${stream}-expired`);
    expect(await cli('logs', `${FAILED_RUN}/broken/0`)).toEqual({
      code: 1,
      stdout: '',
      stderr: `metaflow-cdk: logs of ${FAILED_RUN}/broken/0: log stream ${stream}-expired of job SfnFails-job-2 is not in CloudWatch Logs group ${GROUP} (expired or deleted)\n`,
    });
    jobs.set('SfnFails-job-2', '');
    expect(await cli('logs', `${FAILED_RUN}/broken/0`)).toEqual({
      code: 1,
      stdout: '',
      stderr: `metaflow-cdk: logs of ${FAILED_RUN}/broken/0: job SfnFails-job-2 has no log stream (its main container never started: CannotPullContainerError: pull access denied)\n`,
    });
    jobs.set('SfnFails-job-2', stream);
  });
}, ['--help']);

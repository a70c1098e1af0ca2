/**
 * The Batch layer against moto_server on 127.0.0.1, through the orchestrator: a compute
 * environment and queue created in moto, then examples/hello.ts and examples/sweep.ts (a 100-way
 * foreach → one array job) run to success; a second moto whose jobs all fail
 * (MOTO_SIMPLE_BATCH_FAIL_AFTER=0) shows a user retry as a new plain job, then catch. moto runs
 * no containers (use_docker false), so these flows' control must not depend on what tasks write.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DescribeJobsCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { AwsClients } from '../../../runner/aws/clients';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { BatchSettings } from '../../../runner/batch/settings';
import { LocalDatastore } from '../../../runner/datastore/local';
import { RunSummary } from '../../../runner/datastore/types';
import { defineFlow, Flow } from '../../../runner/flow/model';
import hello from '../../../examples/hello';
import sweep from '../../../examples/sweep';
import { resolveParameters } from '../../../runner/flow/parameters';
import { FlowGraph, validateFlow } from '../../../runner/flow/validate';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { createMotoQueue } from './moto-queue';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, MotoServer, startMoto, workerMoto } from '../../support/moto';
import { fakeClock, tempDir } from '../support/harness';
import { PROCESS_GUARD_MS } from '../../support/guards';

const settings: BatchSettings = { queue: 'mf-queue', gpuQueue: 'mf-queue', datastoreRoot: { bucket: 'mf-data', prefix: 'metaflow', url: 's3://mf-data/metaflow' } };

async function motoWithQueue(env: Record<string, string> = {}): Promise<{ moto: MotoServer; aws: AwsClients }> {
  const moto = Object.keys(env).length ? await startMoto(env) : await workerMoto();
  await moto.configure({ batch: { use_docker: false } });
  const aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, maxAttempts: 2 });
  await createMotoQueue(moto.endpoint, aws.batch);
  return { moto, aws };
}

async function runOnMoto(aws: AwsClients, graph: FlowGraph, params: string[] = []) {
  const notices: string[] = [];
  const layer = new BatchComputeLayer({ settings, batch: aws.batch, logs: aws.logs, logMode: 'failed', watcher: { minIntervalMs: 200, maxIntervalMs: 1000 }, notice: (l) => notices.push(l) });
  await layer.lookUp(graph);
  expect(layer.check(graph)).toEqual([]);
  const record = await runFlow({ graph, layer, datastore: new LocalDatastore(tempDir('mfcdk-moto-')), parameters: resolveParameters(graph.flow, params).values, clock: fakeClock() });
  return { record, layer, notices };
}

const EXAMPLES: Record<string, Flow> = { 'hello.ts': hello, 'sweep.ts': sweep };

function example(name: string): FlowGraph {
  const v = validateFlow(EXAMPLES[name]);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  return v.graph;
}

const BIN = path.join(__dirname, '../../../bin/metaflow-cdk.js');
const EXAMPLES_DIR = path.join(__dirname, '../../../examples');

/** The real CLI, as a process; `env` on top of a clean Metaflow home and moto's credentials. */
function cli(args: string[], env: Record<string, string> = {}) {
  const home = tempDir('mfcdk-home-');
  const res = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: PROCESS_GUARD_MS,
    env: { ...process.env, CI: 'true', METAFLOW_HOME: home, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ...env },
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('metaflow-cdk run --compute batch: bad input is one line, exit 2, nothing runs', () => {
  test.each([
    [['--compute', 'batch'], /^metaflow-cdk: missing Metaflow config key METAFLOW_BATCH_JOB_QUEUE: set it in .* or pass --queue/],
    [['--compute', 'batch', '--queue', 'q', '--logs', 'some'], /^metaflow-cdk: --logs must be one of all, failed, none, got "some"/],
    [['--queue', 'q'], /^metaflow-cdk: --queue only applies to --compute batch/],
    [['--helper-image', 'img', '--logs', 'none'], /^metaflow-cdk: --logs, --helper-image only apply to --compute batch/],
    [['--compute', 'batch', '--queue', 'q', '--poll-interval', '0'], /^metaflow-cdk: --poll-interval must be a number of seconds from 0.1 to 120, got "0"$/m],
  ])('%j', (args, message) => {
    const root = tempDir('mfcdk-root-');
    const r = cli(['run', path.join(EXAMPLES_DIR, 'hello.ts'), '--root', root, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});

/** A run record in a local datastore, as a runner leaves it: `running` with an owner, or ended. */
async function storedRun(root: string, summary: Partial<RunSummary>): Promise<string> {
  const datastore = new LocalDatastore(root);
  const runId = datastore.newRunId();
  await datastore.writeTaskChunk('HelloFlow', runId, 0, []);
  await datastore.writeRunSummary({ flow: 'HelloFlow', runId, status: 'running', startedAt: new Date().toISOString(), parameters: {}, withRetry: false, compute: 'batch', taskCount: 0, ...summary }, true);
  return runId;
}

describe('metaflow-cdk watch <run-id>: a run that cannot be watched is one line, exit 2', () => {
  const root = tempDir('mfcdk-root-');
  const deadPid = spawnSync('true').pid!;
  const owner = (pid: number) => ({ pid, host: os.hostname(), heartbeatAt: new Date().toISOString() });
  test.each<[string, Partial<RunSummary> | undefined, RegExp]>([
    ['an unknown run', undefined, /^metaflow-cdk: unknown run id "nosuch" in .* \(see `metaflow-cdk runs`\)\n$/],
    ['a live run', { owner: owner(process.pid) }, /^metaflow-cdk: run \S+ is still running \(pid \d+ on .*\); its runner is watching it\n$/],
    ['a finished run', { status: 'succeeded', owner: owner(deadPid) }, /^metaflow-cdk: run \S+ has already ended \(succeeded\); nothing to watch \(see `metaflow-cdk show \S+`\)\n$/],
    ['a dead local run', { compute: 'local', owner: owner(deadPid) }, /^metaflow-cdk: run \S+ ran on the local compute layer, whose tasks died with their runner; `metaflow-cdk resume \S+` reruns what did not succeed\n$/],
  ])('%s', async (_name, summary, message) => {
    const runId = summary ? await storedRun(root, summary) : 'nosuch';
    const r = cli(['watch', runId, '--datastore', 'local', '--root', root]);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(2);
  });
});

describeWithTool('moto_server', 'Batch layer against moto_server', () => {
  let ok: { moto: MotoServer; aws: AwsClients };
  beforeAll(async () => {
    ok = await motoWithQueue();
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    ok?.aws.destroy();
    await ok?.moto.stop();
  });

  test('examples/hello.ts runs to success: three jobs, job ids and attempts on record', async () => {
    const { record, layer } = await runOnMoto(ok.aws, example('hello.ts'));
    expect(record.status).toBe('succeeded');
    expect(record.tasks.map((t) => `${t.step}/${t.taskId}:${t.status}`)).toEqual(['start/0:succeeded', 'hello/0:succeeded', 'end/0:succeeded']);
    expect(record.tasks.every((t) => /^[0-9a-f-]{36}$/.test(t.attempts[0].externalId ?? ''))).toBe(true);
    expect(layer.calls.snapshot()).toMatchObject({ SubmitJob: 3, RegisterJobDefinition: 3, DescribeJobQueues: 1 });
  }, 120_000);

  test('examples/sweep.ts: the 100-way foreach is ONE array job in moto, every child on record', async () => {
    const { record, layer } = await runOnMoto(ok.aws, example('sweep.ts'));
    expect(record.status).toBe('succeeded');
    const train = record.tasks.filter((t) => t.step === 'train');
    expect(train).toHaveLength(100);
    expect(train.every((t) => t.status === 'succeeded')).toBe(true);
    const parent = train[0].attempts[0].externalId!.split(':')[0];
    expect(train.map((t) => t.attempts[0].externalId)).toEqual(train.map((t) => `${parent}:${t.taskId}`));
    expect(layer.calls.snapshot().SubmitJob).toBe(4);
    const children = await ok.aws.batch.send(new ListJobsCommand({ arrayJobId: parent, jobStatus: 'SUCCEEDED' }));
    expect(children.jobSummaryList?.length).toBe(100);
  }, 180_000);

  const cliEnv = () => ({ AWS_ENDPOINT_URL: ok.moto.endpoint, METAFLOW_BATCH_JOB_QUEUE: 'mf-queue', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow' });

  test('the real CLI: run examples/hello.ts --compute batch --datastore local, then show, jobs list / jobs kill find its jobs by tag', async () => {
    const env = cliEnv();
    const root = tempDir('mfcdk-cli-root-');
    // A local datastore keeps the plain job definition, which moto can register (see the S3 test below).
    const r = cli(['run', path.join(EXAMPLES_DIR, 'hello.ts'), '--compute', 'batch', '--datastore', 'local', '--root', root, '--logs', 'none', '--poll-interval', '0.5'], env);
    expect(r.stderr).toMatch(/AWS API calls: \d+ \(.*SubmitJob 3/);
    expect(r.code).toBe(0);
    const runId = /HelloFlow run (\S+) succeeded/.exec(r.stdout)![1];
    const show = cli(['show', runId, '--root', root], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`Run ${runId} of HelloFlow: succeeded`);
    // the API calls printed at the end of the run, kept in its record
    expect(show.stdout).toContain(`\n  ${/AWS API calls: .*\)/.exec(r.stderr)![0]}\n`);
    // --logs none copied no lines: `logs` reads the attempt's log where Batch put it (CloudWatch, through the job id)
    const startJob = JSON.parse(cli(['show', runId, '--json', '--root', root], env).stdout).tasks[0].attempts[0].externalId as string;
    const stream = (await ok.aws.batch.send(new DescribeJobsCommand({ jobs: [startJob] }))).jobs![0].container!.logStreamName!;
    await ok.aws.logs.send(new CreateLogGroupCommand({ logGroupName: '/aws/batch/job' })).catch(() => undefined);
    await ok.aws.logs.send(new CreateLogStreamCommand({ logGroupName: '/aws/batch/job', logStreamName: stream })).catch(() => undefined);
    await ok.aws.logs.send(new PutLogEventsCommand({ logGroupName: '/aws/batch/job', logStreamName: stream, logEvents: [{ message: 'hello from CloudWatch', timestamp: Date.now() }] }));
    const logs = cli(['logs', `${runId}/start/0`, '--root', root], env);
    expect(logs.stdout).toContain('hello from CloudWatch\n');
    expect(logs.code).toBe(0);
    // `end`'s stream was never written: one line saying both where no lines are and why
    const none = cli(['logs', `${runId}/end/0`, '--root', root], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^metaflow-cdk: attempt 0 of \S+\/end\/0 has no lines in the datastore \(it printed nothing, or the run kept no copy: --logs failed\|none, watch\) and logs of \S+: log stream \S+ of job \S+ is not in CloudWatch Logs group \/aws\/batch\/job \(expired or deleted\)$/m);
    const list = cli(['jobs', 'list', '--run', runId, '--datastore', 'local', '--root', root], env);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split('\n').map((l) => l.split('\t').slice(1, 3).join(' '))).toEqual(['SUCCEEDED start/0#0', 'SUCCEEDED hello/0#0', 'SUCCEEDED end/0#0']);
    const kill = cli(['jobs', 'kill', '--run', runId, '--datastore', 'local', '--root', root], env);
    expect(kill.code).toBe(0);
    expect(kill.stdout).toBe('terminated 0 AWS Batch jobs\nalready finished: 3\n');
  }, 120_000);

  test('the real CLI on the default S3 datastore: the run is kept in S3 and its jobs use the output-passing (ecsProperties) definition — which moto 5.2.1 cannot register, said in one line', async () => {
    const env = cliEnv();
    await ok.aws.s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    const r = cli(['run', path.join(EXAMPLES_DIR, 'hello.ts'), '--compute', 'batch', '--logs', 'none'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AWS API calls: \d+ \(.*RegisterJobDefinition 1\)/);
    const runId = /see `metaflow-cdk show (\S+)`/.exec(r.stderr)![1];
    const records = await ok.aws.s3.send(new ListObjectsV2Command({ Bucket: 'mf-data', Prefix: `metaflow/HelloFlow/${runId}/` }));
    expect((records.Contents ?? []).map((o) => o.Key)).toContain(`metaflow/HelloFlow/${runId}/run.json`);
    const show = cli(['show', runId, '--datastore', 's3'], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`Run ${runId} of HelloFlow: failed`);
    expect(show.stdout).toMatch(/could not submit to AWS Batch: containerProperties or eksProperties must be provided/);
  }, 120_000);

  test('the real CLI: a run whose runner was killed (SIGKILL) after its first job is watched to the end with `watch`, its job recorded; resume then reuses it', async () => {
    const env = cliEnv();
    // A local datastore keeps the plain job definition, which moto can register (see the S3 test above).
    const root = tempDir('mfcdk-watch-root-');
    const local = ['--datastore', 'local', '--root', root];
    const home = tempDir('mfcdk-home-');
    const runner = spawn(process.execPath, [BIN, 'run', path.join(EXAMPLES_DIR, 'hello.ts'), '--compute', 'batch', ...local, '--logs', 'none'], {
      env: { ...process.env, CI: 'true', METAFLOW_HOME: home, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    runner.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => runner.on('exit', resolve));
    let runId: string | undefined;
    // The runner submits start, then waits for its first poll (5 s): kill it as soon as the job exists.
    for (let i = 0; i < 400; i += 1) {
      runId ??= /HelloFlow run (\S+) \(/.exec(out)?.[1];
      const listed = runId ? await ok.aws.batch.send(new ListJobsCommand({ jobQueue: 'mf-queue', filters: [{ name: 'JOB_NAME', values: [`HelloFlow-${runId}-*`] }] })) : undefined;
      if (listed?.jobSummaryList?.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    runner.kill('SIGKILL');
    await exited;
    expect(runId).toBeDefined();
    expect(out).not.toMatch(/HelloFlow run \S+ (succeeded|failed)/);

    const watched = cli(['watch', runId!, ...local, '--poll-interval', '0.5'], env);
    expect(watched.stdout).toMatch(new RegExp(`^Watching HelloFlow run ${runId}: its runner \\(pid ${runner.pid} on .*\\) is gone; last heartbeat .*; 1 AWS Batch job found\n`));
    expect(watched.stdout).toContain('[start/0#0] succeeded: exit code 0\n');
    expect(watched.stdout).toMatch(new RegExp(`HelloFlow run ${runId} interrupted in .*: its runner died .*; \`metaflow-cdk watch\` followed its 1 AWS Batch job to the end \\(1 attempt succeeded, 0 failed\\); \`metaflow-cdk resume ${runId}\` runs what did not succeed\n$`));
    expect(watched.stderr).toMatch(/^metaflow-cdk: AWS API calls: \d+ \(DescribeJobs \d+, ListJobs 1\)$/m);
    expect(watched.code).toBe(1);
    const show = cli(['show', runId!, '--json', ...local], env);
    const record = JSON.parse(show.stdout);
    expect(record.status).toBe('interrupted');
    expect(record.apiCalls).toEqual({ DescribeJobs: expect.any(Number), ListJobs: 1 });
    expect(record.tasks.find((t: { step: string }) => t.step === 'start')).toMatchObject({ status: 'succeeded', attempts: [{ attempt: 0, status: 'succeeded', exitCode: 0 }] });
    // ended now: a second watch is refused
    const again = cli(['watch', runId!, ...local, '--poll-interval', '0.5'], env);
    expect(again.code).toBe(2);
    // resume reuses what the watch recorded (start's status.json) and runs the rest
    const resumed = cli(['resume', runId!, ...local, '--poll-interval', '0.5'], env);
    expect(resumed.stdout).toContain(`[start/0] reused from run ${runId}`);
    expect(resumed.stdout).toMatch(/HelloFlow run \S+ succeeded/);
    expect(resumed.code).toBe(0);
    expect(again.stderr.split('\n')).toContain(`metaflow-cdk: run ${runId} has already ended (interrupted); nothing to watch (see \`metaflow-cdk show ${runId}\`)`);
  }, 120_000);

  describe('a moto whose jobs all fail', () => {
    let failing: { moto: MotoServer; aws: AwsClients };
    beforeAll(async () => {
      failing = await motoWithQueue({ MOTO_SIMPLE_BATCH_FAIL_AFTER: '0' });
    }, MOTO_START_TIMEOUT_MS);
    afterAll(async () => {
      failing?.aws.destroy();
      await failing?.moto.stop();
    });

    test('retry is a new plain job with the next attempt, then catch lets the flow go on', async () => {
      const flow = defineFlow({
        name: 'FailFlow',
        image: 'busybox',
        steps: [
          { name: 'start', command: ['false'], retry: { times: 1, minutesBetweenRetries: 0 }, catch: { var: 'err' }, next: 'end' },
          { name: 'end', command: ['true'], catch: { var: 'endErr' } },
        ],
      });
      const v = validateFlow(flow);
      if (!v.ok) throw new Error(v.problems.join('\n'));
      const { record } = await runOnMoto(failing.aws, v.graph);
      const start = record.tasks.find((t) => t.step === 'start')!;
      expect(start.status).toBe('caught');
      expect(start.attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
      expect(start.attempts[0].externalId).not.toBe(start.attempts[1].externalId);
      expect(record.tasks.find((t) => t.step === 'end')!.status).toBe('caught');
      expect(record.status).toBe('succeeded');
    }, 120_000);
  });
}, ['--help']);

/**
 * A team's runs on a fair-share queue, end to end on moto_server (issue 17): the real CLI runs a
 * flow with `--compute batch --team ml`, and deploys it with `sfn deploy --team ml`, against a
 * moto whose queue `mf-teams` has a fair-share scheduling policy (moto 5.2 models
 * CreateSchedulingPolicy and names the policy in DescribeJobQueues, which is how the runner knows
 * the queue needs a share) beside the FIFO `mf-queue`. moto drops SubmitJob's `shareIdentifier`,
 * so the CLI talks to moto through a recording pass-through and the test reads the exact
 * payloads it sent: every job on the team queue carries the share and its step's priority, the
 * job on the FIFO queue neither; the deployed state machine (read back from moto) the same. Without
 * a team both commands stop with one line and exit 2, nothing submitted, registered or deployed.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { DescribeStateMachineCommand } from '@aws-sdk/client-sfn';
import { AwsClients } from '../../runner/aws/clients';
import { describeWithTool } from '../support/external-tool';
import { PROCESS_GUARD_MS } from '../support/guards';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, MotoServer, startMoto } from '../support/moto';
import { RecordingProxy, startRecordingProxy } from '../support/recording-proxy';
import { createMotoFairShareQueue, createMotoQueue } from '../runner/batch/moto-queue';
import { tempDir } from '../runner/support/harness';

const BIN = path.join(__dirname, '../../bin/metaflow-cdk.js');
const RUNNER = path.join(__dirname, '../../runner');
const ACCOUNT = '123456789012';
const TEAM_QUEUE_ARN = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/mf-teams`;
const FIFO_QUEUE_ARN = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/mf-queue`;

/** A flow file: `start` with its own priority, `train` with the default, `end` on the FIFO queue. */
function teamFlowFile(): string {
  const file = path.join(tempDir('mfcdk-teamflow-'), 'flow.ts');
  fs.writeFileSync(file, `import { defineFlow } from ${JSON.stringify(RUNNER)};
const sh = (script: string) => ['/bin/sh', '-c', script];
export default defineFlow({
  name: 'TeamFlow',
  image: 'public.ecr.aws/docker/library/busybox:1.36',
  steps: [
    { name: 'start', command: sh('true'), next: 'train', batch: { schedulingPriority: 60 } },
    { name: 'train', command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true'), batch: { queue: 'mf-queue' } },
  ],
});
`);
  return file;
}

describeWithTool('moto_server', 'a team\'s runs on a fair-share queue, on moto', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let proxy: RecordingProxy;
  let flowFile: string;
  beforeAll(async () => {
    moto = await startMoto();
    await moto.configure({ batch: { use_docker: false }, stepfunctions: { execute_state_machine: false } });
    aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 2 });
    await createMotoQueue(moto.endpoint, aws.batch);
    await createMotoFairShareQueue(aws.batch, 'mf-teams', ['ml', 'research']);
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    proxy = await startRecordingProxy(moto.endpoint);
    flowFile = teamFlowFile();
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => {
    await proxy?.stop();
    aws?.destroy();
    await moto?.stop();
  });

  /** The real CLI as a child process (asynchronous: the proxy answers in this process), talking to moto through the proxy. */
  function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], {
        env: {
          ...process.env, CI: 'true', METAFLOW_HOME: tempDir('mfcdk-home-'),
          AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: proxy.endpoint, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          METAFLOW_BATCH_JOB_QUEUE: 'mf-teams', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow',
          METAFLOW_SFN_STATE_MACHINE_PREFIX: 'mfteams', METAFLOW_SFN_IAM_ROLE: `arn:aws:iam::${ACCOUNT}:role/sfn-role`,
          ...env,
        },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const guard = setTimeout(() => child.kill('SIGKILL'), PROCESS_GUARD_MS);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(guard);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** The requests the proxy saw while `f` ran. */
  async function during<T>(f: () => Promise<T>): Promise<{ result: T; seen: RecordingProxy['requests'] }> {
    const from = proxy.requests.length;
    const result = await f();
    return { result, seen: proxy.requests.slice(from) };
  }

  const bodies = (seen: RecordingProxy['requests'], p: string) => seen.filter((r) => r.path === p).map((r) => JSON.parse(r.body) as Record<string, any>);
  const FAIR_SHARE = 'job queue "mf-teams" has a fair-share scheduling policy and takes only jobs with a team: name one with --team <name>, METAFLOW_TEAM in the Metaflow config or the flow\'s team field';

  test('run --compute batch --team ml: every SubmitJob on the team queue carries the share and its step\'s priority; the FIFO step\'s neither', async () => {
    const { result: r, seen } = await during(() => cli(['run', flowFile, '--compute', 'batch', '--team', 'ml', '--logs', 'none', '--poll-interval', '0.5']));
    expect(r.stderr).not.toContain('error');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/TeamFlow run \S+ succeeded/);
    const submitted = bodies(seen, '/v1/submitjob');
    expect(submitted.map((s) => [s.jobQueue, s.shareIdentifier, s.schedulingPriorityOverride])).toEqual([
      [TEAM_QUEUE_ARN, 'ml', 60],
      [TEAM_QUEUE_ARN, 'ml', 0],
      [FIFO_QUEUE_ARN, undefined, undefined],
    ]);
    // every job, on either queue, tagged with the team (cost allocation), the tags propagated to its ECS task
    for (const s of submitted) expect({ team: s.tags['metaflow.team'], propagate: s.propagateTags }).toEqual({ team: 'ml', propagate: true });
  });

  test('run without a team on the fair-share queue: one line, exit 2, nothing registered or submitted', async () => {
    const { result: r, seen } = await during(() => cli(['run', flowFile, '--compute', 'batch', '--logs', 'none']));
    // the layer's check problems, as run lists them (here the one)
    expect(r.stderr).toBe(`metaflow-cdk: the batch compute layer cannot run this flow:\n  - ${FAIR_SHARE}\n`);
    expect(r.code).toBe(2);
    expect(seen.filter((q) => q.path === '/v1/submitjob' || q.path === '/v1/registerjobdefinition')).toEqual([]);
  });

  test('sfn deploy --team ml: the deployed machine\'s SubmitJob states on the team queue carry the share and priority; without a team, one line before anything is stored or deployed', async () => {
    const refused = await during(() => cli(['sfn', 'deploy', flowFile]));
    expect(refused.result.stderr).toBe(`metaflow-cdk: ${FAIR_SHARE}\n`);
    expect(refused.result.code).toBe(2);
    // only the queue lookups: no code package stored, no job definition registered, no state machine
    expect(refused.seen.filter((q) => q.method !== 'POST' || !q.path.startsWith('/v1/describe'))).toEqual([]);

    const { result: r } = await during(() => cli(['sfn', 'deploy', flowFile, '--team', 'ml']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const arn = /state machine mfteams_TeamFlow: (\S+)$/m.exec(r.stdout)![1];
    const described = await aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
    const states: [string, Record<string, any>][] = [];
    const visit = (s: Record<string, any>) => {
      for (const [name, state] of Object.entries(s)) {
        if (String(state.Resource).endsWith(':states:::batch:submitJob.sync')) states.push([name, state.Parameters]);
        if (state.ItemProcessor) visit(state.ItemProcessor.States);
        for (const b of state.Branches ?? []) visit(b.States);
      }
    };
    visit(JSON.parse(described.definition!).States);
    expect(states.map(([, p]) => [p.JobQueue, p.ShareIdentifier, p.SchedulingPriorityOverride, p.Tags['metaflow.team']])).toEqual([
      ['mf-teams', 'ml', 60, 'ml'],
      ['mf-teams', 'ml', 0, 'ml'],
      ['mf-queue', undefined, undefined, 'ml'],
    ]);
  });
});

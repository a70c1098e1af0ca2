/**
 * A Step Functions run whose execution ended without its states writing the record (stopped,
 * timed out, failed outside the Catch) is shown by `runs` and `show` with the execution's status
 * (runner/sfn/reconcile.ts). moto_server holds the state machine, its executions (not executed:
 * they stay RUNNING until StopExecution makes them ABORTED) and the S3 datastore the records are
 * in, written as the compiled machine writes them.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { layout, startedRunSortKey } from '../../../runner/datastore/layout';
import type { RunSummary } from '../../../runner/datastore/types';
import { reconciledRun, reconcileRuns } from '../../../runner/sfn/reconcile';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, type MotoServer, startMoto } from '../../support/moto';
import { datastoreCli, PASS_DEFINITION, ROLE, useMotoForSdk } from './support';

const BUCKET = 'mf-bucket';
const ROOT = `s3://${BUCKET}/metaflow`;

function sfnRun(runId: string, executionArn: string, status: RunSummary['status'] = 'running'): RunSummary {
  return {
    flow: 'Hello',
    runId,
    status,
    startedAt: '2026-11-21T20:00:00.000Z',
    parameters: {},
    withRetry: false,
    compute: 'batch',
    orchestrator: 'step-functions',
    executionArn,
    taskCount: 0,
  };
}

describe('reconciledRun: the execution status a record that says running is shown with', () => {
  const run = sfnRun('sfn-1', 'arn:aws:states:us-east-1:123456789012:execution:m:sfn-1');
  const stopDate = new Date('2026-11-21T20:05:00.000Z');

  test.each([
    ['ABORTED', 'stopped', 'the execution was stopped (StopExecution): Operator: cleanup'],
    ['TIMED_OUT', 'timed out', "the execution timed out (the state machine's TimeoutSeconds): Operator: cleanup"],
    ['FAILED', 'failed', "the execution failed outside the run record's Catch: Operator: cleanup"],
  ])('%s → %s with the reason, the end time and the duration', (status, shown, error) => {
    expect(reconciledRun(run, { status, stopDate, error: 'Operator', cause: 'cleanup' })).toEqual({ ...run, status: shown, error, finishedAt: stopDate.toISOString(), durationMs: 300_000 });
  });

  test('a long cause is one line of at most 300 characters', () => {
    const shown = reconciledRun(run, { status: 'FAILED', error: 'States.Runtime', cause: `line one\n${'x'.repeat(400)}` });
    expect(shown.error).toMatch(/^the execution failed outside the run record's Catch: States\.Runtime: line one x+\.\.\.$/);
    expect(shown.error!.length).toBeLessThan(300 + 80);
  });

  test('RUNNING, a record that is no longer running, and a runner run are left as they are', () => {
    expect(reconciledRun(run, { status: 'RUNNING' })).toBe(run);
    const done = { ...run, status: 'succeeded' as const };
    expect(reconciledRun(done, { status: 'ABORTED' })).toBe(done);
    const runner = { ...run, orchestrator: undefined };
    expect(reconciledRun(runner, { status: 'ABORTED' })).toBe(runner);
  });

  test('a lookup that fails leaves the run as recorded, said once', async () => {
    const warnings: string[] = [];
    const runs = [run, sfnRun('sfn-2', run.executionArn!.replace('sfn-1', 'sfn-2'))];
    const out = await reconcileRuns(runs, async () => Promise.reject(new Error('AccessDeniedException: not allowed')), (l) => warnings.push(l));
    expect(out).toEqual(runs);
    expect(warnings).toEqual(['could not ask Step Functions how 2 runs ended, shown as recorded (sfn-1: AccessDeniedException: not allowed; …)']);
  });
});

describeWithTool('moto_server', 'runs and show reconcile a Step Functions run with its execution (moto_server)', () => {
  let moto: MotoServer;
  let s3: S3Client;
  let sfn: SFNClient;
  const savedEnv = { ...process.env };

  const cli = (...args: string[]) => datastoreCli(ROOT, ...args);

  /** The record as the compiled machine writes it at the start: summary, lookup copy, index entry. */
  async function writeRecord(summary: RunSummary): Promise<void> {
    const entry = JSON.stringify({ flow: summary.flow, runId: summary.runId, startedAt: summary.startedAt });
    const put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `metaflow/${key}`, Body: body }));
    await put(layout.runSummary(summary.flow, summary.runId), JSON.stringify(summary));
    await put(layout.runLookup(summary.runId), entry);
    await put(`${layout.runIndexPrefix}${startedRunSortKey(summary.startedAt, summary.runId)}.json`, entry);
  }

  beforeAll(async () => {
    moto = await startMoto();
    useMotoForSdk(moto.endpoint);
    s3 = new S3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    sfn = new SFNClient({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }, 60_000);
  afterAll(async () => {
    process.env = savedEnv;
    await moto?.stop();
  });

  test('StopExecution: `runs` shows the run stopped, `show` says why; a running execution stays running', async () => {
    const { stateMachineArn } = await sfn.send(new CreateStateMachineCommand({ name: 'mfstack_Hello', definition: JSON.stringify(PASS_DEFINITION), roleArn: ROLE }));
    const stoppedId = 'sfn-20261121-200000-aaa111';
    const runningId = 'sfn-20261121-200100-bbb222';
    const stopped = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: stoppedId, input: '{}' }));
    const running = await sfn.send(new StartExecutionCommand({ stateMachineArn, name: runningId, input: '{}' }));
    await writeRecord({ ...sfnRun(stoppedId, stopped.executionArn!), startedAt: stopped.startDate!.toISOString() });
    await writeRecord({ ...sfnRun(runningId, running.executionArn!), startedAt: running.startDate!.toISOString() });

    const before = await cli('runs', '--all');
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(new RegExp(`${stoppedId}\\s+Hello\\s+running`));

    await sfn.send(new StopExecutionCommand({ executionArn: stopped.executionArn, error: 'Operator', cause: 'stopped from the console' }));
    const after = await cli('runs', '--all');
    expect(after.code).toBe(0);
    expect(after.stderr).toBe('');
    expect(after.stdout).toMatch(new RegExp(`${stoppedId}\\s+Hello\\s+stopped`));
    expect(after.stdout).toMatch(new RegExp(`${runningId}\\s+Hello\\s+running`));

    const shown = await cli('show', stoppedId);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`Run ${stoppedId} of Hello: stopped`);
    // moto keeps no error or cause of StopExecution (AWS does: the unit tests above show them appended).
    expect(shown.stdout).toContain('error: the execution was stopped (StopExecution)\n');
    expect(shown.stdout).toMatch(/: stopped in \d+(\.\d+)?(ms|s|m)\b.*\n/);
    const json = JSON.parse((await cli('show', stoppedId, '--json')).stdout) as RunSummary;
    expect(json).toMatchObject({ status: 'stopped', executionArn: stopped.executionArn });
    expect(json.finishedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await cli('show', runningId)).stdout).toContain(`Run ${runningId} of Hello: running`);
  });
});

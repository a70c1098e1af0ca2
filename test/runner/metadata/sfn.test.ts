/**
 * A Step Functions run registered with the REAL Metaflow metadata service (../shared/peers) with
 * no runner process alive: the compiled machine runs in aws-local-stepfunctions, each Batch job
 * plays in a root-filesystem stand-in of python:3.12-slim (batch-task-player.ts), and the task
 * runtime inside each job (mfcdk_metadata.py) registers its task; the run is read back with the
 * REAL Metaflow Python client from the S3 datastore on moto_server.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineFlow } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { graphInfoPackageFile } from '../../../runner/metadata';
import type { CompiledFlow, CompileOptions } from '../../../runner/sfn/compiler';
import { minimalCodePackage } from '../../../runner/task-runtime/minimal-package';
import { describeWithTool } from '../../support/external-tool';
import { peersDir, readRun, RunningService, s3Reader, servicePackagesInstalled, startService } from '../../support/metadata/service';
import { RunningUi, startUi, uiPackagesInstalled } from '../../support/metadata/ui';
import { motoEnv } from '../../support/moto';
import { useMotoBucket } from '../../support/moto-bucket';
import { playOnMoto } from '../sfn/batch-task-player';
import { compileValid, EXECUTION } from '../sfn/compiler-support';
import { sh, tempDir } from '../support/harness';

const peers = peersDir();
const describeService = peers !== undefined && servicePackagesInstalled() ? describeWithTool : (_tool: string, name: string, body: () => void) => describe.skip(name, body);

const BUCKET = 'mf-bucket';
const PREFIX = 'metaflow';

const flow = defineFlow({
  name: 'SfnSquares',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { greeting: { default: 'hi' } },
  steps: [
    { name: 'start', command: sh('echo "$MF_PARAM_GREETING, fanning out"'), foreach: { items: [1, 2, 3] }, next: 'square' },
    {
      name: 'square',
      command: sh('echo "square of $MF_FOREACH_ITEM"; echo "{\\"square\\": $((MF_FOREACH_ITEM * MF_FOREACH_ITEM))}" > "$MF_OUTPUT_DIR/outputs.json"'),
      next: 'gather',
    },
    { name: 'gather', join: true, command: sh('echo "gathered"; echo "{\\"note\\": \\"done\\"}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'end' },
    { name: 'end', command: sh('echo "all done"') },
  ],
});

/** A flow whose middle step fails, with no retry: the execution fails there. */
const failing = defineFlow({
  name: 'SfnFails',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('echo "starting"'), next: 'boom' },
    // Long enough for one task heartbeat (every 10 s; the service takes one 10 s after the last).
    // Its first line is stored while it sleeps (the live log, every 5 s).
    { name: 'boom', command: sh('echo "boom is up"; sleep 11; echo "about to fail" >&2; exit 3'), next: 'end' },
    { name: 'end', command: sh('echo "never"') },
  ],
});

/**
 * Retries and catches the task runtime carries out: a foreach body whose first child fails once
 * then succeeds and whose second fails both attempts and is caught (in the container), a
 * top-level step whose failure its runtime catches, and one whose job dies with its runtime (the
 * state machine catches it; the next step's runtime registers it).
 */
const retried = defineFlow({
  name: 'SfnRetried',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('echo "two children"'), foreach: { items: [1, 2] }, next: 'flaky' },
    {
      name: 'flaky',
      retry: { times: 1, minutesBetweenRetries: 0 },
      catch: { var: 'flaky_failed' },
      command: sh(
        'if [ "$MF_FOREACH_ITEM" = 2 ] || [ "$MF_RETRY_COUNT" = 0 ]; then echo "try $MF_RETRY_COUNT fails" >&2; exit 3; fi; echo "try $MF_RETRY_COUNT works"; echo "{\\"item\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"',
      ),
      next: 'gather',
    },
    { name: 'gather', join: true, command: sh('echo "gathered"'), next: 'audit' },
    { name: 'audit', catch: { var: 'audit_failed' }, command: sh('echo "audit fails" >&2; exit 4'), next: 'killed' },
    // Its job dies with its runtime (killed whole, as an out-of-memory kill of the container would): the state machine's Catch records it.
    { name: 'killed', catch: { var: 'killed_failed' }, command: sh('sleep 1; kill -9 $PPID'), next: 'end' },
    { name: 'end', command: sh('echo "done"') },
  ],
});

/** Two steps, for the service that does not answer (then `register`). */
const small = defineFlow({
  name: 'SfnSmall',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { who: { default: 'ada' } },
  steps: [
    // Fails and is caught by its runtime: `register` files the failure under its catch var (from the code package).
    { name: 'start', catch: { var: 'start_failed' }, command: sh('echo "starting for $MF_PARAM_WHO"; exit 5'), next: 'end' },
    { name: 'end', command: sh('echo "done"; echo "{\\"n\\": 7}" > "$MF_OUTPUT_DIR/outputs.json"') },
  ],
});

/** Two steps; `end` runs long enough for the test to kill the service after its start is registered. */
const killed = defineFlow({
  name: 'SfnKilled',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('echo "starting"'), next: 'end' },
    { name: 'end', command: sh('sleep 5; echo "finished while the service was down"; echo "{\\"n\\": 8}" > "$MF_OUTPUT_DIR/outputs.json"') },
  ],
});

describeService('moto_server', 'Step Functions runs register from inside their jobs with the real Metaflow metadata service', () => {
  const moto = useMotoBucket(BUCKET, PREFIX);
  let service: RunningService;
  let ui: RunningUi | undefined;
  let tmp: string;

  beforeAll(() => {
    tmp = tempDir('mdsfn-');
    service = startService(peers!, path.join(tmp, 'service'));
  }, 90_000);
  afterAll(() => {
    ui?.stop();
    service?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** Store a code package holding the flow's graph and compile against it. */
  async function compile(options: Partial<CompileOptions>, spec = flow): Promise<CompiledFlow> {
    const v = validateFlow(spec);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const pkg = minimalCodePackage(graphInfoPackageFile(v.graph, 'sfn-squares.ts'));
    const key = `${PREFIX}/${pkg.key(spec.name)}`;
    await moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: pkg.body }));
    return compileValid(v.graph, { ...options, codePackageUrl: `s3://${BUCKET}/${key}` });
  }

  /** `metaflow-cdk register <run-id>` in-process on the S3 datastore, with the service in the config and `user` as METAFLOW_USER. */
  async function register(runId: string, user = 'ada', env: Record<string, string> = { METAFLOW_SERVICE_URL: service.url }) {
    const { main } = require('../../../runner/cli/main') as typeof import('../../../runner/cli/main');
    let stdout = '';
    let stderr = '';
    // The S3 client reads its endpoint from the process's environment.
    Object.assign(process.env, motoEnv(moto));
    const code = await main(['node', 'metaflow-cdk', 'register', runId, '--datastore', 's3', '--datastore-root', `s3://${BUCKET}/${PREFIX}`], {
      stdout: { write: (t: string) => ((stdout += t), true) } as unknown as NodeJS.WritableStream,
      stderr: { write: (t: string) => ((stderr += t), true) } as unknown as NodeJS.WritableStream,
      env: { PATH: process.env.PATH, HOME: tmp, METAFLOW_HOME: path.join(tmp, 'mfhome'), ...motoEnv(moto), METAFLOW_SERVICE_AUTH_KEY: 'test-key', METAFLOW_USER: user, ...env },
    });
    return { code, stdout, stderr };
  }

  /** Per step and task in the service: how many `attempt` and `attempt_ok` items, and the artifacts' names. */
  async function rows(flowName: string, runId: string) {
    const get = async (route: string) => (await (await fetch(`${service.url}/flows/${flowName}/runs/${runId}${route}`)).json()) as Record<string, unknown>[];
    const out: Record<string, { attempt: number; attempt_ok: number; artifacts: string[]; users: string[] }> = {};
    for (const step of await get('/steps')) {
      for (const task of await get(`/steps/${step.step_name}/tasks`)) {
        const at = `/steps/${step.step_name}/tasks/${task.task_id}`;
        const meta = await get(`${at}/metadata`);
        const artifacts = await get(`${at}/artifacts`);
        out[`${step.step_name}/${task.task_id}`] = {
          attempt: meta.filter((m) => m.field_name === 'attempt').length,
          attempt_ok: meta.filter((m) => m.field_name === 'attempt_ok').length,
          artifacts: artifacts.map((a) => a.name as string).sort(),
          users: [...new Set(artifacts.map((a) => a.user_name as string))],
        };
      }
    }
    return out;
  }

  async function play(compiled: CompiledFlow, name: string) {
    const run = await playOnMoto(compiled, moto, {}, name);
    if (run.error) throw new Error(`${run.error.message}\n${run.batch.log()}`);
    return run.batch;
  }

  test('a foreach run: listed in the user\'s namespace, steps, 3 children, successful, task.data, stdout, _graph_info; no warning in any job', async () => {
    const compiled = await compile({ metadata: { url: service.url, authKey: 'test-key', user: 'ada' } });
    const batch = await play(compiled, EXECUTION);
    // The service never printed a line in any job (a warning would be `metaflow-cdk: warning: …`).
    expect(batch.log()).not.toContain('metaflow-cdk: warning');

    const seen = readRun(peers!, service.url, tmp, flow.name, EXECUTION, 'ada', s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    expect(seen.namespace).toBe('user:ada');
    expect(seen.listed).toContain(EXECUTION);
    expect(seen.system_tags).toEqual(expect.arrayContaining(['user:ada', 'runtime:metaflow-cdk', expect.stringMatching(/^metaflow_version:/)]));
    expect(Object.keys(seen.steps).sort()).toEqual(['end', 'gather', 'square', 'start']);
    expect(seen.steps.square.map((t) => t.id)).toEqual(['t-0', 't-1', 't-2']);
    expect(seen.steps.square.map((t) => t.data.square)).toEqual([1, 4, 9]);
    expect(seen.steps.square.map((t) => t.stdout.trim())).toEqual(['square of 1', 'square of 2', 'square of 3']);
    expect(seen.steps.square.every((t) => t.successful && t.finished)).toBe(true);
    expect(seen.steps.gather[0].data).toEqual({ note: 'done' });
    expect(seen.steps.start[0].stdout).toBe('hi, fanning out\n');
    expect(seen.steps.end[0].stdout).toContain('all done');
    expect(seen.successful).toBe(true);
    expect(seen.finished).toBe(true);
    // The DAG the UI draws, and the parameter, from the `start` job.
    expect(seen.graph_steps).toEqual(['end', 'gather', 'square', 'start']);
    expect(seen.parameters).toEqual({ greeting: 'hi' });
    // Metaflow's @batch metadata, from inside the container: an array child's job id is `<job>:<index>`.
    expect(seen.steps.square.map((t) => t.metadata['aws-batch-job-id'])).toEqual([expect.stringMatching(/^job-\d+:0$/), expect.stringMatching(/^job-\d+:1$/), expect.stringMatching(/^job-\d+:2$/)]);
    expect(seen.steps.start[0].metadata).toMatchObject({ 'ds-type': 's3', 'ds-root': `s3://${BUCKET}/${PREFIX}`, 'aws-batch-job-attempt': '1' });

    // The run is heartbeat-capable: created with a heartbeat, which the tasks' creation and heartbeats refresh.
    const run = (await (await fetch(`${service.url}/flows/${flow.name}/runs/${EXECUTION}`)).json()) as { last_heartbeat_ts: number | null };
    expect(run.last_heartbeat_ts).toEqual(expect.any(Number));

    // The real UI backend on the same database, reading the S3 datastore: the run's status and user, its DAG, the foreach's tasks.
    if (!uiPackagesInstalled()) return;
    const started = startUi(peers!, service, path.join(tmp, 'ui'), s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    ui = started; // stopped below, or in afterAll when a check fails (the DAG view's screenshot of a Step Functions run: compiler-e2e.test.ts)
    const get = async (route: string) => {
      const res = await fetch(`${started.backendUrl}${route}`);
      expect({ route, status: res.status }).toEqual({ route, status: 200 });
      return ((await res.json()) as { data: unknown }).data as Record<string, unknown>;
    };
    expect(await get(`/flows/${flow.name}/runs/${EXECUTION}`)).toMatchObject({ run_id: EXECUTION, status: 'completed', user: 'ada' });
    const dag = await get(`/flows/${flow.name}/runs/${EXECUTION}/dag`);
    expect(dag.graph_structure).toEqual(['start', [['square']], 'gather', 'end']);
    const square = (await get(`/flows/${flow.name}/runs/${EXECUTION}/steps/square/tasks`)) as unknown as { task_name: string; status: string }[];
    expect(square.map((t) => [t.task_name, t.status]).sort()).toEqual([['t-0', 'completed'], ['t-1', 'completed'], ['t-2', 'completed']]);
    started.stop();
    ui = undefined;
  }, 180_000);

  test('register: a run its jobs registered in full is found complete, nothing is sent again (foreach children included)', async () => {
    const before = await rows(flow.name, EXECUTION);
    const r = await register(EXECUTION);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    // start, 3 square children, gather, end and _parameters
    expect(r.stdout).toBe(`SfnSquares run ${EXECUTION}: 7 of 7 tasks registered with ${service.url} (nothing was missing)\n`);
    expect(await rows(flow.name, EXECUTION)).toEqual(before);
  }, 60_000);

  test('a failed execution: the failed task is registered as failed with its stderr, the run is neither successful nor finished (no end task); its task heartbeat kept the run\'s alive', async () => {
    const compiled = await compile({ metadata: { url: service.url, user: 'ada' } }, failing);
    // The live log: boom's stdout is in the datastore while boom still runs (its stderr, written at its end, is not yet).
    const logs = 'SfnFails/sfn-fails-1/boom/t-0/0.task_';
    let playing = true;
    let liveSeen: { stdout?: string; stderr?: string } | undefined;
    const watching = (async () => {
      while (playing && !liveSeen) {
        const stdout = await moto.get(`${logs}stdout.log`);
        if (stdout !== undefined) liveSeen = { stdout, stderr: await moto.get(`${logs}stderr.log`) };
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const run = await playOnMoto(compiled, moto, {}, 'sfn-fails-1');
    playing = false;
    await watching;
    expect(liveSeen?.stdout).toMatch(/^\[MFLOG\|0\|[^\]]+\]boom is up\n$/);
    expect(liveSeen?.stderr).toBeUndefined();
    expect(run.error).toBeDefined();
    expect(run.batch.jobs.map((j) => [j.state, j.children[0].exitCode])).toEqual([['start', 0], ['boom', 3]]);
    expect(run.batch.log()).not.toContain('metaflow-cdk: warning');

    const seen = readRun(peers!, service.url, tmp, failing.name, 'sfn-fails-1', 'ada', s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    expect(seen.listed).toContain('sfn-fails-1');
    expect(Object.keys(seen.steps).sort()).toEqual(['boom', 'start']);
    expect(seen.steps.boom[0]).toMatchObject({ successful: false, metadata: expect.objectContaining({ attempt_ok: 'False', 'attempt-done': '0' }) });
    // Task.exception: the end of the command's stderr, then the failure's line (the job runtime's task_exception).
    expect(seen.steps.boom[0].exception).toEqual({
      type: 'metaflow_cdk.TaskFailed',
      exception: 'step boom/0 failed: exit code 3',
      printed: 'about to fail\nmetaflow_cdk.TaskFailed: step boom/0 failed: exit code 3\n',
    });
    expect(seen.steps.boom[0].stdout).toBe('boom is up\n');
    expect(seen.steps.start[0].exception).toBeNull();
    expect(seen.successful).toBe(false);
    expect(seen.finished).toBe(false);
    // The task's heartbeat reached the service, and refreshed the run's (what keeps a Step Functions run `running`).
    const task = (await (await fetch(`${service.url}/flows/${failing.name}/runs/sfn-fails-1/steps/boom/tasks/t-0`)).json()) as { ts_epoch: number; last_heartbeat_ts: number };
    const created = Math.floor(task.ts_epoch / 1000);
    expect(task.last_heartbeat_ts).toBeGreaterThanOrEqual(created + 10);
    const runRow = (await (await fetch(`${service.url}/flows/${failing.name}/runs/sfn-fails-1`)).json()) as { last_heartbeat_ts: number };
    expect(runRow.last_heartbeat_ts).toBeGreaterThanOrEqual(created + 10);
    const stderr = execFileSync('/usr/bin/python3', ['-c', 'from metaflow import Task, namespace; namespace(None); print(Task("SfnFails/sfn-fails-1/boom/t-0").stderr, end="")'], {
      env: { PATH: process.env.PATH, PYTHONPATH: path.join(peers!, 'metaflow'), METAFLOW_DEFAULT_METADATA: 'service', METAFLOW_SERVICE_URL: service.url, HOME: tmp, ...s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint) },
      encoding: 'utf8',
    });
    expect(stderr).toBe('about to fail\n');
  }, 120_000);

  test('retries in the container and caught failures: every attempt in task.metadata and alone, each with its logs; a caught failure\'s catch var as task.data', async () => {
    const compiled = await compile({ metadata: { url: service.url, user: 'ada' } }, retried);
    const batch = await play(compiled, 'sfn-retried-1');
    expect(batch.log()).not.toContain('metaflow-cdk: warning');
    const seen = readRun(peers!, service.url, tmp, retried.name, 'sfn-retried-1', 'ada', s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    expect(seen.successful).toBe(true);
    const [once, caught] = seen.steps.flaky;
    // The child that failed once: both attempts, the failed one's end, each attempt's own logs; the data of the one that worked.
    expect(once).toMatchObject({ id: 't-0', successful: true, attempts: 1, data: { item: 1 } });
    expect(once.attempt_metadata).toEqual([['attempt', '0'], ['attempt', '1'], ['attempt-done', '0'], ['attempt-done', '1'], ['attempt_ok', 'False'], ['attempt_ok', 'True']]);
    expect(once.tries).toEqual([
      {
        attempt: 0, finished: false, stdout: '', stderr: 'try 0 fails\n', metadata: { attempt: '0', 'attempt-done': '0', attempt_ok: 'False' },
        // The failed attempt's own _exception (its artifacts, as Metaflow persists them per attempt).
        exception: { type: 'metaflow_cdk.TaskFailed', exception: 'attempt 0 of step flaky/0 failed: exit code 3', printed: 'try 0 fails\nmetaflow_cdk.TaskFailed: attempt 0 of step flaky/0 failed: exit code 3\n' },
      },
      { attempt: 1, finished: true, stdout: 'try 1 works\n', stderr: '', metadata: { attempt: '1', 'attempt-done': '1', attempt_ok: 'True' }, exception: null },
    ]);
    // The child caught in the container after its two attempts: the failure under its catch var, and `caught`.
    const flakyFailure = { step: 'flaky', taskId: '1', message: 'step flaky/1 failed: exit code 3 (after 2 attempts)', exitCode: 3, statusReason: 'failed', attempts: 2 };
    expect(caught).toMatchObject({ id: 't-1', successful: false, attempts: 1, data: { flaky_failed: flakyFailure } });
    expect(caught.metadata).toMatchObject({ attempt_ok: 'False', caught: flakyFailure.message });
    expect(caught.tries!.map((t) => [t.attempt, t.stderr, t.metadata.attempt_ok])).toEqual([[0, 'try 0 fails\n', 'False'], [1, 'try 1 fails\n', 'False']]);
    // A caught step outside the foreach: caught by its runtime on its only attempt.
    const auditFailure = { step: 'audit', taskId: '0', message: 'step audit/0 failed: exit code 4', exitCode: 4, statusReason: 'failed', attempts: 1 };
    expect(seen.steps.audit[0]).toMatchObject({ successful: false, data: { audit_failed: auditFailure }, metadata: expect.objectContaining({ attempt_ok: 'False', caught: auditFailure.message }) });
    // A step the state machine caught (its job died with its runtime): registered by the next step's runtime, as if it had ended.
    const killedFailure = { step: 'killed', taskId: '0', message: 'step killed/0 failed: States.TaskFailed', exitCode: null, statusReason: 'States.TaskFailed', attempts: 1 };
    expect(seen.steps.killed[0]).toMatchObject({
      successful: false,
      data: { killed_failed: killedFailure },
      metadata: expect.objectContaining({ attempt: '0', 'attempt-done': '0', attempt_ok: 'False', caught: killedFailure.message }),
    });
  }, 180_000);

  test('a service that does not answer: the execution succeeds, each job prints one warning line and waits a bounded time', async () => {
    const compiled = await compile({ metadata: { url: 'http://127.0.0.1:9', user: 'ada' } }, small);
    const started = Date.now();
    const run = await playOnMoto(compiled, moto, {}, 'sfn-down-1');
    expect(run.error).toBeUndefined();
    for (const job of run.batch.jobs) {
      const warnings = job.children[0].lines.filter((l) => l.includes('metaflow-cdk: warning'));
      expect(warnings).toEqual([expect.stringMatching(/^metaflow-cdk: warning: the metadata service at http:\/\/127\.0\.0\.1:9 did not answer POST \/flows\/SfnSmall .*; SfnSmall\/sfn-down-1\/\w+\/t-0 is not fully registered there \(the task goes on\)$/)]);
    }
    // Two phases per job, each under 4 tries (0.5 + 1 + 2 s of backoff): about 7 s a job, never the phases' 30 + 60 s.
    expect((Date.now() - started) / run.batch.jobs.length).toBeLessThan(30_000);
    // The logs are in the datastore all the same, where `register` and the client find them.
    expect(await moto.get('SfnSmall/sfn-down-1/end/t-0/0.task_stdout.log')).toMatch(/^\[MFLOG\|0\|[^\]]+\]done\n$/);
  }, 120_000);

  test('register: the run the service missed entirely (it was down for every job) is registered from the datastore, DAG from the code package; a second register sends nothing', async () => {
    const r = await register('sfn-down-1');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^SfnSmall run sfn-down-1: 3 of 3 tasks registered with http:\/\/127\.0\.0\.1:\d+ \(\d+ requests sent\)\n$/);
    const seen = readRun(peers!, service.url, tmp, small.name, 'sfn-down-1', 'ada', s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    expect(seen.listed).toContain('sfn-down-1');
    expect(seen.successful).toBe(true);
    expect(Object.keys(seen.steps).sort()).toEqual(['end', 'start']);
    expect(seen.steps.start.map((t) => [t.id, t.successful, t.stdout])).toEqual([['t-0', false, 'starting for ada\n']]);
    // The caught failure under the step's catch var, which `register` read from the run's code package.
    const startFailure = { step: 'start', taskId: '0', message: 'step start/0 failed: exit code 5', exitCode: 5, statusReason: 'failed', attempts: 1 };
    expect(seen.steps.start[0].data).toEqual({ start_failed: startFailure });
    expect(seen.steps.start[0].metadata).toMatchObject({ caught: startFailure.message });
    expect(seen.steps.end.map((t) => [t.id, t.successful, t.data, t.stdout])).toEqual([['t-0', true, { n: 7 }, 'done\n']]);
    expect(seen.steps.end[0].metadata).toMatchObject({ attempt: '0', attempt_ok: 'True', 'ds-type': 's3', 'aws-batch-job-id': expect.stringMatching(/^job-\d+$/) });
    expect(seen.graph_steps).toEqual(['end', 'start']);
    expect(seen.parameters).toEqual({ who: 'ada' });

    const before = await rows(small.name, 'sfn-down-1');
    expect(Object.values(before).map((t) => [t.attempt, t.attempt_ok])).toEqual([[1, 1], [1, 1], [1, 1]]);
    const again = await register('sfn-down-1');
    expect(again.stdout).toMatch(/3 of 3 tasks registered with .* \(nothing was missing\)\n$/);
    expect(await rows(small.name, 'sfn-down-1')).toEqual(before);

    // Bad cases, one line each: no service configured; a record that says running and names no code package (an older machine's).
    expect(await register('sfn-down-1', 'ada', {})).toEqual({
      code: 2,
      stdout: '',
      stderr: 'metaflow-cdk: no metadata service configured: set METAFLOW_SERVICE_URL (and METAFLOW_DEFAULT_METADATA=service), or run metaflow-cdk configure\n',
    });
    const { codePackage: _, ...record } = JSON.parse((await moto.get('SfnSmall/sfn-down-1/run.json'))!) as Record<string, unknown>;
    await moto.put('SfnSmall/sfn-down-1/run.json', JSON.stringify({ ...record, status: 'running' }));
    const running = await register('sfn-down-1');
    expect(running.stderr.split('\n')).toEqual([
      'metaflow-cdk: warning: the DAG of SfnSmall run sfn-down-1 (_graph_info) is not registered: its run record names no code package (a state machine compiled before records named it)',
      'metaflow-cdk: SfnSmall run sfn-down-1 is still running: registering the 2 tasks that have finished; tasks still running register themselves (run `metaflow-cdk register sfn-down-1` again once it has ended)',
      '',
    ]);
    expect(running).toMatchObject({ code: 0, stdout: expect.stringMatching(/3 of 3 tasks registered with .* \(nothing was missing\)\n$/) });
    // A service that does not answer: waited for (here not at all), then what is left, exit 1.
    const down = await register('sfn-down-1', 'ada', { METAFLOW_SERVICE_URL: 'http://127.0.0.1:9', METAFLOW_CDK_REGISTER_WAIT_MS: '0' });
    expect(down).toMatchObject({ code: 1, stdout: `SfnSmall run sfn-down-1: 0 of 3 tasks registered with http://127.0.0.1:9\n` });
    expect(down.stderr.split('\n').slice(2)).toEqual([
      expect.stringMatching(/^metaflow-cdk: the metadata service at http:\/\/127\.0\.0\.1:9 did not answer GET \/flows\/SfnSmall\/runs\/sfn-down-1 \(.*, 4 tries\)$/),
      'metaflow-cdk: 3 of 3 tasks of SfnSmall run sfn-down-1 are not registered with the metadata service at http://127.0.0.1:9; `metaflow-cdk register sfn-down-1` registers them once it answers',
      '',
    ]);
  }, 60_000);

  test('the service killed mid-run and restarted: the execution finishes; register completes what the jobs could not, once, for the run\'s own user', async () => {
    const compiled = await compile({ metadata: { url: service.url, user: 'ada' } }, killed);
    const playing = playOnMoto(compiled, moto, {}, 'sfn-killed-1');
    // Kill it once the `end` job has created its task (its command then sleeps 5 s; the attempt's start metadata waits
    // for the attempt's end, up to the first heartbeat's 10 s, and goes with it: so the service misses the whole attempt).
    const endTask = `${service.url}/flows/SfnKilled/runs/sfn-killed-1/steps/end/tasks/t-0`;
    for (let waited = 0; ; waited += 100) {
      if (await fetch(endTask).then((x) => x.ok, () => false)) break;
      if (waited > 60_000) throw new Error('the end job never created its task');
      await new Promise((res) => setTimeout(res, 100));
    }
    service.kill();
    const run = await playing;
    await service.restart();
    expect(run.error).toBeUndefined();
    // The end job could not register its end: one warning line, and the task went on.
    expect(run.batch.jobs.map((j) => [j.state, j.children[0].lines.filter((l) => l.includes('metaflow-cdk: warning')).length])).toEqual([['start', 0], ['end', 1]]);
    expect((await rows(killed.name, 'sfn-killed-1'))['end/t-0']).toMatchObject({ attempt: 0, attempt_ok: 0, artifacts: [] });

    // Registered as bob: what is added keeps the run's own user (ada).
    const r = await register('sfn-killed-1', 'bob');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^SfnKilled run sfn-killed-1: 3 of 3 tasks registered with .* \(\d+ requests sent\)\n$/);
    const seen = readRun(peers!, service.url, tmp, killed.name, 'sfn-killed-1', 'ada', s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint));
    expect(seen.successful).toBe(true);
    expect(seen.steps.end.map((t) => [t.id, t.successful, t.data, t.stdout])).toEqual([['t-0', true, { n: 8 }, 'finished while the service was down\n']]);
    expect(seen.steps.start.map((t) => [t.id, t.successful])).toEqual([['t-0', true]]);
    const after = await rows(killed.name, 'sfn-killed-1');
    expect(after).toEqual({
      '_parameters/t-0': { attempt: 1, attempt_ok: 1, artifacts: ['_graph_info', '_success', '_task_ok', 'name'], users: ['ada'] },
      'start/t-0': { attempt: 1, attempt_ok: 1, artifacts: ['_success', '_task_ok', 'name'], users: ['ada'] },
      'end/t-0': { attempt: 1, attempt_ok: 1, artifacts: ['_success', '_task_ok', 'n', 'name'], users: ['ada'] },
    });
    const again = await register('sfn-killed-1', 'bob');
    expect(again.stdout).toMatch(/3 of 3 tasks registered with .* \(nothing was missing\)\n$/);
    expect(await rows(killed.name, 'sfn-killed-1')).toEqual(after);
  }, 120_000);
});

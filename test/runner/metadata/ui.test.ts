/**
 * A run of ours in the REAL Metaflow UI (metaflow-ui v1.3.14 and the UI backend of
 * metaflow-service v2.5.1, ../shared/peers) on the metadata service's database: the backend's
 * JSON for the run (status, user), its DAG (a foreach and branches), a step's tasks, a task's
 * logs and artifact values, a caught and a failed step, and headless Chromium screenshots of the
 * run page, its DAG view and a failed run kept as test artifacts (looked at
 * by eye, not compared pixel by pixel; METAFLOW_CDK_UI_SCREENSHOTS=DIR keeps them after the run).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { peersDir, readRun, RunningService, servicePackagesInstalled, startService } from '../../support/metadata/service';
import { chromiumPath, RunningUi, screenshot, screenshotDir, startUi, uiPackagesInstalled } from '../../support/metadata/ui';
import { tempDir } from '../support/harness';

const REPO = path.resolve(__dirname, '../../..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const peers = peersDir();
const describeUi = peers !== undefined && servicePackagesInstalled() && uiPackagesInstalled() ? describe : describe.skip;

describeUi('runs of ours in the real Metaflow UI', () => {
  let service: RunningService;
  let ui: RunningUi;
  let tmp: string;
  let runId: string;
  let failedRunId: string;

  beforeAll(async () => {
    tmp = tempDir('mdui-');
    service = startService(peers!, path.join(tmp, 'service'));
    const env = { PATH: process.env.PATH, HOME: tmp, CI: 'true', METAFLOW_SERVICE_URL: service.url, METAFLOW_USER: 'ada' };
    // GatedFlow: start → (fan → 3 × square → gather) and risky (fails, caught) → join → end.
    const gated = promisify(execFile)(process.execPath, [BIN, 'run', path.join(REPO, 'test/support/metadata/gated-flow.ts'), '--root', path.join(tmp, 'ds')], { env });
    // FailingFlow: start → boom (fails, not caught): the run fails.
    const failing = promisify(execFile)(process.execPath, [BIN, 'run', path.join(REPO, 'test/support/metadata/failing-flow.ts'), '--root', path.join(tmp, 'ds')], { env }).then(
      () => '',
      (err: { stdout: string }) => err.stdout,
    );
    const [{ stdout }, failed] = await Promise.all([gated, failing]);
    runId = /run (\S+) succeeded/.exec(stdout)![1];
    failedRunId = /run (\S+) failed/.exec(failed)![1];
    ui = startUi(peers!, service, path.join(tmp, 'ui'));
  }, 120_000);
  afterAll(() => {
    ui?.stop();
    service?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const get = async (route: string) => {
    const res = await fetch(`${ui.backendUrl}${route}`);
    expect({ route, status: res.status }).toEqual({ route, status: 200 });
    return ((await res.json()) as { data: unknown }).data as any;
  };

  test('the backend reports the run (status, user), serves its DAG with the foreach and the branches, and lists a step\'s tasks', async () => {
    const run = await get(`/flows/GatedFlow/runs/${runId}`);
    expect(run).toMatchObject({ flow_id: 'GatedFlow', run_id: runId, status: 'completed', user: 'ada', user_name: 'ada' });
    expect(run.system_tags).toEqual(expect.arrayContaining(['user:ada', 'runtime:metaflow-cdk']));
    const listed = (await get('/flows/GatedFlow/runs')) as { run_id: string; status: string }[];
    expect(listed.map((r) => [r.run_id, r.status])).toContainEqual([runId, 'completed']);

    const dag = await get(`/flows/GatedFlow/runs/${runId}/dag`);
    expect({ start: dag.start_step, end: dag.end_step }).toEqual({ start: 'start', end: 'end' });
    const steps = Object.fromEntries(Object.entries(dag.steps as Record<string, { type: string; next: string[]; matching_join?: string }>).map(([k, v]) => [k, [v.type, v.next, v.matching_join]]));
    expect(steps).toEqual({
      start: ['split-static', ['fan', 'risky'], 'join'],
      fan: ['split-foreach', ['square'], 'gather'],
      square: ['linear', ['gather'], undefined],
      gather: ['join', ['join'], undefined],
      risky: ['linear', ['join'], undefined],
      join: ['join', ['end'], undefined],
      end: ['end', [], undefined],
    });
    expect(dag.graph_structure).toEqual(['start', [['fan', [['square']], 'gather'], ['risky']], 'join', 'end']);

    const square = (await get(`/flows/GatedFlow/runs/${runId}/steps/square/tasks`)) as { task_name: string; status: string }[];
    expect(square.map((t) => [t.task_name, t.status]).sort()).toEqual([['t-0', 'completed'], ['t-1', 'completed'], ['t-2', 'completed']]);
    // The caught step's task failed (the run went on): the UI shows it red, as the attempt it was.
    const risky = (await get(`/flows/GatedFlow/runs/${runId}/steps/risky/tasks`)) as { status: string }[];
    expect(risky.map((t) => t.status)).toEqual(['failed']);
  });

  test("a task's logs and its artifacts open (the backend reads them from the run's datastore); a failed step and a caught one show as such", async () => {
    const task = `/flows/GatedFlow/runs/${runId}/steps/square/tasks/t-1`;
    // Artifacts before logs: the UI backend v2.5.1 fails to open a task's artifact values once its logs were
    // opened first (a Python Metaflow run's task on a local datastore too; docs/ui.md).
    // Artifact values come from the UI's cache workers: asked until they are in (bounded).
    let values: Record<string, unknown> = {};
    for (let i = 0; i < 100 && values.square === undefined; i++) {
      if (i) await new Promise((r) => setTimeout(r, 200));
      const artifacts = (await get(`${task}/artifacts?postprocess=true`)) as { name: string; content?: string | null; postprocess_error?: { detail: string } }[];
      const broken = artifacts.find((a) => a.postprocess_error);
      if (broken) throw new Error(`the UI could not open artifact ${broken.name}: ${broken.postprocess_error!.detail}`);
      values = Object.fromEntries(artifacts.filter((a) => a.content != null).map((a) => [a.name, a.content]));
    }
    // `name` (the flow's name) is in every Metaflow task: the service finds a task's latest attempt by it.
    expect(values).toEqual({ square: '4', name: 'GatedFlow', _task_ok: 'True', _success: 'True' });
    const lines = (await get(`${task}/logs/out?attempt_id=0`)) as { line: string }[];
    expect(lines.map((l) => l.line)).toEqual(['square of 2']);
    const stderr = (await get(`/flows/GatedFlow/runs/${runId}/steps/risky/tasks/t-0/logs/err?attempt_id=0`)) as { line: string }[];
    expect(stderr.map((l) => l.line)).toEqual(['about to fail']);

    // Caught: the task failed (red), the run went on and completed; the task's metadata says what was caught.
    const caught = await get(`/flows/GatedFlow/runs/${runId}/steps/risky/tasks/t-0/metadata`);
    expect((caught as { field_name: string; value: string }[]).find((m) => m.field_name === 'caught')?.value).toMatch(/^step risky\/0 failed: exit code 3/);
    // Failed: the step's task failed; the end step never ran. The UI backend calls a run failed only from its end
    // step's attempt_ok or a heartbeat older than 6 minutes (run.py), so it shows this one running until then.
    expect(await get(`/flows/FailingFlow/runs/${failedRunId}`)).toMatchObject({ status: 'running', user: 'ada' });
    const boom = (await get(`/flows/FailingFlow/runs/${failedRunId}/steps/boom/tasks`)) as { status: string }[];
    expect(boom.map((t) => t.status)).toEqual(['failed']);
    const boomErr = (await get(`/flows/FailingFlow/runs/${failedRunId}/steps/boom/tasks/t-0/logs/err?attempt_id=0`)) as { line: string }[];
    expect(boomErr.map((l) => l.line)).toEqual(['going down']);
    // The Python client: the failed task's Task.exception, as Metaflow registers one for a step that raised; the
    // "stacktrace" is the end of its stderr, then the failure's line.
    const seen = readRun(peers!, service.url, tmp, 'FailingFlow', failedRunId);
    expect(seen.steps.boom[0].exception).toEqual({
      type: 'metaflow_cdk.TaskFailed',
      exception: 'step boom/0 failed: exit code 4',
      printed: 'going down\nmetaflow_cdk.TaskFailed: step boom/0 failed: exit code 4\n',
    });
    expect(seen.steps.start[0].exception).toBeNull();
    const steps = (await get(`/flows/FailingFlow/runs/${failedRunId}/steps`)) as { step_name: string }[];
    expect(steps.map((s) => s.step_name).sort()).toEqual(['_parameters', 'boom', 'start']);
  });

  test('screenshots of the run page (timeline), its DAG view and a failed run, kept as test artifacts', () => {
    const chromium = chromiumPath();
    if (!chromium) return;
    const file = path.join(screenshotDir(), `GatedFlow-${runId}.png`);
    screenshot(chromium, `${ui.url}/GatedFlow/${runId}`, file, path.join(tmp, 'chrome'));
    screenshot(chromium, `${ui.url}/GatedFlow/${runId}/view/dag`, file.replace('.png', '-dag.png'), path.join(tmp, 'chrome'), 40_000);
    const failed = path.join(screenshotDir(), `FailingFlow-${failedRunId}.png`);
    screenshot(chromium, `${ui.url}/FailingFlow/${failedRunId}`, failed, path.join(tmp, 'chrome'));
    // Not compared pixel by pixel (docs/ui.md says what they show): PNGs of the window's size.
    for (const shot of [file, file.replace('.png', '-dag.png'), failed]) {
      const png = fs.readFileSync(shot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1400, 900]);
    }
    console.log(`Metaflow UI screenshots: ${file} and -dag.png beside it, ${failed}`);
  });
});

/**
 * What a user sees of each example's run in the real Metaflow metadata service and UI (issue 16's
 * "done when"): the run listed in the user's namespace, its steps and how many tasks each has
 * (a foreach's width), `successful`, one output through `task.data`, one line of `task.stdout`;
 * the UI backend's status and DAG. The files that already run the examples on a layer (local,
 * simulated Batch, Step Functions player) register those runs and check them with these, reading
 * every run of the file back in one Python client process (readRuns).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defineFlow, type Flow, type FlowSpec } from '../../../runner/flow/model';
import { tempDir } from '../../runner/support/harness';
import { peersDir, readRuns, type ReadBack, type RunningService, servicePackagesInstalled, startService } from './service';
import { chromiumPath, screenshot, screenshotDir, startUi, uiPackagesInstalled } from './ui';

export interface ExampleExpectation {
  readonly flow: string;
  /** step → how many tasks it has (a foreach body: its width). */
  readonly tasks: Readonly<Record<string, number>>;
  /** One saved output, read through `task.data` (task index within the step: 0 unless given). */
  readonly output: { readonly step: string; readonly task?: number; readonly name: string; readonly value: unknown };
  /** A line the task printed, read through `task.stdout`. */
  readonly stdout: { readonly step: string; readonly task?: number; readonly line: RegExp };
  /** Tasks that end unsuccessful although the run succeeds (a caught failure), as `step/index`. @default none */
  readonly unsuccessful?: readonly string[];
  /** Each retried attempt's `Task(…, attempt=n).exception` line, as `step/index#attempt: line`, in order. @default none */
  readonly retried?: readonly RegExp[];
}

const sumOfSquares = (n: number) => (n * (n + 1) * (2 * n + 1)) / 6;

/** The expectations of each example, for the parameters a layer's test runs it with. */
export const EXAMPLES = {
  hello: (name = 'world'): ExampleExpectation => ({
    flow: 'HelloFlow',
    tasks: { start: 1, hello: 1, end: 1 },
    output: { step: 'start', name: 'greeting', value: `hello, ${name}` },
    stdout: { step: 'end', line: /^HelloFlow is all done$/m },
  }),
  fanout: (width: number): ExampleExpectation => ({
    flow: 'FanoutFlow',
    tasks: { start: 1, square: width, join: 1, end: 1 },
    output: { step: 'join', name: 'total', value: sumOfSquares(width) },
    stdout: { step: 'join', line: new RegExp(`^sum of squares of 1\\.\\.${width} = ${sumOfSquares(width)}$`, 'm') },
  }),
  sweep: (rates: readonly number[]): ExampleExpectation => ({
    flow: 'SweepFlow',
    tasks: { start: 1, train: rates.length, pick: 1, end: 1 },
    output: { step: 'train', task: rates.length - 1, name: 'rate', value: rates[rates.length - 1] },
    stdout: { step: 'pick', line: new RegExp(`^best of ${rates.length}: rate `, 'm') },
  }),
  resilient: (): ExampleExpectation => ({
    flow: 'ResilientFlow',
    tasks: { start: 1, flaky: 1, hung: 1, failing: 1, join: 1, end: 1 },
    // The caught failure is the failed task's artifact under the catch's name (Metaflow's @catch(var=)).
    output: { step: 'failing', name: 'compute_failed', value: expect.objectContaining({ step: 'failing', exitCode: 3 }) },
    // task.stdout is the latest attempt's: the retry after the timeout.
    stdout: { step: 'hung', line: /^finished on attempt 1$/m },
    unsuccessful: ['failing/0'],
    // Each failed attempt that was retried has its own _exception, as Metaflow persists one per attempt.
    retried: [/^flaky\/0#0: attempt 0 of step flaky\/0 failed: /, /^hung\/0#0: attempt 0 of step hung\/0 failed: /],
  }),
  pyscripts: (rows: number): ExampleExpectation => ({
    flow: 'PyScriptsFlow',
    tasks: { start: 1, train: 1, end: 1 },
    output: { step: 'start', name: 'rows', value: rows },
    stdout: { step: 'end', line: new RegExp(`^run \\S+: y = [23]\\.\\d+x \\+ [\\d.]+ \\(mse [\\d.]+ on ${rows} rows\\)$`, 'm') },
  }),
} as const;

/**
 * examples/resilient.ts as it can run on Batch (simulated, or under Step Functions): its `hung` step's 1 s
 * timeout is below Batch's 60 s minimum (the compiler and the Batch layer refuse it), so it gets 60 s, and the
 * tests play the hang as a timed-out attempt (a scripted Batch outcome; a runtime timeout scaled to 1 s).
 */
export function resilientOnBatch(resilient: Flow): Flow {
  return defineFlow({ ...(resilient as FlowSpec), steps: resilient.steps.map((s) => (s.name === 'hung' ? { ...s, timeout: { seconds: 60 } } : s)) });
}

/** A run of an example registered by a test, to be read back at the end of its file. */
export interface RegisteredExample {
  readonly runId: string;
  readonly expected: ExampleExpectation;
}

/** The example's run as the Python client read it back (for user `ada`) matches what a user should see. */
export function expectReadBack(seen: ReadBack, run: RegisteredExample): void {
  const e = run.expected;
  const task = (step: string, i = 0) => seen.steps[step]?.[i];
  const unsuccessful = Object.entries(seen.steps).flatMap(([step, tasks]) => tasks.flatMap((t, i) => (t.successful ? [] : [`${step}/${i}`])));
  expect({
    flow: e.flow,
    namespace: seen.namespace,
    listed: seen.listed.includes(run.runId),
    successful: seen.successful,
    finished: seen.finished,
    tasks: Object.fromEntries(Object.entries(seen.steps).map(([step, tasks]) => [step, tasks.length])),
    graph: seen.graph_steps,
    unsuccessful,
    output: task(e.output.step, e.output.task)?.data[e.output.name],
    stdout: task(e.stdout.step, e.stdout.task)?.stdout,
    retried: Object.entries(seen.steps).sort(([a], [b]) => a.localeCompare(b)).flatMap(([step, tasks]) =>
      tasks.flatMap((t, i) => (t.tries ?? []).slice(0, -1).map((one) => `${step}/${i}#${one.attempt}: ${one.exception?.exception ?? 'no exception'}`))),
  }).toEqual({
    flow: e.flow,
    namespace: 'user:ada',
    listed: true,
    successful: true,
    finished: true,
    tasks: e.tasks,
    graph: Object.keys(e.tasks).sort(),
    unsuccessful: e.unsuccessful ?? [],
    output: e.output.value,
    stdout: expect.stringMatching(e.stdout.line),
    retried: (e.retried ?? []).map((line) => expect.stringMatching(line)),
  });
}

/** The UI backend reports the example's run completed for `ada` and serves its DAG (every step, start and end). */
export async function expectUiRun(backendUrl: string, run: RegisteredExample): Promise<void> {
  const get = async (route: string) => {
    const res = await fetch(`${backendUrl}${route}`);
    return { status: res.status, data: res.ok ? ((await res.json()) as { data: Record<string, unknown> }).data : undefined };
  };
  const route = `/flows/${run.expected.flow}/runs/${run.runId}`;
  const [r, dag] = await Promise.all([get(route), get(`${route}/dag`)]);
  expect({
    route,
    http: [r.status, dag.status],
    status: r.data?.status,
    user: r.data?.user,
    steps: Object.keys((dag.data?.steps as object | undefined) ?? {}).sort(),
    ends: [dag.data?.start_step, dag.data?.end_step],
  }).toEqual({ route, http: [200, 200], status: 'completed', user: 'ada', steps: Object.keys(run.expected.tasks).sort(), ends: ['start', 'end'] });
}

export interface ExamplesCheck {
  /** The examples' run count the file means to register (a run that failed is missing from the registered ones). */
  readonly count: number;
  /** The client's and the UI backend's datastore settings (s3Reader for runs on S3). @default none */
  readonly env?: Record<string, string>;
  /** The example whose run's DAG view is screenshotted, and the file name's prefix (the layer). */
  readonly screenshot: { readonly flow: string; readonly layer: string };
}

/** The metadata service of a test file that runs examples, and the runs registered with it. */
export interface ExampleService {
  /** Whether the peers and the service's packages are there (else runs go unregistered and the check is skipped). */
  readonly available: boolean;
  /** The running service (from beforeAll on, when available). */
  readonly service: RunningService | undefined;
  /** The example runs registered so far. */
  readonly registered: RegisteredExample[];
  /** Check every registered run at the end of the file (checkRegisteredExamples). */
  check(c: ExamplesCheck): Promise<void>;
}

/** Call at a file's (or describe's) top: the real metadata service, started once in beforeAll, stopped in afterAll. */
export function useExampleService(prefix: string): ExampleService {
  const peers = peersDir();
  const available = peers !== undefined && servicePackagesInstalled();
  const scratch = tempDir(prefix);
  let service: RunningService | undefined;
  const registered: RegisteredExample[] = [];
  beforeAll(() => {
    if (available) service = startService(peers!, path.join(scratch, 'service'));
  }, 60_000);
  afterAll(() => {
    service?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });
  return {
    available,
    get service() {
      return service;
    },
    registered,
    check: (c) => checkRegisteredExamples(peers!, service!, scratch, registered, c),
  };
}

/**
 * Every registered example run of a test file, checked at its end: read back in ONE Python client
 * process; then the real UI started once on the service's database, each run's status and DAG
 * from its backend, and ONE screenshot of a run's DAG view (steps outlined by status) kept as a
 * test artifact (looked at by eye; METAFLOW_CDK_UI_SCREENSHOTS=DIR keeps it).
 */
async function checkRegisteredExamples(peers: string, service: RunningService, tmp: string, runs: readonly RegisteredExample[], c: ExamplesCheck): Promise<void> {
  expect(runs.map((r) => r.expected.flow)).toHaveLength(c.count);
  const seen = readRuns(peers, service.url, tmp, runs.map((r) => ({ flow: r.expected.flow, runId: r.runId })), 'ada', c.env);
  for (const [i, run] of runs.entries()) expectReadBack(seen[i], run);
  if (!uiPackagesInstalled()) return; // under CI=true it throws instead
  const ui = startUi(peers, service, path.join(tmp, 'ui'), c.env);
  try {
    for (const run of runs) await expectUiRun(ui.backendUrl, run);
    const chromium = chromiumPath();
    if (!chromium) return;
    const { flow, layer } = c.screenshot;
    const { runId } = runs.find((r) => r.expected.flow === flow)!;
    const file = path.join(screenshotDir(), `${layer}-${flow}-${runId}-dag.png`);
    screenshot(chromium, `${ui.url}/${flow}/${runId}/view/dag`, file, path.join(tmp, 'chrome'), 40_000, 150_000);
    const png = fs.readFileSync(file);
    expect([png.subarray(1, 4).toString(), png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(['PNG', 1400, 900]);
    console.log(`Metaflow UI screenshot of ${flow} on ${layer}: ${file}`);
  } finally {
    ui.stop();
  }
}

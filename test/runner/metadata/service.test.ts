/**
 * Runs registered with the REAL Metaflow metadata service (metaflow-service v2.5.1 on PostgreSQL,
 * ../shared/peers) and read back with the REAL Metaflow Python client (2.19.38): what a data
 * scientist sees in a notebook. The service starts once for the file (~15 s).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { peersDir, readRun, RunningService, servicePackagesInstalled, startService } from '../../support/metadata/service';

const REPO = path.resolve(__dirname, '../../..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const peers = peersDir();
const ready = peers !== undefined && servicePackagesInstalled();
const describeService = ready ? describe : describe.skip;


describeService('runs in the real Metaflow metadata service', () => {
  let service: RunningService;
  let tmp: string;
  const children: ChildProcess[] = [];

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdsvc-'));
    service = startService(peers!, path.join(tmp, 'service'));
  }, 60_000);
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
    service?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The CLI in its own process (flow files load through tsx there), as a user runs it. */
  function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string; runId: string }> {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH, HOME: tmp, CI: 'true', METAFLOW_SERVICE_URL: service.url, METAFLOW_SERVICE_AUTH_KEY: 'test-key', METAFLOW_USER: 'ada', ...env },
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    live = () => stdout + stderr;
    return new Promise((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr, runId: /run (\S+) (succeeded|failed)/.exec(stdout)?.[1] ?? '' })),
    );
  }

  const read = (flow: string, runId: string) => readRun(peers!, service.url, tmp, flow, runId);

  test('examples/hello.ts: listed in the user namespace, successful, an output through task.data, a stdout line, the DAG', async () => {
    const r = await run(['run', path.join(REPO, 'examples/hello.ts'), '--param', 'name=Ada', '--root', path.join(tmp, 'ds')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/metadata service http:\/\/127\.0\.0\.1:\d+: 4 of 4 tasks registered/);
    const seen = read('HelloFlow', r.runId);
    expect(seen.namespace).toBe('user:ada');
    expect(seen.listed).toContain(r.runId);
    expect(seen.successful).toBe(true);
    expect(seen.system_tags).toEqual(expect.arrayContaining(['user:ada', 'runtime:metaflow-cdk', 'metaflow_version:2.19.38']));
    expect(Object.keys(seen.steps).sort()).toEqual(['end', 'hello', 'start']);
    expect(seen.steps.start[0].data).toEqual({ greeting: 'hello, Ada' });
    expect(seen.steps.end[0].stdout).toContain('HelloFlow is all done');
    expect(seen.parameters).toEqual({ name: 'Ada' });
    expect(seen.graph_steps).toEqual(['end', 'hello', 'start']);
  });

  test('a foreach with a caught failure and the service killed mid-run: the run finishes, every task registered once', async () => {
    const gate = path.join(tmp, 'gate');
    fs.mkdirSync(gate);
    const started = run(['run', path.join(REPO, 'test/support/metadata/gated-flow.ts'), '--param', `gate=${gate}`, '--root', path.join(tmp, 'ds2')]);
    // Wait until the run is in the service, then kill it while the children wait at their gate.
    const runId = await waitFor(async () => {
      const runs = (await fetch(`${service.url}/flows/GatedFlow/runs`).then((x) => (x.ok ? x.json() : []), () => [])) as { run_number: string }[];
      return runs[0]?.run_number;
    });
    // (At most --max-workers children run at once: some wait in the queue, and register after the kill.)
    await waitFor(async () => ((await fetch(`${service.url}/flows/GatedFlow/runs/${runId}/steps/square/tasks`).then((x) => (x.ok ? x.json() : []))) as unknown[]).length > 0 || undefined);
    service.kill();
    fs.writeFileSync(path.join(gate, 'children'), '');
    // The children, the joins and the caught failure finish while the service is down; end waits.
    await waitFor(async () => fs.existsSync(path.join(tmp, 'ds2', 'GatedFlow', runId, 'join', '0', 'status.json')) || undefined);
    // Longer than the retries of one call: the run has said, once, that the service is down.
    await waitFor(async () => /did not answer/.test(live()) || undefined);
    await service.restart();
    // The live log: the running end task's first line is in its log file (where the client and the UI read it)
    // within a few seconds (LIVE_LOG_MS), while the task waits at its gate.
    const endLog = path.join(tmp, 'ds2', 'GatedFlow', runId, 'end', 't-0', '0.task_stdout.log');
    // (The registrar's next probe of the restarted service can be up to 15 s away: maxProbeMs.)
    await waitFor(async () => (fs.existsSync(endLog) && fs.readFileSync(endLog, 'utf8').includes('end is up')) || undefined, 90_000);
    expect(fs.readFileSync(endLog, 'utf8')).not.toContain('all done'); // still running: its gate is shut until the next line
    fs.writeFileSync(path.join(gate, 'end'), '');
    const r = await started;
    expect(r.code).toBe(0);
    expect(r.stderr.match(/did not answer/g)).toHaveLength(1); // one warning line for the outage
    expect(r.stderr).toMatch(/10 of 10 tasks registered/);

    const seen = read('GatedFlow', runId);
    expect(seen.successful).toBe(true);
    expect(seen.steps.square.map((t) => t.data.square)).toEqual([1, 4, 9]);
    expect(seen.steps.square.map((t) => t.stdout.trim())).toEqual(['square of 1', 'square of 2', 'square of 3']);
    // The live log's line, then the rest appended at the end: each line once.
    expect(seen.steps.end[0].stdout).toBe('end is up\nall done\n');
    expect(seen.steps.risky[0].successful).toBe(false);
    expect(seen.steps.risky[0].data.risky_failed).toMatchObject({ step: 'risky', exitCode: 3 });
    // Registered once: one task per foreach item, and each attempt's metadata sent once.
    for (const step of ['start', 'fan', 'square', 'gather', 'risky', 'join', 'end']) {
      const tasks = (await (await fetch(`${service.url}/flows/GatedFlow/runs/${runId}/steps/${step}/tasks`)).json()) as { task_id: string }[];
      expect(tasks.length).toBe(step === 'square' ? 3 : 1);
      for (const t of tasks) {
        const meta = (await (await fetch(`${service.url}/flows/GatedFlow/runs/${runId}/steps/${step}/tasks/${t.task_id}/metadata`)).json()) as { field_name: string }[];
        expect(meta.filter((m) => m.field_name === 'attempt')).toHaveLength(1);
        expect(meta.filter((m) => m.field_name === 'attempt_ok')).toHaveLength(1);
      }
    }
    // `register` afterwards finds everything there and sends nothing twice.
    const again = await run(['register', runId, '--root', path.join(tmp, 'ds2')]);
    expect(again.stdout).toMatch(/10 of 10 tasks registered/);
    const square = (await (await fetch(`${service.url}/flows/GatedFlow/runs/${runId}/steps/square/tasks/t-1/metadata`)).json()) as { field_name: string }[];
    expect(square.filter((m) => m.field_name === 'attempt')).toHaveLength(1);
  });

  test('bad config is one line: a URL without scheme, a wrong key (403), an HTML answer', async () => {
    const hello = path.join(REPO, 'examples/hello.ts');
    const noScheme = await run(['run', hello, '--root', path.join(tmp, 'ds3')], { METAFLOW_SERVICE_URL: '127.0.0.1:8080' });
    expect(noScheme.code).toBe(2);
    expect(noScheme.stderr.trim()).toBe('metaflow-cdk: METAFLOW_SERVICE_URL (from the environment) must be an http:// or https:// URL, got "127.0.0.1:8080"');
    const http = await import('node:http');
    const server = http.createServer((req, res) => {
      if (req.url!.startsWith('/key')) res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>UI</body></html>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const forbidden = await run(['run', hello, '--root', path.join(tmp, 'ds3')], { METAFLOW_SERVICE_URL: `http://127.0.0.1:${port}/key` });
      expect(forbidden.code).toBe(2);
      expect(forbidden.stderr).toMatch(/^metaflow-cdk: the metadata service at http:\/\/127\.0\.0\.1:\d+\/key refused the API key \(403\): check METAFLOW_SERVICE_AUTH_KEY/);
      expect(forbidden.stderr.trim().split('\n')).toHaveLength(1);
      const html = await run(['run', hello, '--root', path.join(tmp, 'ds3')], { METAFLOW_SERVICE_URL: `http://127.0.0.1:${port}` });
      expect(html.code).toBe(2);
      expect(html.stderr.trim()).toMatch(/^metaflow-cdk: http:\/\/127\.0\.0\.1:\d+ answered POST \/flows\/HelloFlow with HTML \(200\), not the metadata service's JSON: is METAFLOW_SERVICE_URL the service's API URL\?$/);
    } finally {
      server.close();
    }
  });

  test('the pickle writer: the real Python unpickles JSON-like values to the same values', () => {
    const { pickleJson } = require('../../../runner/metadata/pickle') as typeof import('../../../runner/metadata/pickle');
    const values = [null, true, false, 0, 255, 256, 65535, 65536, -1, -2147483648, 2147483648, 2 ** 53 - 1, -(2 ** 53) + 1, 1.5, -0.25, 1e300, '', 'héllo ✓', [], [1, [2, 'x']], {}, { a: { b: [null, 3.5] }, 'ü': 'v' }];
    const b64 = values.map((v) => pickleJson(v).toString('base64'));
    const script = 'import pickle,base64,json,sys\nprint(json.dumps([pickle.loads(base64.b64decode(s)) for s in json.load(sys.stdin)]))';
    const out = execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(b64), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(values);
  });
});

/** The output so far of the CLI process last started (shown when a wait times out). */
let live = () => '';

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`condition not met in time; the CLI said:\n${live()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `runs --from service` and `show --from service` against the REAL metadata service
 * (metaflow-service v2.5.1, ../shared/peers): a run of ours (GatedFlow, with a caught failure), a
 * run of a real Python Metaflow flow (the peers' Metaflow 2.19.38, `python3 flow.py run` with the
 * service as its metadata provider), and two runs registered through the API by another user (one
 * failed at its end step, one still heartbeating) — listed side by side with the UI backend's
 * statuses, filtered by user and tag, and shown with their steps and tasks.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { main } from '../../../runner/cli/main';
import { MetadataServiceClient } from '../../../runner/metadata';
import { peersDir, RunningService, servicePackagesInstalled, startService } from '../../support/metadata/service';
import { tempDir } from '../support/harness';

const REPO = path.resolve(__dirname, '../../..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const peers = peersDir();
const describeService = peers !== undefined && servicePackagesInstalled() ? describe : describe.skip;
const exec = promisify(execFile);

describeService('runs and show --from service', () => {
  let service: RunningService;
  let tmp: string;
  let ours: string;
  let env: Record<string, string>;

  /** `runs` and `show` in-process (fast); `run` in its own process (flow files load through tsx there). */
  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    if (args[0] === 'run') {
      const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { env: { ...env, ...extra } });
      return { code: 0, stdout, stderr };
    }
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'metaflow-cdk', ...args], {
      stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
      stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
      env: { ...env, ...extra },
    });
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    tmp = tempDir('mdread-');
    service = startService(peers!, path.join(tmp, 'service'));
    env = { PATH: process.env.PATH!, HOME: tmp, CI: 'true', METAFLOW_SERVICE_URL: service.url, METAFLOW_USER: 'ada' };
    const python = exec('/usr/bin/python3', [path.join(REPO, 'test/support/metadata/py_hello_flow.py'), '--no-pylint', 'run'], {
      cwd: tmp,
      env: {
        PATH: process.env.PATH,
        HOME: tmp,
        USER: 'ada',
        METAFLOW_USER: 'ada',
        PYTHONPATH: path.join(peers!, 'metaflow'),
        METAFLOW_DEFAULT_METADATA: 'service',
        METAFLOW_SERVICE_URL: service.url,
        METAFLOW_DATASTORE_SYSROOT_LOCAL: path.join(tmp, 'pyds'),
      },
    });
    const ourRun = cli(['run', path.join(REPO, 'test/support/metadata/gated-flow.ts'), '--root', path.join(tmp, 'ds'), '--tag', 'nightly']);
    const [, r] = await Promise.all([python, ourRun]);
    ours = /run (\S+) succeeded/.exec(r.stdout)![1];

    // Bob's runs, registered through the API as a client does: one failed at its end step, one running.
    const client = new MetadataServiceClient({ url: service.url, user: 'bob' });
    const systemTags = ['user:bob', 'metaflow_version:2.19.38', 'runtime:dev'];
    await client.create('/flows/BobFlow', { user_name: 'bob', tags: [], system_tags: systemTags });
    for (const run of ['bob-failed', 'bob-running']) await client.create('/flows/BobFlow/run', { user_name: 'bob', tags: [], system_tags: systemTags, run_number: run });
    await client.create('/flows/BobFlow/runs/bob-failed/steps/end/step', { user_name: 'bob', tags: [], system_tags: systemTags });
    await client.create('/flows/BobFlow/runs/bob-failed/steps/end/task', { user_name: 'bob', tags: [], system_tags: systemTags, task_id: 'e-0' });
    const datum = (field_name: string, value: string, type = field_name) => ({ field_name, value, type, user_name: 'bob', tags: ['attempt_id:0'] });
    await client.post('/flows/BobFlow/runs/bob-failed/steps/end/tasks/e-0/metadata', [datum('attempt', '0'), datum('attempt_ok', 'False', 'internal_attempt_status')]);
  }, 120_000);
  afterAll(() => {
    service?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const rowsOf = (stdout: string) =>
    stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s{2,}/));

  test("runs --from service lists the user's runs, ours and Python Metaflow's, with the UI's status; --all adds another user's", async () => {
    const mine = await cli(['runs', '--from', 'service']);
    expect(mine.code).toBe(0);
    // run, flow, status, started, duration, user, runtime[, tags]
    const rows = rowsOf(mine.stdout).map((r) => [r[0], r[1], r[2], r[5], r[6], r[7]]);
    expect(rows).toHaveLength(2);
    expect(rows).toContainEqual([ours, 'GatedFlow', 'completed', 'ada', 'metaflow-cdk', 'nightly']);
    expect(rows).toContainEqual([expect.stringMatching(/^\d+$/), 'PyHelloFlow', 'completed', 'ada', 'dev', undefined]);
    expect(mine.stderr).toContain('2 other runs not shown (--all lists every run)');

    const all = rowsOf((await cli(['runs', '--from', 'service', '--all'])).stdout).map((r) => [r[0], r[1], r[2], r[5]]);
    expect(all).toHaveLength(4);
    expect(all).toContainEqual(['bob-failed', 'BobFlow', 'failed', 'bob']);
    expect(all).toContainEqual(['bob-running', 'BobFlow', 'running', 'bob']);
    expect(rowsOf((await cli(['runs', '--from', 'service', '--user', 'bob', '--limit', '1'])).stdout).map((r) => r[0])).toEqual(['bob-running']);
    expect(rowsOf((await cli(['runs', '--from', 'service', '--tag', 'nightly'])).stdout).map((r) => r[0])).toEqual([ours]);
  });

  test('show --from service: our run with its steps, the foreach width and the caught step; the Python run by its pathspec', async () => {
    const r = await cli(['show', `GatedFlow/${ours}`, '--from', 'service']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Run GatedFlow/${ours} in the metadata service ${service.url}: completed`);
    const steps = Object.fromEntries(rowsOf(r.stdout.split('\n\n')[1]).map((row) => [row[0], row.slice(1, 8).map(Number)]));
    // tasks, attempts, completed, failed, caught, running, other
    expect(steps).toEqual({
      start: [1, 1, 1, 0, 0, 0, 0],
      fan: [1, 1, 1, 0, 0, 0, 0],
      square: [3, 3, 3, 0, 0, 0, 0],
      gather: [1, 1, 1, 0, 0, 0, 0],
      risky: [1, 1, 0, 1, 1, 0, 0],
      join: [1, 1, 1, 0, 0, 0, 0],
      end: [1, 1, 1, 0, 0, 0, 0],
    });
    expect(r.stdout).toMatch(/caught: risky\/\S+ after 1 attempt\(s\): .*exit/);

    // A bare run id is looked for in every flow; the Python run's number is unique here.
    const py = rowsOf((await cli(['runs', '--from', 'service'])).stdout).find((row) => row[1] === 'PyHelloFlow')![0];
    const shown = await cli(['show', py, '--from', 'service', '--json']);
    const json = JSON.parse(shown.stdout) as { flow: string; status: string; runtime: string; steps: { name: string; tasks: { status: string; attempts: number }[] }[] };
    expect({ flow: json.flow, status: json.status, runtime: json.runtime }).toEqual({ flow: 'PyHelloFlow', status: 'completed', runtime: 'dev' });
    expect(json.steps.map((s) => [s.name, s.tasks.map((t) => [t.status, t.attempts])])).toEqual([
      ['start', [['completed', 1]]],
      ['end', [['completed', 1]]],
    ]);
    expect((await cli(['show', 'BobFlow/bob-failed', '--from', 'service'])).stdout).toMatch(/: failed[\s\S]*failed: end\/e-0 after 1 attempt\(s\)/);
  });

  test('bad input and config are one line each', async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['runs', '--from', 'servce'], {}, /^metaflow-cdk: --from "servce": unknown source \(available: datastore, service\)\n$/],
      [['runs', '--from', 'service', '--root', 'x'], {}, /^metaflow-cdk: --root does not apply to --from service/],
      [['runs', '--from', 'service'], { METAFLOW_SERVICE_URL: '127.0.0.1:8080' }, /^metaflow-cdk: METAFLOW_SERVICE_URL \(from the environment\) must be an http:\/\/ or https:\/\/ URL, got "127\.0\.0\.1:8080"\n$/],
      [['runs', '--from', 'service'], { METAFLOW_SERVICE_URL: '' }, /^metaflow-cdk: --from service: no metadata service configured/],
      [['runs', '--from', 'service'], { METAFLOW_SERVICE_URL: `${service.url}/api` }, /^metaflow-cdk: the metadata service at \S+\/api answered GET \/flows with 404: is METAFLOW_SERVICE_URL the service's API URL\?\n$/],
      [['show', 'NoFlow/1', '--from', 'service'], {}, /^metaflow-cdk: no run NoFlow\/1 in the metadata service/],
      [['show', 'a/b/c', '--from', 'service'], {}, /^metaflow-cdk: show --from service takes <flow>\/<run> or a run id, got "a\/b\/c"\n$/],
    ];
    // A proxy that wants another key, and a web page where the API should be (API Gateway, a UI URL).
    const server = http.createServer((req, res) => {
      if (req.headers['x-api-key'] !== 'right') res.writeHead(403, { 'content-type': 'application/json' }).end('{"message":"Forbidden"}');
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Metaflow</title>');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const other = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cases.push(
      [['runs', '--from', 'service'], { METAFLOW_SERVICE_URL: other, METAFLOW_SERVICE_AUTH_KEY: 'wrong' }, /^metaflow-cdk: the metadata service at \S+ refused the API key \(403\): check METAFLOW_SERVICE_AUTH_KEY/],
      [['show', 'X/1', '--from', 'service'], { METAFLOW_SERVICE_URL: other, METAFLOW_SERVICE_AUTH_KEY: 'right' }, /^metaflow-cdk: \S+ answered GET \/flows\/X\/runs\/1 with HTML \(200\), not the metadata service's JSON/],
    );
    for (const [args, extra, expected] of cases) {
      const r = await cli(args, extra);
      expect({ args, code: r.code > 0, stderr: r.stderr }).toEqual({ args, code: true, stderr: expect.stringMatching(expected) });
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    server.close();
  });
});

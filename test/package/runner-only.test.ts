import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunnerOnlyProject, sharedPackedPackage, REPO_ROOT } from '../../scripts/packed-app';

/**
 * A project that only runs flows: the packed tarball installed without its optional peer
 * dependencies aws-cdk-lib and constructs (scripts/packed-app.ts), as the README allows. Every
 * command's --help works, and so do a local run and `sfn compile` (which once crashed with
 * "Cannot find module 'aws-cdk-lib'", exit 70, because the runner imported a construct module for
 * a naming rule; test/package/import-floors.test.ts keeps the sources from doing that again).
 * Measured: `npm pack` (with its build) ≈ 18 s and the offline install ≈ 10 s of the ≈ 30 s.
 */
let work: string;
let project: string;
let installed: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'metaflow-cdk-runner-only-'));
  const tarball = sharedPackedPackage(work);
  project = join(work, 'flows-only');
  createRunnerOnlyProject(project, tarball.file);
  installed = join(project, 'node_modules', 'metaflow-cdk');
  // The repository's example, importing the package as a user's flow does.
  const hello = readFileSync(join(REPO_ROOT, 'examples', 'hello.ts'), 'utf8');
  expect(hello).toMatch(/from '\.\.\/runner';/);
  mkdirSync(join(project, 'flows'));
  writeFileSync(join(project, 'flows', 'hello.ts'), hello.replace(/from '\.\.\/runner';/, "from 'metaflow-cdk/runner';"));
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The installed `metaflow-cdk` command, run in the project. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(join(project, 'node_modules', '.bin', 'metaflow-cdk'), args, {
    cwd: project,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: work, METAFLOW_HOME: join(work, 'metaflow-home'), CI: '1', ...env },
    timeout: 60_000,
  });
}

test('the project has neither aws-cdk-lib nor constructs', () => {
  expect(existsSync(join(installed, 'dist', 'runner', 'cli', 'bin.js'))).toBe(true);
  for (const peer of ['aws-cdk-lib', 'constructs']) {
    expect(existsSync(join(project, 'node_modules', peer))).toBe(false);
    // Node's resolution from the installed package walks up every node_modules above it.
    const found = spawnSync(process.execPath, ['-e', `require.resolve(${JSON.stringify(peer)})`], { cwd: installed, encoding: 'utf8' });
    expect(found.stderr).toContain(`Cannot find module '${peer}'`);
  }
});

test('every command and subcommand prints its --help, exit 0', () => {
  // One Node process: the installed CLI lists its own commands, then runs `<command> --help` for each.
  const script = `
    const { buildProgram, main } = require(${JSON.stringify(join(installed, 'dist', 'runner', 'cli', 'main.js'))});
    const sink = { write: () => true };
    const paths = [];
    const walk = (cmd, prefix) => { for (const sub of cmd.commands) { const path = [...prefix, sub.name()]; paths.push(path); walk(sub, path); } };
    walk(buildProgram({ stdout: sink, stderr: sink, env: process.env, setExitCode: () => {} }), []);
    (async () => {
      const results = [];
      for (const path of paths) {
        const out = [], err = [];
        const code = await main(['node', 'metaflow-cdk', ...path, '--help'], { stdout: { write: (s) => out.push(s) }, stderr: { write: (s) => err.push(s) } });
        results.push({ path: path.join(' '), code, stdout: out.join(''), stderr: err.join('') });
      }
      process.stdout.write(JSON.stringify(results));
    })();`;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8', timeout: 60_000 });
  expect(child.stderr).toBe('');
  const results = JSON.parse(child.stdout) as Array<{ path: string; code: number; stdout: string; stderr: string }>;
  const paths = results.map((r) => r.path);
  expect(paths).toEqual(expect.arrayContaining(['run', 'resume', 'show', 'runs', 'logs', 'jobs', 'watch', 'configure', 'sfn', 'sfn compile', 'sfn deploy', 'sfn trigger', 'sfn status', 'sfn list', 'sfn schedule', 'sfn delete']));
  for (const r of results) {
    expect({ path: r.path, code: r.code, stderr: r.stderr }).toEqual({ path: r.path, code: 0, stderr: '' });
    expect(r.stdout).toMatch(new RegExp(`^Usage: metaflow-cdk ${r.path} `));
  }
});

test('run flows/hello.ts runs locally', () => {
  const res = cli(['run', 'flows/hello.ts', '--root', join(work, 'datastore'), '--param', 'name=Ada']);
  expect(res.stderr).not.toMatch(/internal error|Cannot find module/);
  expect(res.status).toBe(0);
  expect(res.stdout).toMatch(/HelloFlow run \S+ succeeded/);
  expect(res.stdout).toContain('hello, Ada');
});

test('sfn compile flows/hello.ts prints the state machine definition', () => {
  const res = cli(['sfn', 'compile', 'flows/hello.ts'], { METAFLOW_BATCH_JOB_QUEUE: 'mf-queue', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-bucket/metaflow' });
  expect(res.stderr).toBe('');
  expect(res.status).toBe(0);
  const definition = JSON.parse(res.stdout) as { StartAt: string; States: Record<string, unknown> };
  expect(definition.StartAt).toBe('Parameters.compiled');
  expect(JSON.stringify(definition.States)).toContain('"JobQueue":"mf-queue"');
});

test('graph flows/hello.ts draws the flow (its layout library is a dependency of the package)', () => {
  const res = cli(['graph', 'flows/hello.ts']);
  expect(res.stderr).toBe('');
  expect(res.status).toBe(0);
  expect(res.stdout).toBe('HelloFlow: 3 steps, 2 edges\n\n 1  start\n      └─→ hello\n 2  hello\n      └─→ end\n 3  end\n');
});

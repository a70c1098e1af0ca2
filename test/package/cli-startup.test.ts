import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedPackedPackage } from '../../scripts/packed-app';
import { DEFAULT_STACK_NAME } from '../../runner/config/configure';
import { main } from '../../runner/cli/main';
import { PROCESS_GUARD_MS } from '../support/guards';

/**
 * What the CLI loads to start: the dist/ of the tarball `npm pack` built (shared with the other package tests) in a temporary
 * directory, then `run` of a JavaScript flow and `--help` in a fresh Node process, which reports
 * the modules it loaded. The AWS SDK clients load only for `configure`, tsx (and esbuild) only
 * for a TypeScript flow. Start-up times are measured by bench/cli-startup.ts, not here.
 */
const REPO = join(__dirname, '..', '..');
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cli-startup-'));
  // The compiled package as built by `npm pack` (shared with the other package tests: one build per run).
  const tarball = sharedPackedPackage(work);
  const untar = spawnSync('tar', ['-xzf', tarball.file, '-C', work, '--strip-components=1', 'package/dist'], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`tar failed:\n${untar.stdout}${untar.stderr}`);
  // Laid out like the installed package: package.json beside dist/, dependencies in node_modules.
  copyFileSync(join(REPO, 'package.json'), join(work, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(work, 'node_modules'), 'dir');
  const flow = (ext: string, importLine: string) => `${importLine}
const flow = defineFlow({ name: 'ThreeSteps', steps: [
  { name: 'start', command: ['true'], next: 'middle' },
  // The esbuild setting the flow loader uses (runner/flow/load.ts) must not reach the tasks.
  { name: 'middle', command: ['/bin/sh', '-c', 'test -z "$ESBUILD_WORKER_THREADS"'], next: 'end' },
  { name: 'end', command: ['true'] },
] });
${ext === 'js' ? 'module.exports = flow;' : 'export default flow;'}
`;
  writeFileSync(join(work, 'flow.js'), flow('js', `const { defineFlow } = require(${JSON.stringify(join(work, 'dist', 'runner'))});`));
  writeFileSync(join(work, 'flow.ts'), flow('ts', `import { defineFlow } from ${JSON.stringify(join(work, 'dist', 'runner'))};`));
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Run the compiled CLI in a fresh process; return its exit code and the packages it loaded. */
function loadedBy(args: string[]): { code: number; packages: string[]; stdout: string } {
  const script = `
    const { main } = require(${JSON.stringify(join(work, 'dist', 'runner', 'cli', 'main.js'))});
    const out = [];
    main(['node', 'metaflow-cdk', ...${JSON.stringify(args)}], { stdout: { write: (s) => out.push(s) } }).then((code) => {
      const packages = new Set(Object.keys(require.cache).map((f) => (f.match(/node_modules\\/((@[^/]+\\/)?[^/]+)/) || [])[1]).filter(Boolean));
      process.stdout.write(JSON.stringify({ code, packages: [...packages].sort(), stdout: out.join('') }));
    });`;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: work, encoding: 'utf8', env: { ...process.env, CI: '1' } });
  if (child.status !== 0) throw new Error(`node exited ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout) as { code: number; packages: string[]; stdout: string };
}

test('--help and a run of a JavaScript flow load neither the AWS SDK nor tsx', () => {
  const help = loadedBy(['--help']);
  expect(help.code).toBe(0);
  expect(help.packages).toEqual(['commander']);
  const run = loadedBy(['run', 'flow.js', '--root', join(work, 'ds')]);
  expect(run.code).toBe(0);
  expect(run.packages.filter((p) => p.startsWith('@aws-sdk') || p === 'tsx' || p === 'esbuild')).toEqual([]);
});

test('a TypeScript flow loads tsx, only then, and its tasks do not see the loader\'s esbuild setting', () => {
  const run = loadedBy(['run', 'flow.ts', '--root', join(work, 'ds')]);
  expect(run.code).toBe(0);
  expect(run.packages).toContain('tsx');
  expect(run.packages.filter((p) => p.startsWith('@aws-sdk'))).toEqual([]);
});

test('--version prints the package version', () => {
  const version = loadedBy(['--version']);
  expect(version.code).toBe(0);
  expect(version.stdout.trim()).toBe(require('../../package.json').version);
});

test("configure's --help states the default stack name configure uses", async () => {
  let out = '';
  const code = await main(['node', 'metaflow-cdk', 'configure', '--help'], { stdout: { write: (s: string) => { out += s; return true; } } as unknown as NodeJS.WritableStream });
  expect(code).toBe(0);
  expect(out.replace(/\s+/g, ' ')).toContain(`(default: "${DEFAULT_STACK_NAME}")`);
});

test('a TypeScript flow loads when esbuild was loaded before (as with tsx registered first)', () => {
  // esbuild already loaded with its worker allowed, no transform yet: the loader must not start
  // the worker under its own setting (such a worker never answers and the load hangs).
  const script = `
    require(${JSON.stringify(require.resolve('esbuild'))});
    const { loadFlowFile } = require(${JSON.stringify(join(work, 'dist', 'runner', 'flow', 'load.js'))});
    process.stdout.write(loadFlowFile('flow.ts').flow.name);`;
  const child = spawnSync(process.execPath, ['-e', script], { cwd: work, encoding: 'utf8', timeout: PROCESS_GUARD_MS });
  expect(child.error).toBeUndefined();
  expect(child.stdout).toBe('ThreeSteps');
});

/**
 * Benchmark: how fast the `metaflow-cdk` CLI starts, as a user installs it.
 *
 *   npm run bench:cli [-- --repeats 15]
 *
 * Packs the package (`npm pack`, which builds it), installs the tarball offline into an app made
 * by `cdk init app --language typescript` (scripts/packed-app.ts) and times, from that install:
 * `--version`, `--help`, and `run` of a 3-step no-op flow (`true` three times) written as a
 * TypeScript and as a JavaScript file, through node_modules/.bin and through npx. For comparison
 * it times the repository's bin/metaflow-cdk.js, which runs the TypeScript sources through tsx as
 * the CLI did before it was compiled. Each figure is the median (and minimum) wall time of
 * `--repeats` runs after one warm-up; it also prints the tarball's size and file count and the
 * install's wall time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCdkApp, packPackage, REPO_ROOT } from '../scripts/packed-app';

const repeatsAt = process.argv.indexOf('--repeats');
const REPEATS = repeatsAt > 0 ? Number(process.argv[repeatsAt + 1]) : 15;

const flowSource = (importLine: string, exportLine: string) => `${importLine}
const flow = defineFlow({
  name: 'ThreeSteps',
  steps: [
    { name: 'start', command: ['true'], next: 'middle' },
    { name: 'middle', command: ['true'], next: 'end' },
    { name: 'end', command: ['true'] },
  ],
});
${exportLine}
`;

/** Median and minimum wall time (ms) of `REPEATS` runs after a warm-up; throws if a run fails. */
function time(command: string, args: readonly string[], cwd: string): { median: number; min: number } {
  const once = () => {
    const started = process.hrtime.bigint();
    const result = spawnSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CI: '1' } });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return ms;
  };
  once();
  const samples = Array.from({ length: REPEATS }, once).sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)], min: samples[0] };
}

const work = mkdtempSync(join(tmpdir(), 'metaflow-cdk-bench-'));
try {
  const tarball = packPackage(work);
  const app = join(work, 'app');
  const { installMs } = createCdkApp(app, tarball.file);
  mkdirSync(join(app, 'flows'));
  writeFileSync(join(app, 'flows', 'three.ts'), flowSource("import { defineFlow } from 'metaflow-cdk/runner';", 'export default flow;'));
  writeFileSync(join(app, 'flows', 'three.js'), flowSource("const { defineFlow } = require('metaflow-cdk/runner');", 'module.exports = flow;'));
  // The repository's dev entry loads flows the same way; its flow imports the runner's sources.
  writeFileSync(join(work, 'three-dev.ts'), flowSource(`import { defineFlow } from ${JSON.stringify(join(REPO_ROOT, 'runner'))};`, 'export default flow;'));

  const installed = join(app, 'node_modules', '.bin', 'metaflow-cdk');
  const dev = join(REPO_ROOT, 'bin', 'metaflow-cdk.js');
  const root = (name: string) => ['--root', join(work, `datastore-${name}`)];
  const rows: Array<[string, { median: number; min: number }]> = [
    ['installed: metaflow-cdk --version', time(installed, ['--version'], app)],
    ['installed: metaflow-cdk --help', time(installed, ['--help'], app)],
    ['installed: metaflow-cdk run flows/three.ts', time(installed, ['run', 'flows/three.ts', ...root('ts')], app)],
    ['installed: metaflow-cdk run flows/three.js', time(installed, ['run', 'flows/three.js', ...root('js')], app)],
    ['installed: npx metaflow-cdk --help', time('npx', ['--offline', 'metaflow-cdk', '--help'], app)],
    ['installed: npx metaflow-cdk run flows/three.ts', time('npx', ['--offline', 'metaflow-cdk', 'run', 'flows/three.ts', ...root('npx')], app)],
    ['before (sources through tsx): --help', time(process.execPath, [dev, '--help'], REPO_ROOT)],
    ['before (sources through tsx): run three.ts', time(process.execPath, [dev, 'run', join(work, 'three-dev.ts'), ...root('dev')], REPO_ROOT)],
  ];
  console.log(`tarball: ${(tarball.size / 1024).toFixed(1)} KiB packed, ${(tarball.unpackedSize / 1024).toFixed(1)} KiB unpacked, ${tarball.files.length} files`);
  console.log(`install (npm ci --offline from npm's cache, ${tarball.files.length} files + dependencies): ${(installMs / 1000).toFixed(2)} s`);
  console.log(`CLI wall time, ${REPEATS} runs after a warm-up (Node ${process.version}):`);
  const width = Math.max(...rows.map(([name]) => name.length));
  for (const [name, t] of rows) console.log(`  ${name.padEnd(width)}  median ${(t.median / 1000).toFixed(3)} s  min ${(t.min / 1000).toFixed(3)} s`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/**
 * The package as a user gets it, for test/package/packed-tarball.test.ts and
 * bench/cli-startup.ts: `npm pack` (which builds it through `prepare`), and an app made by
 * `cdk init app --language typescript` that installs the tarball with `npm ci --offline`.
 * aws-cdk-lib and constructs (peer dependencies) and the type packages the app's tsconfig names
 * are linked from this repository's node_modules, so nothing is fetched.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..');

/** Run a command; its stdout, or an error with both outputs when it exits non-zero. */
export function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 180_000 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

/** What `npm pack` made. */
export interface PackedTarball {
  readonly file: string;
  readonly files: readonly string[];
  readonly size: number;
  readonly unpackedSize: number;
}

/**
 * The tarball of this repository, packed once per test run: the first caller packs into the jest
 * run's temporary directory (test/support/jest-temp-dir.js), the others wait for it and share it.
 * `npm pack` builds through `prepare`, which rewrites the repository's dist/: two files packing at
 * once in parallel workers would race on it, and each pack costs about 18 s. Outside jest (no run
 * directory) it packs into `destination`.
 */
export function sharedPackedPackage(destination: string): PackedTarball {
  const runDir = process.env.METAFLOW_CDK_JEST_TMPDIR;
  if (!runDir) return packPackage(destination);
  const dir = join(runDir, 'packed-tarball');
  const result = join(dir, 'result.json');
  let packing = false;
  try {
    mkdirSync(dir); // atomic: whoever makes it packs
    packing = true;
  } catch {
    // another worker packs (or has packed)
  }
  if (packing) {
    let outcome: { tarball?: PackedTarball; error?: string };
    try {
      outcome = { tarball: packPackage(dir) };
    } catch (err) {
      outcome = { error: (err as Error).message };
    }
    writeFileSync(`${result}.tmp`, JSON.stringify(outcome));
    renameSync(`${result}.tmp`, result);
  }
  const deadline = Date.now() + 300_000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(result)) {
    if (Date.now() > deadline) throw new Error(`no packed tarball in ${dir} after 300 s (the worker packing it died?)`);
    Atomics.wait(pause, 0, 0, 200);
  }
  const outcome = JSON.parse(readFileSync(result, 'utf8')) as { tarball?: PackedTarball; error?: string };
  if (!outcome.tarball) throw new Error(`npm pack failed in another test file: ${outcome.error}`);
  return outcome.tarball;
}

/**
 * `npm pack` this repository into `destination`. The `prepare` script builds dist/ first, unless
 * dist/ is known to be built from the sources as they are (scripts/dist-inputs.js: a fresh clone's
 * `npm ci` has just built it): then the pack skips the ~18 s rebuild of identical files.
 */
export function packPackage(destination: string): PackedTarball {
  const skipBuild = (require('./dist-inputs.js') as { distIsCurrent(): boolean }).distIsCurrent();
  const args = ['pack', '--json', '--pack-destination', destination, ...(skipBuild ? ['--ignore-scripts'] : [])];
  const [packed] = JSON.parse(run('npm', args, REPO_ROOT)) as Array<{
    filename: string; files: Array<{ path: string }>; size: number; unpackedSize: number;
  }>;
  return { file: join(destination, packed.filename), files: packed.files.map((f) => f.path), size: packed.size, unpackedSize: packed.unpackedSize };
}

/** A `cdk init app --language typescript` app in `appDir` with the tarball installed; returns the install's wall time (ms). */
export function createCdkApp(appDir: string, tarball: string): { installMs: number } {
  mkdirSync(appDir, { recursive: true });
  // --generate-only: the files only (no npm install, no git); no notices or telemetry (no network).
  run(join(REPO_ROOT, 'node_modules', '.bin', 'cdk'), ['init', 'app', '--language', 'typescript', '--generate-only', '--no-notices'], appDir,
    { CDK_DISABLE_CLI_TELEMETRY: 'true' });
  // The generated package.json lists the template's dev tools (jest, swc, ...), which an offline
  // install cannot fetch: the app depends on the tarball, the rest is linked from this repository.
  const appPackage = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as Record<string, unknown>;
  const spec = `file:${tarball}`;
  writeFileSync(join(appDir, 'package.json'), JSON.stringify({ ...appPackage, dependencies: { 'metaflow-cdk': spec }, devDependencies: {} }, null, 2));
  writeFileSync(join(appDir, 'package-lock.json'), appLockfile(REPO_ROOT, String(appPackage.name), spec));
  const started = process.hrtime.bigint();
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], appDir);
  const installMs = Number(process.hrtime.bigint() - started) / 1e6;
  for (const linked of ['aws-cdk-lib', 'constructs', '@types/node', '@types/jest']) {
    mkdirSync(join(appDir, 'node_modules', linked, '..'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules', linked), join(appDir, 'node_modules', linked), 'dir');
  }
  return { installMs };
}

/**
 * A project that only runs flows, in `dir`: a package.json that depends on the tarball alone and
 * `npm ci --offline` (the lockfile from {@link appLockfile}), so the optional peer dependencies
 * aws-cdk-lib and constructs are not installed, as a user who never runs `npm install aws-cdk-lib`
 * gets it. Returns the install's wall time (ms).
 */
export function createRunnerOnlyProject(dir: string, tarball: string): { installMs: number } {
  mkdirSync(dir, { recursive: true });
  const name = 'runner-only';
  const spec = `file:${tarball}`;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '0.1.0', private: true, dependencies: { 'metaflow-cdk': spec } }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), appLockfile(REPO_ROOT, name, spec));
  const started = process.hrtime.bigint();
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], dir);
  return { installMs: Number(process.hrtime.bigint() - started) / 1e6 };
}

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

/**
 * A package-lock.json for a user's app that depends on the packed metaflow-cdk tarball, so that
 * `npm ci --offline` installs it from npm's cache alone. The app's dependency tree is the
 * tarball's runtime dependencies at the versions this repository's own lockfile pinned (and so
 * `npm ci` here already fetched): every package reachable from them, found the way Node resolves
 * (nearest node_modules first), copied with its integrity. Without it, `npm install --offline`
 * fails: a lockfile install caches tarballs, not the registry documents a range resolution needs.
 */
export function appLockfile(repoRoot: string, appName: string, tarballSpec: string): string {
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, unknown>;
  };
  const packages: Record<string, LockEntry> = {};
  const pending: Array<[string, string]> = Object.keys(pkg.dependencies).map((name) => ['', name]);
  while (pending.length > 0) {
    const [from, name] = pending.pop()!;
    const path = resolveInLock(repoLock.packages, from, name);
    if (path === undefined || packages[path]) continue;
    const { dev: _dev, devOptional, ...entry } = repoLock.packages[path];
    packages[path] = devOptional ? { ...entry, optional: true } : entry;
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) pending.push([path, dep]);
  }
  return JSON.stringify({
    name: appName,
    version: '0.1.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: appName, version: '0.1.0', dependencies: { 'metaflow-cdk': tarballSpec } },
      'node_modules/metaflow-cdk': {
        version: pkg.version,
        resolved: tarballSpec,
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        peerDependencies: pkg.peerDependencies,
        peerDependenciesMeta: pkg.peerDependenciesMeta,
      },
      ...packages,
    },
  }, null, 2);
}

/** The lock path Node would load `name` from when required by the package at `from` ('' = root). */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let dir = from; ; dir = parentPackage(dir)) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined; // an optional dependency for another platform
  }
}

function parentPackage(path: string): string {
  const at = path.lastIndexOf('/node_modules/');
  return at < 0 ? '' : path.slice(0, at);
}

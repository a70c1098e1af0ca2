import * as fs from 'node:fs';
import * as path from 'node:path';
import { Flow, isFlow } from './model';

/** A problem with a flow file the user can fix (printed as one line, exit 2). */
export class FlowLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowLoadError';
  }
}

/**
 * Load a flow file: a `.ts` or `.js` module whose default export is a flow. TypeScript files load
 * through tsx's require hook, which the CLI registers at start (or registers here when missing).
 */
export function loadFlowFile(file: string, cwd: string = process.cwd()): { flow: Flow; file: string } {
  const abs = path.resolve(cwd, file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new FlowLoadError(`flow file not found: ${file}`);
  }
  if (!stat.isFile()) throw new FlowLoadError(`flow file is not a file: ${file}`);
  if (!/\.(c|m)?(t|j)sx?$/.test(abs)) throw new FlowLoadError(`flow file must be a .ts or .js module: ${file}`);
  let mod: unknown;
  try {
    mod = loadModule(abs);
  } catch (err) {
    // esbuild's message is "Transform failed with 1 error:" and the error on the next line.
    const lines = String((err as Error)?.message ?? err).split('\n').map((l) => l.trim()).filter(Boolean);
    const msg = lines[0]?.endsWith(':') && lines[1] ? `${lines[0]} ${lines[1]}` : (lines[0] ?? 'unknown error');
    throw new FlowLoadError(`cannot load flow file ${file}: ${msg}`);
  }
  const m = mod as { default?: unknown } | undefined;
  const candidate = m && typeof m === 'object' && 'default' in m ? m.default : mod;
  if (!isFlow(candidate)) {
    const got = candidate === undefined ? 'nothing' : typeof candidate === 'object' ? 'an object that is not a flow' : `a ${typeof candidate}`;
    throw new FlowLoadError(`flow file ${file}: the default export must be a flow made with defineFlow(), got ${got}`);
  }
  return { flow: candidate, file: abs };
}

let tsxRequire: ((id: string, from: string) => unknown) | undefined;

function loadModule(abs: string): unknown {
  if (/\.(c)?js$/.test(abs)) return require(abs);
  return withoutEsbuildWorker(() => {
    // tsx's own require works whether or not the CLI registered the global hook.
    tsxRequire ??= (require('tsx/cjs/api') as { require: (id: string, from: string) => unknown }).require;
    return tsxRequire(abs, __filename);
  });
}

/**
 * tsx transforms with esbuild's synchronous API, which by default first starts a worker thread
 * that starts esbuild's service: ~100 ms, most of a short run's start-up. For the few files of a
 * flow, esbuild run once per file without the worker is faster. esbuild reads the setting when it
 * loads, which is when tsx loads (so both happen in here); the variable is then restored, and the
 * tasks' environment never sees it. When esbuild is already loaded (tsx's hook registered before,
 * as bin/metaflow-cdk.js does in the repository) nothing changes: a worker it starts now must not
 * inherit the setting, or it would not answer.
 */
function withoutEsbuildWorker<T>(load: () => T): T {
  const esbuildLoaded = Object.keys(require.cache).some((file) => /[\\/]esbuild[\\/]lib[\\/]main\.js$/.test(file));
  const change = process.env.ESBUILD_WORKER_THREADS === undefined && !esbuildLoaded;
  if (change) process.env.ESBUILD_WORKER_THREADS = '0';
  try {
    return load();
  } finally {
    if (change) delete process.env.ESBUILD_WORKER_THREADS;
  }
}

/**
 * The task runtime: the Python code that runs inside every AWS Batch container the product
 * submits or compiles (one container per task). Stage 0 — a short loader in the job
 * definition's command — fetches the flow's code package from S3 and hands over to the runtime,
 * which ships inside that package under {@link RUNTIME_DIR_IN_PACKAGE}. Both are files under
 * `python/` beside this module (copied to dist/ by `npm run build`), Python 3.8+ standard
 * library only. The task helpers for Node steps (`node/metaflow_cdk.js`, Node's standard library
 * only) ship beside them in the same folder of the package.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the runtime's files sit inside a code package (and so in the task's working directory). */
export const RUNTIME_DIR_IN_PACKAGE = '_mfcdk';

/** The folder holding the runtime's Python sources (source tree and dist/ alike). */
export const RUNTIME_SOURCE_DIR = join(__dirname, 'python');

/** The folder holding the Node task helpers (`metaflow_cdk.js`; a task's NODE_PATH names it locally). */
export const NODE_HELPERS_DIR = join(__dirname, 'node');

/** Stage 0's file name in RUNTIME_SOURCE_DIR (it goes into the job definition, not the package). */
export const STAGE0_FILE = 'stage0.py';

/** The runtime's files as they go into a code package: `_mfcdk/<name>` → content (the Python runtime and helpers, the Node helpers). */
export function taskRuntimeFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(RUNTIME_SOURCE_DIR).sort()) {
    if (name.endsWith('.py') && name !== STAGE0_FILE) files[`${RUNTIME_DIR_IN_PACKAGE}/${name}`] = readFileSync(join(RUNTIME_SOURCE_DIR, name), 'utf8');
  }
  for (const name of readdirSync(NODE_HELPERS_DIR).sort()) {
    if (name.endsWith('.js')) files[`${RUNTIME_DIR_IN_PACKAGE}/${name}`] = readFileSync(join(NODE_HELPERS_DIR, name), 'utf8');
  }
  return files;
}

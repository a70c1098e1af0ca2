import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CommandFailedError } from '../errors';

/** `EACCES: permission denied, mkdir '/x'` → `permission denied`. */
function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = String(e?.message ?? err).split('\n')[0];
  const m = /^[A-Z]+: ([^,]+)/.exec(text);
  return m ? `${m[1]} (${e.code})` : text;
}

/**
 * `mkdir -p`, one level at a time. (Node's recursive mkdir spins forever where a directory cannot
 * be created although its parent exists, e.g. under /proc: it retries the ENOENT.)
 */
function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) fs.mkdirSync(d);
}

/**
 * Check that the local datastore root can be used before a command relies on it, so that a root
 * that is a file, cannot be created or cannot be written fails with one line (exit 1) instead of
 * a stack trace halfway through a run. `write`: the command writes runs (run, resume); it creates
 * the root and writes and removes a probe file in it.
 */
export function checkDatastoreRoot(root: string, options: { write: boolean }): void {
  const fail = (what: string) => new CommandFailedError(`datastore root ${root} ${what}`);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw fail(`cannot be a directory: a part of its path is a file`);
    if (code !== 'ENOENT') throw fail(`cannot be read: ${reason(err)}`);
  }
  if (stat && !stat.isDirectory()) throw fail(`is a file, not a directory (use --root DIR or $METAFLOW_CDK_ROOT)`);
  if (!options.write) return;
  try {
    makeDirectory(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR' || code === 'EEXIST') throw fail(`cannot be a directory: a part of its path is a file`);
    throw fail(`cannot be created: ${reason(err)}`);
  }
  const probe = path.join(root, `.write-check.${process.pid}.${randomBytes(3).toString('hex')}`);
  try {
    fs.writeFileSync(probe, '');
    fs.rmSync(probe, { force: true });
  } catch (err) {
    throw fail(`is not writable: ${reason(err)}`);
  }
}

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROCESS_GUARD_MS } from './guards';

/** One `metaflow-cdk` invocation: its arguments, environment on top of the test's (undefined unsets) and working directory. */
export interface CliCase {
  readonly args: readonly string[];
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** The case's environment is `env` alone, not on top of the test's. @default false */
  readonly replaceEnv?: boolean;
}

export interface CliCaseResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Many CLI invocations in one Node process (test/support/cli-cases-main.js): for tables of bad
 * input, where each spawned CLI would cost a Node start and the loading of the whole CLI (about
 * 1 s of CPU each on the 2-core machine) to print one line.
 */
export function runCliCases(cases: readonly CliCase[]): CliCaseResult[] {
  const dir = mkdtempSync(join(tmpdir(), 'cli-cases-'));
  try {
    const out = join(dir, 'results.json');
    const res = spawnSync(process.execPath, [join(__dirname, 'cli-cases-main.js'), out], {
      // undefined (unset this variable) would vanish from JSON: it travels as null.
      input: JSON.stringify(cases.map((c) => ({ ...c, env: Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, v ?? null])) }))),
      encoding: 'utf8',
      timeout: PROCESS_GUARD_MS,
    });
    if (res.status !== 0) throw new Error(`cli-cases-main exited ${res.status}:\n${res.stdout}\n${res.stderr}`);
    return JSON.parse(readFileSync(out, 'utf8')) as CliCaseResult[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

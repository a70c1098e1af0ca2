import { AttemptRef, taskPath, TaskRef } from '../contract/names';
import { RESERVED_RUN_IDS } from '../limits';

/**
 * Where everything lives in a datastore, as keys relative to its root (a directory locally, a
 * bucket prefix on S3). One layout for every store; see docs/runner.md "The datastore".
 */
export const layout = {
  /** The run index: one small entry per run, named so that key order is newest first. */
  runIndexPrefix: '.index/runs/',
  runIndex: (runId: string) => `.index/runs/${runSortKey(runId)}.json`,
  /**
   * Where a run filed in the index under its start time (see {@link startedRunSortKey}) is found
   * by id: its index entry's copy.
   */
  runLookup: (runId: string) => `.index/ids/${runId}.json`,
  runSummary: (flow: string, runId: string) => `${flow}/${runId}/run.json`,
  taskChunk: (flow: string, runId: string, chunk: number) => `${flow}/${runId}/tasks/${chunk}.json`,
  taskStatus: (taskPathKey: string) => `${taskPathKey}/status.json`,
  outputsFile: (taskPathKey: string) => `${taskPathKey}/outputs.json`,
  attemptOutputs: (a: AttemptRef) => `${taskPath(a)}/attempt-${a.attempt}`,
  attemptLog: (a: AttemptRef) => `${taskPath(a)}/attempt-${a.attempt}.log`,
  task: (t: TaskRef) => taskPath(t),
};

/**
 * Keys under a task path that are the runner's, not the task's committed outputs: the attempts'
 * own directories and logs, the task's status, and the contract's files (runner/contract).
 */
const TASK_BOOKKEEPING = /^(attempt-\d+(\/|\.log$)|status\.json$|foreach-items\.jsonl$|foreach-item-\d+\.json$|input-paths\.txt$)/;

/** Is `relative` (a key relative to its task path) one of the task's committed outputs? */
export const isCommittedOutput = (relative: string): boolean => !TASK_BOOKKEEPING.test(relative);

/**
 * What the task helpers (runner/task-runtime/python/metaflow_cdk.py ANCESTORS_FILE) leave among a
 * task's outputs for the steps below it: committed and fetched like any output, not listed as a
 * file the task wrote.
 */
export const TASK_HELPER_FILE = '.mfcdk-ancestors.json';

const STAMPED = /^(\d{8})-(\d{6})-([0-9a-z]+)$/;

/**
 * A run's name in the index. Run ids start with their UTC start time (`20261121-163000-ab12cd`);
 * its digits are inverted (9 - d) so that listing the index in key order (all S3 can do) gives
 * the newest run first. Ids of another shape sort after every stamped one.
 */
export function runSortKey(runId: string): string {
  const m = STAMPED.exec(runId);
  if (!m) return `~${runId}`;
  const inv = (s: string) => s.replace(/\d/g, (d) => String(9 - Number(d)));
  return `${inv(m[1])}-${inv(m[2])}-${m[3]}`;
}

const FILED_AT_START = /^\d{8}-\d{6}~(.+)$/;

/**
 * A run's name in the index when its id carries no start time (a Step Functions execution's
 * name): `<inverted yyyymmdd>-<inverted hhmmss>~<run id>` from its UTC start time, so it lists
 * among the runner's runs by start time, newest first. The compiled state machine computes it
 * with intrinsic functions (runner/sfn/compiler/run-record.ts: 10ⁿ−1 minus the number is the
 * digit inversion) and also writes {@link layout.runLookup}, since the key cannot be derived
 * from the id alone.
 */
export function startedRunSortKey(startedAt: string, runId: string): string {
  const iso = new Date(startedAt).toISOString();
  const inv = (s: string) => s.replace(/\d/g, (d) => String(9 - Number(d)));
  return `${inv(iso.slice(0, 10).replace(/-/g, ''))}-${inv(iso.slice(11, 19).replace(/:/g, ''))}~${runId}`;
}

/** The run id an index key names. */
export function runIdOfIndexKey(key: string): string {
  const name = key.slice(layout.runIndexPrefix.length).replace(/\.json$/, '');
  if (name.startsWith('~')) return name.slice(1);
  return FILED_AT_START.exec(name)?.[1] ?? runIdOfSortKey(name);
}

function runIdOfSortKey(name: string): string {
  const m = STAMPED.exec(name);
  if (!m) return name;
  const inv = (s: string) => s.replace(/\d/g, (d) => String(9 - Number(d)));
  return `${inv(m[1])}-${inv(m[2])}-${m[3]}`;
}

/**
 * Run ids are used in keys: letters, digits, _ and - only, and never a reserved folder of a flow
 * (`data`, where its code packages are: runner/limits.ts RESERVED_RUN_IDS).
 */
export const isRunId = (s: string): boolean => /^[A-Za-z0-9_-]{1,200}$/.test(s) && !RESERVED_RUN_IDS.includes(s);

import { EffectivePolicies } from '../policy';
import { CaughtState, caughtValues } from './caught';
import { taskPath, TaskRef } from './names';

/**
 * The task environment (the MF_* variables of docs/runner.md "The task contract"), built the same
 * way for every compute layer.
 *
 * A group of tasks (one task, or every child of one foreach fan-out for one step) shares ONE
 * template: the environment common to all children. What differs per child — task id, foreach
 * index, item, input paths, attempt — derives from the child's index and from the datastore
 * (`childEnvironment`), so one set of container overrides serves a whole Batch array job and
 * the index (AWS_BATCH_JOB_ARRAY_INDEX) picks the rest. Nothing that grows with the width of a
 * fan-out or the size of an item travels in one variable: past `MAX_INLINE_CHARS` it goes in a
 * datastore file named by a `*_FILE` variable (relative to MF_DATASTORE_ROOT).
 */

/** AWS Batch refuses container overrides (command + environment) over 8 KiB. */
export const ENV_BUDGET_BYTES = 8192;
/** MF_INPUT_PATHS, MF_FOREACH_ITEM and MF_CAUGHT longer than this go through a datastore file. */
export const MAX_INLINE_CHARS = 4096;
/** Stands for the child's task id in a template's input paths. */
export const TASK_ID_PLACEHOLDER = '{taskId}';

/** Bytes an environment takes in a process's (or a Batch override's) environment block. */
export function environmentBytes(env: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(env)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
  return n;
}

/** Keys of the contract's datastore files, relative to the datastore root. */
export const contractKeys = {
  /** A fan-out's items, one JSON value per line (line i is child i's item). */
  foreachItems: (split: TaskRef) => `${taskPath(split)}/foreach-items.jsonl`,
  /** One item on its own, written when it is too long for MF_FOREACH_ITEM. */
  foreachItem: (split: TaskRef, index: number) => `${taskPath(split)}/foreach-item-${index}.json`,
  /** A task's input paths, one per line. */
  inputPaths: (task: TaskRef) => `${taskPath(task)}/input-paths.txt`,
  /** A group's caught failures (MF_CAUGHT's value), when too long for the variable. */
  caught: (flow: string, runId: string, step: string, groupId: string) => `${flow}/${runId}/${step}/groups/${groupId}/caught.json`,
};

/** How children of a foreach group differ: only by index. */
export interface ForeachDerivation {
  /** Child i's task id is `${taskIdPrefix}${i}` (`''` at the top, `3_` inside child 3 of an outer foreach). */
  readonly taskIdPrefix: string;
  /** The innermost foreach's size. */
  readonly count: number;
  /** The innermost foreach's split task: its items are at `contractKeys.foreachItems(split)`. */
  readonly split: TaskRef;
}

/** What every child of a group shares. */
export interface TaskTemplate {
  /** The flow's name (MF_FLOW). */
  readonly flow: string;
  /** The run's id (MF_RUN_ID). */
  readonly runId: string;
  /** The step every child of the group runs (MF_STEP). */
  readonly step: string;
  /** Unique within the run; names the group to the layer (and to the Batch job name). */
  readonly groupId: string;
  /**
   * The container image the step runs in (the step's `image` policy). The local layer only
   * records it; the Batch layer requires it.
   *
   * @default - none: the step names no image
   */
  readonly image?: string;
  /** argv of the command, run without a shell. */
  readonly command: readonly string[];
  /** The step's policies after defaults and `--with retry` (resources, retry, timeout, catch). */
  readonly policies: EffectivePolicies;
  /** The environment every child shares (flow and step env, MF_FLOW, MF_RUN_ID, MF_STEP, ...). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * A single task's id; absent for a foreach group (see `foreach`).
   *
   * @default - none: a foreach group, whose children's ids derive from `foreach`; without
   * `foreach` either, the task id is `0`
   */
  readonly taskId?: string;
  /**
   * How the children of a foreach group differ (task id prefix, count, where the items are).
   *
   * @default - none: the group is a single task
   */
  readonly foreach?: ForeachDerivation;
  /**
   * The input task paths; `{taskId}` stands for the child's own task id (a body step's input is
   * the previous step's task with the same id). Absent when the list is in `inputPathsFile`.
   *
   * @default - none: the list is in `inputPathsFile`; without either, the task has no inputs
   */
  readonly inputPaths?: readonly string[];
  /**
   * Key of the file listing the input paths (same placeholder); for wide joins.
   *
   * @default - none: the input paths are inline in `inputPaths`
   */
  readonly inputPathsFile?: string;
}

/** A child's task id. */
export function childTaskId(template: TaskTemplate, index: number): string {
  if (template.foreach) return `${template.foreach.taskIdPrefix}${index}`;
  return template.taskId ?? '0';
}

/** How a value goes into an environment variable: strings as they are, the rest as JSON. */
export function envText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export interface TemplateInput {
  readonly flow: string;
  readonly runId: string;
  readonly step: string;
  readonly datastoreRoot: string;
  /** The flow's env, then the step's (the step wins). MF_* names are the contract's. */
  readonly userEnv: Readonly<Record<string, string>>;
  /** MF_PARAM_* values, already named and rendered. */
  readonly parameterEnv: Readonly<Record<string, string>>;
  readonly caught: CaughtState;
  /** Set when MF_CAUGHT is too long: the key it was written to. */
  readonly caughtFile?: string;
  readonly foreach?: ForeachDerivation;
}

/** The shared part of the environment. */
export function templateEnvironment(input: TemplateInput): Record<string, string> {
  const env: Record<string, string> = { ...input.userEnv, ...input.parameterEnv };
  env.MF_FLOW = input.flow;
  env.MF_RUN_ID = input.runId;
  env.MF_STEP = input.step;
  env.MF_DATASTORE_ROOT = input.datastoreRoot;
  if (input.foreach) env.MF_FOREACH_COUNT = String(input.foreach.count);
  const vars = Object.keys(input.caught);
  if (vars.length) {
    if (input.caughtFile) env.MF_CAUGHT_FILE = input.caughtFile;
    else {
      const values = caughtValues(input.caught);
      env.MF_CAUGHT = JSON.stringify(values);
      for (const v of vars) env[`MF_CATCH_${v}`] = JSON.stringify(values[v]);
    }
  }
  return env;
}

/** MF_CAUGHT's text, and whether it fits in the environment. */
export function caughtText(caught: CaughtState): { text: string; inline: boolean } {
  const text = JSON.stringify(caughtValues(caught));
  return { text, inline: text.length <= MAX_INLINE_CHARS };
}

/** Reads a child's data from the datastore; layers pass a cached one (see `cachedChildReads`). */
export interface ChildReads {
  /** Line `index` (from 0) of the text at `key`. */
  line(key: string, index: number): Promise<string>;
  /** The text at `key`. */
  text(key: string): Promise<string>;
}

/**
 * ChildReads over a datastore `get`, keeping the last few files parsed: every child of a group
 * reads the same items file, which is fetched and split once.
 */
export function cachedChildReads(get: (key: string) => Promise<string | undefined>, keep = 4): ChildReads {
  const files = new Map<string, Promise<string>>();
  const fetch = (key: string): Promise<string> => {
    let p = files.get(key);
    if (!p) {
      p = get(key).then((t) => {
        if (t === undefined) throw new Error(`${key} is missing from the datastore`);
        return t;
      });
      files.set(key, p);
      if (files.size > keep) files.delete(files.keys().next().value!);
    }
    return p;
  };
  const lines = new Map<string, Promise<string[]>>();
  return {
    text: fetch,
    line: async (key, index) => {
      let l = lines.get(key);
      if (!l) {
        l = fetch(key).then((t) => t.split('\n'));
        lines.set(key, l);
        if (lines.size > keep) lines.delete(lines.keys().next().value!);
      }
      const all = await l;
      if (index >= all.length || (index === all.length - 1 && all[index] === '')) throw new Error(`${key} has no line ${index}`);
      return all[index];
    },
  };
}

/**
 * Child `index`'s environment, attempt `attempt`: the template's plus MF_TASK_ID, MF_RETRY_COUNT,
 * MF_INPUT_PATHS (or MF_INPUT_PATHS_FILE), and in a foreach MF_FOREACH_INDEX and MF_FOREACH_ITEM
 * (or MF_FOREACH_ITEM_FILE). MF_OUTPUT_DIR is the layer's to add: where a task writes is its
 * business. The Batch layer runs this same function in the container, with the array index.
 */
export async function childEnvironment(template: TaskTemplate, index: number, attempt: number, reads: ChildReads): Promise<Record<string, string>> {
  const taskId = childTaskId(template, index);
  const env: Record<string, string> = { ...template.env, MF_TASK_ID: taskId, MF_RETRY_COUNT: String(attempt) };
  const fill = (s: string) => s.split(TASK_ID_PLACEHOLDER).join(taskId);
  if (template.inputPathsFile !== undefined) {
    const key = fill(template.inputPathsFile);
    const text = await reads.text(key);
    if (text.length <= MAX_INLINE_CHARS + 1) env.MF_INPUT_PATHS = text.trimEnd().split('\n').join(',');
    else env.MF_INPUT_PATHS_FILE = key;
  } else env.MF_INPUT_PATHS = (template.inputPaths ?? []).map(fill).join(',');
  if (template.foreach) {
    env.MF_FOREACH_INDEX = String(index);
    const line = await reads.line(contractKeys.foreachItems(template.foreach.split), index);
    const parsed: unknown = JSON.parse(line);
    const item = envText(parsed);
    // A string item reaches MF_FOREACH_ITEM as its text: MF_FOREACH_ITEM_TEXT tells "7" from 7.
    if (typeof parsed === 'string') env.MF_FOREACH_ITEM_TEXT = '1';
    if (item.length <= MAX_INLINE_CHARS) env.MF_FOREACH_ITEM = item;
    else env.MF_FOREACH_ITEM_FILE = contractKeys.foreachItem(template.foreach.split, index);
  }
  return env;
}

/** The fan-out's files: the items file, and a file of its own for each item too long to inline. */
export function foreachItemFiles(split: TaskRef, items: readonly unknown[]): { key: string; body: string }[] {
  const lines: string[] = [];
  const files: { key: string; body: string }[] = [];
  items.forEach((item, i) => {
    const json = JSON.stringify(item) ?? 'null';
    lines.push(json);
    if (envText(item ?? null).length > MAX_INLINE_CHARS) files.push({ key: contractKeys.foreachItem(split, i), body: json });
  });
  files.push({ key: contractKeys.foreachItems(split), body: lines.join('\n') + '\n' });
  return files;
}

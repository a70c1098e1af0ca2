/**
 * The shape of the execution's state (the JSON each compiled state passes to the next), one place
 * for every path the compiled definition reads:
 *
 * ```
 * {
 *   "params": {name: value},          // the execution input's "Parameters" merged over the defaults
 *   "caught": {var: Failure | null},  // every catch var of the flow, null until its step failed
 *   "ctx": {                          // where in a foreach the current states run ({} at the top)
 *     "prefix": "3_",                 //   task-id prefix of the innermost foreach's children
 *     "count": 10,                    //   how many children it has
 *     "split": "3",                   //   task id of its split task
 *     "offset": 0,                    //   index of the first child this state covers
 *     "size": 10                      //   how many children (a chunk; absent for one child)
 *   },
 *   "joined": {"prefix": "", "count": 10},  // the foreach just closed, for its join step
 *   "ptext": {name: {"v": text}}      // json parameters as tasks get them (only when the flow has one)
 * }
 * ```
 * `ptext` holds each `json` parameter rendered as the runner renders it (runner/flow/parameters.ts
 * `envValue`): a string as it is, any other value as JSON text. `States.JsonToString` alone would
 * quote a string, and the task cannot tell `"abc"` given as a value from JSON text; a Choice
 * (`IsString`) at the start picks the rendering once, and the states that rebuild the state carry
 * `ptext` on ({@link carriedText}).
 * Foreach states add `fe`, `chunks`, `offsets`, `children` for a few states and drop them again.
 */
import { dynamic } from './dynamic-text';

export const STATE = {
  params: '$.params',
  caught: '$.caught',
  ctx: '$.ctx',
  joined: '$.joined',
  ptext: '$.ptext',
} as const;

/** `ptext` carried from `base` (`$`, or `$[0]` after a Parallel) by a state that rebuilds the state; nothing without json parameters. */
export function carriedText(hasJson: boolean, base = '$'): Record<string, string> {
  return hasJson ? { 'ptext.$': `${base}.ptext` } : {};
}

/** Estimated run-time lengths, for the size checks (see docs/step-functions.md "Compiler"). */
export const ESTIMATE = {
  /** Step Functions execution names are at most 80 characters. */
  runId: 80,
  /** Small integers: attempts, indexes, counts. */
  number: 5,
  /** A task-id prefix (`3_1_` …) and a split's task id. */
  taskId: 24,
  /** One caught failure as MF_CATCH_<var> renders it. */
  caughtFailure: 400,
  /** A parameter without a value at compile time (required, given at run time). */
  parameter: 256,
} as const;

/** The run id: the execution's name. */
export const RUN_ID = dynamic('$$.Execution.Name', 's', ESTIMATE.runId);
/** The attempt number of this state (0 on the first try; each ASL retry adds one). */
export const RETRY_COUNT = dynamic('$$.State.RetryCount', 'v', ESTIMATE.number);

/** The last child index a chunk covers (offset + size − 1), as an intrinsic. */
export const LAST_CHILD_INDEX = 'States.MathAdd(States.MathAdd($.ctx.offset, $.ctx.size), -1)';

/** Run-time values of the foreach context. */
export const CTX = {
  prefix: dynamic('$.ctx.prefix', 's', ESTIMATE.taskId),
  split: dynamic('$.ctx.split', 's', ESTIMATE.taskId),
  offset: dynamic('$.ctx.offset', 'v', ESTIMATE.number),
  count: dynamic('$.ctx.count', 'v', ESTIMATE.number),
  /** Last index of a chunk: offset + size − 1. */
  last: dynamic(LAST_CHILD_INDEX, 'v', ESTIMATE.number),
} as const;

/** The foreach a join closes. */
export const JOINED = {
  prefix: dynamic('$.joined.prefix', 's', ESTIMATE.taskId),
  count: dynamic('$.joined.count', 'v', ESTIMATE.number),
} as const;

/** A JSONPath member selector for a name (identifiers by dot, anything else in brackets). */
export function member(path: string, name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `${path}.${name}` : `${path}['${name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
}

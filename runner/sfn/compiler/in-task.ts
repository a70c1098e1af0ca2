/**
 * Step policies the task runtime carries out in the container (runner/task-runtime/python/mfcdk_task.py)
 * on Step Functions, where the state machine cannot:
 *
 * - **Inside a foreach body** a step is one Batch array job, and `batch:submitJob.sync` fails the
 *   whole array when one child fails, so an ASL Retry would rerun every child and an ASL Catch
 *   could not tell which child failed. There the runtime retries each child itself —
 *   `MF_ATTEMPTS` = retries + 1, `MF_RETRY_DELAY_SECONDS` apart, each attempt numbered and kept
 *   (`attempt-<n>`, status.json) — and with a `catch` records the last failure in the child's
 *   status.json (`caught`) and exits 0 (`MF_CATCH_IN_TASK`), so the array succeeds and only that
 *   child is caught. Batch's own array retries would rerun each failed child alone too, but
 *   `RetryStrategy` has only `attempts` (1–10) and `evaluateOnExit` — no delay between attempts
 *   (RetryStrategy, AWS Batch API Reference; "Automated job retries", AWS Batch User Guide) — and
 *   a child whose last attempt fails still fails the array; so Batch retries only host losses
 *   (runner/policy/batch.ts) and the runtime sleeps `minutesBetweenRetries` between its attempts.
 *   The container keeps its vCPUs and memory while it sleeps.
 * - **Every step with a timeout**: the runtime stops an attempt that runs longer than
 *   `MF_ATTEMPT_TIMEOUT_SECONDS` (SIGTERM, SIGKILL after the grace) and records it as `timeout`,
 *   as the runner records a Batch timeout; the job definition's `attemptDurationSeconds` stays as
 *   a backstop covering every attempt the container makes ({@link backstopTimeoutSeconds}).
 * - **A foreach split's items** (`MF_FOREACH_CHECK`): an empty or missing list fails the split's
 *   attempt (exit 94, the runner's reason in status.json), so its retry and catch apply as under
 *   `run`; the state machine's own check (`metaflow.ForeachItems`) stays behind it.
 * - **Catch vars**: a failure the runtime caught is not in the execution's state, and a var set in
 *   a foreach body differs per child and, from the join on, is the list of the children's
 *   failures (runner/contract/caught.ts); the runtime reads every var from the catch step's
 *   status.json files (`MF_CAUGHT_READ`). With a metadata service, the runtime registers a failure
 *   it caught under the step's var (`MF_CATCH_VAR`), and a catch step's first successor registers
 *   the failure when the state machine caught it ({@link CaughtRead.register}).
 */
import { nextOf } from '../../flow/model';
import { parameterEnvName } from '../../flow/parameters';
import type { Compilation } from './compilation';

/** The grace between SIGTERM and SIGKILL when the runtime stops an attempt (ECS's default stop timeout). */
export const STOP_GRACE_SECONDS = 30;
/** Room in the backstop for what is not the command: stage 0, the fetch, the upload and commit. */
export const BACKSTOP_MARGIN_SECONDS = 600;

/** Does the runtime carry out `step`'s retries and catch (a step inside a foreach body)? */
export function retriesInTask(c: Compilation, step: string): boolean {
  return c.enclosingForeaches(step).length > 0;
}

/**
 * The policy variables of a step's container. A step with a `catch` is caught by the runtime when
 * its last allowed attempt fails (`MF_MAX_ATTEMPTS`, counted from the attempts status.json holds): at the
 * top level the earlier attempts were ASL retries, each a new job. The ASL Catch stays for jobs
 * that fail without the runtime (never started, killed whole).
 */
export function inTaskEnvironment(c: Compilation, step: string): Record<string, string> {
  const { policies } = c.plan(step);
  const env: Record<string, string> = {};
  if (policies.timeoutSeconds !== undefined) env.MF_ATTEMPT_TIMEOUT_SECONDS = String(policies.timeoutSeconds);
  const inBody = retriesInTask(c, step);
  if (inBody && policies.retries > 0) {
    env.MF_ATTEMPTS = String(policies.retries + 1);
    env.MF_RETRY_DELAY_SECONDS = String(policies.retryDelayMs / 1000);
  }
  // The attempts a step is allowed: the runtime catches on the last one, and words an earlier failed one as a
  // retried attempt in its `_exception` (the state machine retries it as a new job).
  if (policies.catch || policies.retries > 0) env.MF_MAX_ATTEMPTS = String(policies.retries + 1);
  if (policies.catch) {
    env.MF_CATCH_IN_TASK = '1';
    // The var the runtime registers the failure under with the metadata service (mfcdk_metadata.py finish).
    if (policies.catch.var) env.MF_CATCH_VAR = policies.catch.var;
  }
  // A split's items are checked as its attempt's outcome, as the runner does (retried, caught), not after the task.
  const src = c.graph.steps.get(step)!.foreach;
  if (src && 'output' in src) env.MF_FOREACH_CHECK = JSON.stringify({ output: src.output });
  else if (src && 'param' in src) env.MF_FOREACH_CHECK = JSON.stringify({ param: src.param, env: parameterEnvName(src.param) });
  return env;
}

/**
 * The job definition's `attemptDurationSeconds` for a step whose runtime times its attempts:
 * every attempt the container makes with its grace, the delays between them, and the margin.
 */
export function backstopTimeoutSeconds(timeoutSeconds: number, attempts: number, retryDelayMs: number): number {
  return attempts * (timeoutSeconds + STOP_GRACE_SECONDS) + (attempts - 1) * Math.ceil(retryDelayMs / 1000) + BACKSTOP_MARGIN_SECONDS;
}

/** How the runtime finds a catch var's value (see mfcdk_task.py `caught_values`). */
export interface CaughtRead {
  readonly var: string;
  readonly step: string;
  /** `task`: the one task of the catch step in this child; `all`: every one under this task's first `depth` id parts. */
  readonly mode: 'task' | 'all';
  readonly depth: number;
  /**
   * This step registers the catch step's task with the metadata service when the state machine
   * caught it (its job failed without its runtime: killed, never started), so nobody else did:
   * set for one step per such catch step outside any foreach (its first successor; a foreach
   * split's join), and only when the jobs register (CompileOptions.metadata).
   */
  readonly register?: true;
}

/**
 * How `step`'s runtime reads each catch var it sees: from the catch step's status.json, which
 * holds the failure whoever caught it (the runtime, or the state machine's record of a job that
 * failed without it) — the execution's state does not know what a runtime caught.
 */
export function caughtReads(c: Compilation, step: string): CaughtRead[] {
  const read: CaughtRead[] = [];
  const mine = c.enclosingForeaches(step);
  for (const v of c.visibleCatchVars(step)) {
    const setter = c.catchVars.get(v)!;
    const theirs = c.enclosingForeaches(setter);
    let k = 0;
    while (k < theirs.length && k < mine.length && theirs[k] === mine[k]) k++;
    if (k < theirs.length) read.push({ var: v, step: setter, mode: 'all', depth: k });
    else read.push({ var: v, step: setter, mode: 'task', depth: k, ...(registers(c, step, setter) ? { register: true as const } : {}) });
  }
  return read;
}

/** Does `step` register the task of `setter` (a catch step) when the state machine caught it ({@link CaughtRead.register})? */
function registers(c: Compilation, step: string, setter: string): boolean {
  if (c.options.metadata === undefined || c.enclosingForeaches(setter).length > 0) return false;
  const first = c.graph.kind.get(setter) === 'foreach' ? c.joinOf(setter) : nextOf(c.graph.steps.get(setter)!)[0];
  return first === step;
}

/**
 * The run's record in the datastore, written by the state machine itself (no runner process
 * exists on Step Functions), in the layout every reader of runs uses (runner/datastore/layout.ts):
 *
 * 1. after the parameter states: `<flow>/<run>/run.json` (running, orchestrator `step-functions`,
 *    the execution ARN, its start time, the parameters, the code package's URL), then the lookup copy and the index entry
 *    filed under the start time (`layout.startedRunSortKey`: the digits of yyyymmdd and hhmmss are
 *    inverted as (10ⁿ−1) − number with `States.MathAdd`, the one arithmetic ASL has);
 * 2. the flow's states, inside a one-branch Parallel whose Catch sees any failure;
 * 3. `run.json` again: succeeded, or failed with the error's name — then a Fail state with the
 *    same error and cause, so the execution fails as it would have without the record.
 *
 * Tasks are not in the record: each task's upload helper commits its status.json, which the
 * readers list (runner/datastore/step-functions-runs.ts). An execution that is stopped or times
 * out runs no Catch, so its record keeps saying `running`: `runs` and `show` reconcile it with the
 * execution's status (runner/sfn/reconcile.ts, docs/step-functions.md).
 */
import type { Compilation } from './compilation';
import { dynamic, toAsl } from './dynamic-text';
import { S3_RETRY } from './retry';
import type { Scope } from './scope';
import { carriedText, RUN_ID } from './state-shape';

const STARTED_AT = dynamic('$$.Execution.StartTime', 's', 30);
const EXECUTION_ARN = dynamic('$$.Execution.Id', 's', 200);
const FINISHED_AT = dynamic('$$.State.EnteredTime', 's', 30);
/** The index name's inverted date and time of day, computed by `Run.index-key` (numbers of 8 and 6 digits). */
const SORT_DATE = dynamic('$.run.key.date', 'v', 8);
const SORT_TIME = dynamic('$.run.key.time', 'v', 6);

/** The run summary (RunSummary, runner/datastore/types.ts) as the state machine writes it. */
function summary(c: Compilation, status: 'running' | 'succeeded' | 'failed', extra: Record<string, string> = {}): Record<string, unknown> {
  return {
    ...(toAsl({
      flow: c.flow,
      runId: RUN_ID,
      status,
      startedAt: STARTED_AT,
      withRetry: !!c.options.withRetry,
      compute: 'batch',
      orchestrator: 'step-functions',
      executionArn: EXECUTION_ARN,
      taskCount: 0,
      // the run's team, as the runner records it (`runs --team` filters on it)
      ...(c.team !== undefined ? { team: c.team } : {}),
      // the code package the jobs load (its URL ends in its sha1): `register` reads the flow's graph there
      codePackage: { url: c.code.codeUrl, sha1: c.code.codeUrl.slice(-40) },
      ...extra,
    }) as Record<string, unknown>),
    'parameters.$': '$.params',
  };
}

/** A putObject of the JSON at `bodyPath` to the datastore key `key` (tokens allowed). */
function putJson(c: Compilation, key: string, bodyPath: string): Record<string, unknown> {
  return {
    Type: 'Task',
    Resource: c.resource('aws-sdk:s3:putObject'),
    Parameters: toAsl({ Bucket: c.datastore.bucket, Key: c.s3Key(key), ContentType: 'application/json', 'Body.$': `States.JsonToString(${bodyPath})` }),
    ResultPath: null,
    Retry: [S3_RETRY],
  };
}

/** yyyymmdd and hh:mm:ss of the start time, as arrays of digit strings (ASL cannot split on several characters at once). */
const START_PART = (i: number) => `States.ArrayGetItem(States.StringSplit($$.Execution.StartTime, 'T'), ${i})`;
const DATE_PARTS = `States.StringSplit(${START_PART(0)}, '-')`;
const CLOCK_PARTS = `States.StringSplit(States.ArrayGetItem(States.StringSplit(${START_PART(1)}, 'Z'), 0), ':')`;

/** (10ⁿ−1) − the n digits of `parts`: `-1<digits>` as JSON is −(10ⁿ + number), so 2·10ⁿ−1 plus it. */
function inverted(digits: number, parts: readonly string[]): string {
  const nines = 2 * 10 ** digits - 1;
  return `States.MathAdd(${nines}, States.StringToJson(States.Format('-1${parts.map(() => '{}').join('')}', ${parts.join(', ')})))`;
}

/** Step 1: the run's record and index entry, after the parameter states. */
export function addRunStart(scope: Scope, c: Compilation): void {
  const entry = toAsl({ flow: c.flow, runId: RUN_ID, startedAt: STARTED_AT });
  scope.add('Run.started', {
    Type: 'Pass',
    Comment: 'the run record (runner/datastore/types.ts RunSummary) and its index entry',
    Parameters: { summary: summary(c, 'running'), entry, 'date.$': DATE_PARTS, 'clock.$': CLOCK_PARTS },
    ResultPath: '$.run',
  });
  const date = [0, 1, 2].map((i) => `States.ArrayGetItem($.run.date, ${i})`);
  const seconds = "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem($.run.clock, 2), '.'), 0)";
  const clock = [0, 1].map((i) => `States.ArrayGetItem($.run.clock, ${i})`).concat(seconds);
  // One field per number: Step Functions allows 10 intrinsic functions in a field.
  scope.add('Run.index-key', {
    Type: 'Pass',
    Comment: 'the index name: the start time with its digits inverted (newest first in key order), see layout.startedRunSortKey',
    Parameters: { 'date.$': inverted(8, date), 'time.$': inverted(6, clock) },
    ResultPath: '$.run.key',
  });
  // Summary first, then the index entry: an indexed run always has a summary (as KeyedDatastore.writeRunSummary).
  scope.add('Run.write-record', putJson(c, `${c.flow}/${RUN_ID}/run.json`, '$.run.summary'));
  scope.add('Run.write-lookup', putJson(c, `.index/ids/${RUN_ID}.json`, '$.run.entry'));
  scope.add('Run.write-index', putJson(c, `.index/runs/${SORT_DATE}-${SORT_TIME}~${RUN_ID}.json`, '$.run.entry'));
}

/** Steps 2 and 3: the flow's states in a Parallel, then the final record. */
export function addRunSteps(scope: Scope, c: Compilation, steps: { StartAt: string; States: Record<string, unknown> }): void {
  const failed = 'Run.failed';
  scope.add('Run.steps', {
    Type: 'Parallel',
    Comment: "the flow's steps; any failure is recorded in run.json before the execution fails",
    Parameters: { 'params.$': '$.params', 'caught.$': '$.caught', 'ctx.$': '$.ctx', ...carriedText(c.jsonParams.length > 0) },
    Branches: [steps],
    ResultPath: '$.steps',
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: failed }],
  });
  scope.add('Run.succeeded', { Type: 'Pass', Parameters: summary(c, 'succeeded', { finishedAt: FINISHED_AT }), ResultPath: '$.run.summary' });
  // The execution's output is the flow's last state, as without the record.
  scope.add('Run.write-success', { ...putJson(c, `${c.flow}/${RUN_ID}/run.json`, '$.run.summary'), OutputPath: '$.steps[0]' });
  const fail = 'Run.fail';
  // The error's name only: its cause (for a Batch task, the whole job description) stays in the
  // execution's history, which `sfn status` shows; the failed tasks' status.json say what failed.
  const error = dynamic('$.failure.Error', 's', 64);
  scope.addDetached(failed, { Type: 'Pass', Parameters: summary(c, 'failed', { finishedAt: FINISHED_AT, error }), ResultPath: '$.run.summary', Next: 'Run.write-failure' });
  // A record that cannot be written must not hide the flow's own failure.
  scope.addDetached('Run.write-failure', { ...putJson(c, `${c.flow}/${RUN_ID}/run.json`, '$.run.summary'), Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: fail }], Next: fail });
  scope.addDetached(fail, { Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' });
}

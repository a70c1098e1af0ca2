/**
 * A Step Functions run's record reconciled with its execution. The state machine writes the
 * record's final status itself only when its own states end the run (success, or a failure its
 * `Run.steps` Catch sees); an execution that is stopped (StopExecution), times out
 * (`TimeoutSeconds`) or fails outside that Catch runs no more states, so its record keeps saying
 * `running`. `runs` and `show` therefore ask Step Functions (DescribeExecution) about each record
 * that still says `running` and whose orchestrator is Step Functions, and show the execution's
 * final status with its reason. The record in the datastore is not rewritten (the readers open it
 * read-only); see docs/step-functions.md "Runs in the datastore".
 *
 * DescribeExecution's statuses: https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
 * (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE).
 */
import { DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import { isStepFunctionsRun, withDuration } from '../datastore/step-functions-runs';
import type { RunSummary } from '../datastore/types';
import { awsErrorName } from './context';
import { parseExecutionArn } from './names';

/** What the reconciliation needs of DescribeExecution. */
export interface ExecutionEnd {
  readonly status?: string;
  readonly stopDate?: Date;
  readonly error?: string;
  readonly cause?: string;
}

/** Looks an execution up: undefined when Step Functions no longer knows it. */
export type DescribeExecution = (executionArn: string) => Promise<ExecutionEnd | undefined>;

/** A cause as one line, cut at 300 characters (a Batch failure's cause is a whole job description). */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 300 ? `${flat.slice(0, 297)}...` : flat;
}

function reason(what: string, end: ExecutionEnd): string {
  const detail = [end.error, end.cause].filter((s): s is string => !!s && s.trim() !== '').map(oneLine).join(': ');
  return detail ? `${what}: ${detail}` : what;
}

/**
 * The run as its execution says it ended; the run itself when the execution is still running (or
 * the record is not a running Step Functions run).
 */
export function reconciledRun<T extends RunSummary>(run: T, end: ExecutionEnd): T {
  if (run.status !== 'running' || !isStepFunctionsRun(run)) return run;
  const finishedAt = end.stopDate?.toISOString();
  const ended = (status: RunSummary['status'], error?: string): T =>
    withDuration({ ...run, status, ...(finishedAt ? { finishedAt } : {}), ...(error ? { error } : {}) }) as T;
  switch (end.status) {
    case 'ABORTED':
      return ended('stopped', reason('the execution was stopped (StopExecution)', end));
    case 'TIMED_OUT':
      return ended('timed out', reason("the execution timed out (the state machine's TimeoutSeconds)", end));
    case 'FAILED':
      return ended('failed', reason('the execution failed outside the run record\'s Catch', end));
    case 'PENDING_REDRIVE':
      return ended('failed', reason('the execution failed and may be redriven (RedriveExecution)', end));
    case 'SUCCEEDED':
      // The final record write itself did not land (the execution still succeeded).
      return ended('succeeded');
    default:
      return run;
  }
}

/** DescribeExecution through `clientFor(region)` (the region is the execution ARN's). */
export function describeExecutionWith(clientFor: (region: string) => SFNClient): DescribeExecution {
  return async (executionArn) => {
    // arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>
    const region = parseExecutionArn(executionArn) ? executionArn.split(':')[3] : undefined;
    if (!region) return undefined;
    try {
      return await clientFor(region).send(new DescribeExecutionCommand({ executionArn }));
    } catch (err) {
      if (awsErrorName(err) === 'ExecutionDoesNotExist') return undefined;
      throw err;
    }
  };
}

/**
 * The runs with every `running` Step Functions run reconciled with its execution (a few
 * DescribeExecution calls at a time). A failed lookup leaves the run as recorded and is reported
 * once through `warn` (one line: the first failure and how many runs it left unchecked).
 */
export async function reconcileRuns<T extends RunSummary>(runs: readonly T[], describe: DescribeExecution, warn: (line: string) => void): Promise<T[]> {
  const out = [...runs];
  const pending = out.map((run, i) => ({ run, i })).filter(({ run }) => run.status === 'running' && isStepFunctionsRun(run) && run.executionArn);
  const failures: string[] = [];
  const CONCURRENCY = 4;
  for (let at = 0; at < pending.length; at += CONCURRENCY) {
    await Promise.all(
      pending.slice(at, at + CONCURRENCY).map(async ({ run, i }) => {
        try {
          const end = await describe(run.executionArn!);
          if (end) out[i] = reconciledRun(run, end);
        } catch (err) {
          failures.push(`${run.runId}: ${oneLine((err as Error).message ?? String(err))}`);
        }
      }),
    );
  }
  if (failures.length) {
    warn(`could not ask Step Functions how ${failures.length === 1 ? 'run' : `${failures.length} runs`} ended, shown as recorded (${failures[0]}${failures.length > 1 ? '; …' : ''})`);
  }
  return out;
}

/** DescribeExecution with the SDK's usual credentials and endpoint, one client per region. */
export function describeExecutionFromSdk(): DescribeExecution {
  const { createSfnClient } = require('../aws/clients') as typeof import('../aws/clients');
  const clients = new Map<string, SFNClient>();
  return describeExecutionWith((region) => {
    let client = clients.get(region);
    if (!client) clients.set(region, (client = createSfnClient({ region })));
    return client;
  });
}

/** `runs`/`show`: reconcile what they are about to print; nothing is asked when no run needs it. */
export async function reconcileForDisplay<T extends RunSummary>(runs: readonly T[], warn: (line: string) => void, describe?: DescribeExecution): Promise<T[]> {
  if (!runs.some((r) => r.status === 'running' && isStepFunctionsRun(r))) return [...runs];
  return reconcileRuns(runs, describe ?? describeExecutionFromSdk(), warn);
}

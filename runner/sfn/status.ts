/**
 * The status of one execution: DescribeExecution for the overall state, and the whole history
 * through the SDK paginator (GetExecutionHistory pages of up to 1,000 events), summarized per state.
 */
import { DescribeExecutionCommand, paginateGetExecutionHistory, HistoryEvent } from '@aws-sdk/client-sfn';
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';
import { awsErrorName, SfnContext } from './context';
import { summarizeHistory, StateView } from './history';
import { parseExecutionArn, runIdOfExecution } from './names';

export interface ExecutionStatus {
  readonly executionArn: string;
  readonly stateMachine: string;
  readonly runId: string;
  /** RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED or PENDING_REDRIVE. */
  readonly status: string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
  /** The execution's error and cause, when it failed. */
  readonly error?: string;
  readonly cause?: string;
  readonly states: readonly StateView[];
}

/** Overall and per-state status of `executionArn`. */
export async function executionStatus(ctx: Pick<SfnContext, 'sfn'>, executionArn: string): Promise<ExecutionStatus> {
  const names = parseExecutionArn(executionArn);
  if (!names) {
    throw new UserInputError(`execution must be an execution ARN (arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>), got ${describeValue(executionArn)}`);
  }
  let described;
  try {
    described = await ctx.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (err) {
    if (awsErrorName(err) === 'ExecutionDoesNotExist') throw new UserInputError(`no execution ${describeValue(executionArn)}`);
    throw err;
  }
  const events: HistoryEvent[] = [];
  for await (const page of paginateGetExecutionHistory({ client: ctx.sfn, pageSize: 1000 }, { executionArn })) {
    events.push(...(page.events ?? []));
  }
  return {
    executionArn,
    stateMachine: names.stateMachine,
    runId: runIdOfExecution(described.name ?? names.execution),
    status: described.status ?? 'UNKNOWN',
    startDate: described.startDate,
    stopDate: described.stopDate,
    error: described.error,
    cause: described.cause,
    states: summarizeHistory(events, described.status),
  };
}

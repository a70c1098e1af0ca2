import { Command } from 'commander';
import { describeValue } from '../../../../lib/describe-value';
import { UserInputError } from '../../../errors';
import { formatDuration, formatTable } from '../../../progress/table';
import type { ExecutionStatus } from '../../../sfn/status';
import { addSfnOptions, resolveTarget, SfnFlags, withSfn } from '../../sfn-support';
import type { CommandContext } from '../index';

interface StatusFlags extends SfnFlags {
  readonly flow?: string;
  readonly json?: boolean;
}

const iso = (d: Date | undefined) => (d ? d.toISOString() : '-');
/** Longest cause shown; a Batch failure's cause is the whole job description. */
const CAUSE_MAX_LENGTH = 300;

/**
 * An error and its cause on one line. The cause of a failed Batch task is its job description
 * (JSON, keys capitalized by Step Functions): shown as its status reason and exit code.
 */
export function errorLine(error: string | undefined, cause: string | undefined): string {
  let text = cause;
  try {
    const job = JSON.parse(cause ?? '') as Record<string, unknown>;
    const reason = job.StatusReason ?? job.statusReason;
    const container = (job.Container ?? job.container) as Record<string, unknown> | undefined;
    const exitCode = container?.ExitCode ?? container?.exitCode;
    if (typeof reason === 'string') text = `${reason}${exitCode !== undefined ? ` (exit code ${exitCode})` : ''}`;
  } catch {
    // not JSON: the cause as it is
  }
  const oneLine = text?.replace(/\s+/g, ' ').trim();
  const shown = oneLine && oneLine.length > CAUSE_MAX_LENGTH ? `${oneLine.slice(0, CAUSE_MAX_LENGTH - 1)}…` : oneLine;
  return [error, shown].filter(Boolean).join(': ') || 'no error given';
}

/** The execution and one row per state entry: type, status, attempts, duration, Batch jobs; then the failures. */
export function formatExecutionStatus(s: ExecutionStatus): string {
  const took = s.startDate && s.stopDate ? ` in ${formatDuration(s.stopDate.getTime() - s.startDate.getTime())}` : '';
  const lines = [`Run ${s.runId} of ${s.stateMachine}: ${s.status}${took}`, `  started ${iso(s.startDate)}${s.stopDate ? `, stopped ${iso(s.stopDate)}` : ''}`, `  execution ${s.executionArn}`];
  if (s.error || s.cause) lines.push(`  error: ${errorLine(s.error, s.cause)}`);
  const rows: (string | number)[][] = [['state', 'type', 'status', 'attempts', 'duration', 'batch jobs']];
  for (const state of s.states) {
    rows.push([state.name, state.type, state.status, state.attempts, formatDuration(state.durationMs), state.batchJobIds.join(',') || '-']);
  }
  lines.push('', s.states.length ? formatTable(rows) : 'no state entered yet');
  const failed = s.states.filter((state) => state.lastError && state.status === 'FAILED');
  if (failed.length) lines.push('');
  for (const state of failed) {
    lines.push(`failed: ${state.name} after ${state.attempts} attempt(s): ${errorLine(state.lastError!.error, state.lastError!.cause)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** `metaflow-cdk sfn status <execution-arn|run-id>`: an execution's per-state view from its history. */
export function sfnStatusCommand(context: CommandContext): Command {
  const cmd = new Command('status')
    .description("an execution's status and, per state, its attempts, duration and AWS Batch jobs (from the execution history)")
    .argument('<execution-arn|run-id>', 'the execution ARN, or the run id (the execution name) with --flow')
    .option('--flow <flow-file|name>', 'the flow of a run id: flow file, flow name or state machine name')
    .option('--json', 'print the status as JSON');
  addSfnOptions(cmd).action(async (execution: string, flags: StatusFlags) => {
    await withSfn(flags, context, async ({ ctx }) => {
      const { executionStatus } = require('../../../sfn/status') as typeof import('../../../sfn/status');
      const { executionArn, executionNameOfRunId } = require('../../../sfn/names') as typeof import('../../../sfn/names');
      const { sfnLocation } = require('../../../sfn/context') as typeof import('../../../sfn/context');
      let arn = execution;
      if (execution.startsWith('arn:')) {
        if (flags.flow !== undefined) throw new UserInputError(`--flow applies to a run id; the execution ARN ${describeValue(execution)} names its state machine`);
      } else {
        if (flags.flow === undefined) throw new UserInputError(`run id ${describeValue(execution)} needs --flow <flow-file|name> (the state machine it ran on), or give the execution ARN`);
        const runId = executionNameOfRunId(execution);
        arn = executionArn(await sfnLocation(ctx), resolveTarget(flags.flow, ctx.settings).name, runId);
      }
      const status = await executionStatus(ctx, arn);
      context.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatExecutionStatus(status));
    });
    context.setExitCode(0);
  });
  return cmd;
}

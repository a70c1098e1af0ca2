import { Command } from 'commander';
import { describeValue } from '../../../../core/describe-value';
import { runtimeFailure } from '../../../batch/failures';
import { UserInputError } from '../../../errors';
import { formatDuration, formatTable } from '../../../progress/table';
import type { StateView } from '../../../sfn/history';
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
 * (JSON, keys capitalized by Step Functions): shown as its status reason and exit code, read from
 * `Container` — every job the product submits has one container (runner/batch/job-shape.ts). Jobs
 * of the earlier multi-container shape (`EcsProperties`) were never released, so they are not read:
 * their line is the status reason alone. An exit code of the task runtime's own says what failed.
 */
export function errorLine(error: string | undefined, cause: string | undefined): string {
  let text = cause;
  try {
    const job = JSON.parse(cause ?? '') as Record<string, unknown>;
    const reason = job.StatusReason ?? job.statusReason;
    const container = (job.Container ?? job.container) as Record<string, unknown> | undefined;
    const exitCode = container?.ExitCode ?? container?.exitCode;
    const containerReason = container?.Reason ?? container?.reason;
    const runtime = typeof exitCode === 'number' ? runtimeFailure(exitCode, undefined) : undefined;
    if (typeof reason === 'string') {
      text = runtime ? `${reason}: ${runtime.message}` : `${reason}${exitCode !== undefined ? ` (exit code ${exitCode})` : ''}`;
      if (typeof containerReason === 'string' && containerReason !== reason) text += ` — ${containerReason}`;
    }
  } catch {
    // not JSON: the cause as it is
  }
  const oneLine = text?.replace(/\s+/g, ' ').trim();
  const shown = oneLine && oneLine.length > CAUSE_MAX_LENGTH ? `${oneLine.slice(0, CAUSE_MAX_LENGTH - 1)}…` : oneLine;
  return [error, shown].filter(Boolean).join(': ') || 'no error given';
}

/** A state entered more often than this (a Map's iterations) is one row of counts; `--json` has every entry. */
export const ROWS_PER_STATE = 10;
/** Failure lines shown at most; `--json` has every one. */
const FAILURE_LINES = 10;

function stateRows(states: readonly StateView[]): (string | number)[][] {
  const entries = new Map<string, StateView[]>();
  for (const state of states) entries.set(state.name, [...(entries.get(state.name) ?? []), state]);
  const rows: (string | number)[][] = [];
  for (const state of states) {
    const all = entries.get(state.name)!;
    if (all.length <= ROWS_PER_STATE) {
      rows.push([state.name, state.type, state.status, state.attempts, formatDuration(state.durationMs), state.batchJobIds.join(',') || '-']);
    } else if (all[0] === state) {
      const counts = new Map<string, number>();
      for (const e of all) counts.set(e.status, (counts.get(e.status) ?? 0) + 1);
      const longest = Math.max(...all.map((e) => e.durationMs ?? -1));
      const jobs = all.reduce((n, e) => n + e.batchJobIds.length, 0);
      rows.push([
        `${state.name} ×${all.length}`,
        state.type,
        [...counts].map(([status, n]) => `${n} ${status}`).join(', '),
        all.reduce((n, e) => n + e.attempts, 0),
        longest < 0 ? '-' : `≤${formatDuration(longest)}`,
        jobs ? `${jobs} jobs` : '-',
      ]);
    }
  }
  return rows;
}

/**
 * The execution and one row per state entry (type, status, attempts, duration, Batch jobs), a
 * state entered more than {@link ROWS_PER_STATE} times as one row of counts; then the failures.
 */
export function formatExecutionStatus(s: ExecutionStatus): string {
  const took = s.startDate && s.stopDate ? ` in ${formatDuration(s.stopDate.getTime() - s.startDate.getTime())}` : '';
  const lines = [`Run ${s.runId} of ${s.stateMachine}: ${s.status}${took}`, `  started ${iso(s.startDate)}${s.stopDate ? `, stopped ${iso(s.stopDate)}` : ''}`, `  execution ${s.executionArn}`];
  if (s.error || s.cause) lines.push(`  error: ${errorLine(s.error, s.cause)}`);
  const header = ['state', 'type', 'status', 'attempts', 'duration', 'batch jobs'];
  lines.push('', s.states.length ? formatTable([header, ...stateRows(s.states)]) : 'no state entered yet');
  const failed = s.states.filter((state) => state.lastError && state.status === 'FAILED');
  if (failed.length) lines.push('');
  for (const state of failed.slice(0, FAILURE_LINES)) {
    lines.push(`failed: ${state.name} after ${state.attempts} attempt(s): ${errorLine(state.lastError!.error, state.lastError!.cause)}`);
  }
  if (failed.length > FAILURE_LINES) lines.push(`… and ${failed.length - FAILURE_LINES} more failed (--json lists every one)`);
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

import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, datastoreKind, followUpDatastoreFlags, openDatastore } from '../datastore-options';
import { findRun, findTasks } from '../run-lookup';
import { formatTaskOutputs, readTaskOutputs, TaskOutputs } from '../task-outputs';
import { RunRecord, TaskRecord } from '../../datastore/types';
import { formatDuration, formatTable } from '../../progress/table';
import { checkRunner } from '../../orchestrator/liveness';
import { apiCallsLine } from '../../batch/api-calls';
import { isStepFunctionsRun } from '../../datastore/step-functions-runs';
import { formatUsage, runUsage } from '../../usage/report';
import { PriceTable, readPriceTable } from '../../usage/prices';
import { UserInputError } from '../../errors';
import { FROM_HELP, readsFromService, showRunFromService } from '../service-runs';

/** Wall time of a step: from its first attempt's start to its last attempt's end. */
function stepDuration(tasks: readonly TaskRecord[]): number | undefined {
  let first = Infinity;
  let last = -Infinity;
  for (const t of tasks) {
    for (const a of t.attempts) {
      if (a.startedAt) first = Math.min(first, Date.parse(a.startedAt));
      if (a.finishedAt) last = Math.max(last, Date.parse(a.finishedAt));
    }
  }
  return last >= first ? last - first : undefined;
}

/** The run as `show` prints it; `datastoreFlags` go into the `resume` hint (followUpDatastoreFlags). */
export function formatRun(run: RunRecord, datastoreFlags = ''): string {
  const runner = checkRunner(run);
  const sfn = isStepFunctionsRun(run);
  const lines = [
    `Run ${run.runId} of ${run.flow}: ${runner.dead ? `dead (${runner.reason}; \`metaflow-cdk resume ${run.runId}${datastoreFlags}\` reruns what did not succeed)` : run.status}${run.durationMs !== undefined ? ` in ${formatDuration(run.durationMs)}` : ''}`,
    `  started ${run.startedAt} on ${run.compute}${run.originRunId ? `, resumed from ${run.originRunId}` : ''}${sfn ? ' by Step Functions' : ''}`,
  ];
  if (sfn) lines.push(`  execution ${run.executionArn}`);
  if (run.tags?.length) lines.push(`  tags ${run.tags.join(', ')}`);
  if (Object.keys(run.parameters).length) {
    const shown = Object.entries(run.parameters).map(([k, v]) => {
      const text = JSON.stringify(v);
      return `${k}=${text.length > 60 ? text.slice(0, 57) + '...' : text}`;
    });
    lines.push(`  parameters ${shown.join(' ')}`);
  }
  if (run.error) lines.push(`  error: ${run.error}`);
  if (run.apiCalls) lines.push(`  ${apiCallsLine(run.apiCalls)}`);
  const steps = new Map<string, TaskRecord[]>();
  for (const t of run.tasks) steps.set(t.step, [...(steps.get(t.step) ?? []), t]);
  const rows: (string | number)[][] = [['step', 'tasks', 'attempts', 'succeeded', 'failed', 'caught', 'reused', 'other', 'duration']];
  for (const [step, tasks] of steps) {
    const count = (s: string) => tasks.filter((t) => t.status === s).length;
    const other = tasks.length - count('succeeded') - count('failed') - count('caught') - count('reused');
    rows.push([step, tasks.length, tasks.reduce((n, t) => n + t.attempts.length, 0), count('succeeded'), count('failed'), count('caught'), count('reused'), other, formatDuration(stepDuration(tasks))]);
  }
  lines.push('', formatTable(rows));
  const notable = run.tasks.filter((t) => t.status === 'failed' || t.status === 'caught');
  if (notable.length) {
    lines.push('');
    for (const t of notable) {
      const last = t.attempts[t.attempts.length - 1];
      const notRetried = last?.retryable === false ? ' (not retried: another attempt cannot succeed)' : '';
      lines.push(`${t.status === 'caught' ? 'caught' : 'failed'}: ${t.step}/${t.taskId} after ${t.attempts.length} attempt(s): ${last?.reason ?? 'no attempt'}${notRetried}`);
    }
  }
  // Host losses (spot reclaims) the compute layer retried inside an attempt: shown apart from user retries.
  const hostLosses = run.tasks.flatMap((t) => t.attempts.filter((a) => a.infrastructureRetries).map((a) => `${t.step}/${t.taskId}#${a.attempt} ×${a.infrastructureRetries}`));
  if (hostLosses.length) {
    lines.push('', `host losses retried by AWS Batch (not user retries): ${hostLosses.slice(0, 10).join(', ')}${hostLosses.length > 10 ? `, … (${hostLosses.length} attempts)` : ''}`);
  }
  if (sfn) {
    lines.push(
      '',
      `tasks are those that wrote their status.json (a task still running or never started is not listed), each with every attempt; every state with its Batch job: \`metaflow-cdk sfn status ${run.executionArn}\``,
    );
  }
  return lines.join('\n') + '\n';
}

/** `metaflow-cdk show <run-id>`: the run's per-step table; `show <run>/<step>[/<task>]`: the tasks' outputs. */
export const registerShow: CommandRegistrar = (program, context) => {
  const cmd = new Command('show')
    .description("show a run (status, and per step its tasks, attempts, outcomes and duration), or a step's or task's outputs: values and files")
    .argument('<run-id[/step[/task]]>', 'the run, e.g. 20260101-120000-abc123; or a step of it (start) or one task (start/0) for its outputs')
    .option('--json', 'print the run record (or the tasks\' outputs) as JSON')
    .option('--graph', "draw the run's graph, each step with its status and number of tasks (as text; --svg <file> for SVG)")
    .option('--svg <file>', "draw the run's graph as SVG in this file (red: failed steps)")
    .option('--prices <file>', 'a price table (JSON, docs/operations.md "Usage and cost") for an estimated cost of the run')
    .option('--from <source>', `${FROM_HELP}; with service, <run-id> is <flow>/<run> or a run id`);
  addDatastoreOptions(cmd).action(async (spec: string, flags: DatastoreFlags & { json?: boolean; graph?: boolean; svg?: string; prices?: string; from?: string }) => {
    if (readsFromService(flags)) return showRunFromService(spec, flags.json === true, context);
    const prices: PriceTable | undefined = flags.prices !== undefined ? readPriceTable(flags.prices) : undefined;
    const datastore = await openDatastore(flags, context, { write: false });
    if (flags.graph || flags.svg !== undefined) return (require('../../graph/draw') as typeof import('../../graph/draw')).drawRun(spec, flags, datastore, context);
    const datastoreFlags = followUpDatastoreFlags(flags, datastoreKind(flags));
    if (spec.includes('/')) {
      if (prices) throw new UserInputError(`--prices applies to \`show <run-id>\`, not to a step's or task's outputs (${spec})`);
      const { run, tasks } = await findTasks(datastore, spec, false);
      const outputs: TaskOutputs[] = [];
      // A foreach step's tasks, a few at a time (each is a get and a listing on S3).
      for (let i = 0; i < tasks.length; i += 16) outputs.push(...(await Promise.all(tasks.slice(i, i + 16).map((t) => readTaskOutputs(datastore, run, t)))));
      context.stdout.write(flags.json ? JSON.stringify({ runId: run.runId, flow: run.flow, tasks: outputs }, null, 2) + '\n' : formatTaskOutputs(run.runId, outputs, datastoreFlags));
      return;
    }
    const recorded = await findRun(datastore, spec);
    // A Step Functions run still `running` in its record may have been stopped or timed out (runner/sfn/reconcile.ts).
    const { reconcileForDisplay } = require('../../sfn/reconcile') as typeof import('../../sfn/reconcile');
    const [reconciled] = await reconcileForDisplay([recorded], (line) => context.stderr.write(`metaflow-cdk: ${line}\n`));
    // What the run used, from its recorded attempts (runner/usage; a Step Functions run's from Batch), and its cost with a price table.
    const { withStepFunctionsUsage } = require('../../usage/sfn') as typeof import('../../usage/sfn');
    const run = await withStepFunctionsUsage(reconciled, (line) => context.stderr.write(`metaflow-cdk: ${line}\n`));
    const usage = runUsage(run, prices);
    const usageLines = formatUsage(usage);
    context.stdout.write(flags.json ? JSON.stringify({ ...run, usage }, null, 2) + '\n' : formatRun(run, datastoreFlags) + (usageLines.length ? `\n${usageLines.join('\n')}\n` : ''));
  });
  program.addCommand(cmd);
};

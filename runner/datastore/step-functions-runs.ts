/**
 * Runs that a Step Functions execution ran (orchestrator `step-functions`): no runner keeps their
 * task chunks, so their tasks are the status.json files the tasks' upload helpers committed
 * (runner/batch/output-passing.ts), found by listing the run's prefix once; the record's own
 * fields the state machine cannot compute (the duration) are derived from what it wrote.
 */
import { RunSummary, TaskRecord } from './types';

/** Is this a run of a compiled state machine (tasks from status.json, logs in CloudWatch)? */
export const isStepFunctionsRun = (run: Pick<RunSummary, 'orchestrator'>): boolean => run.orchestrator === 'step-functions';

/** The status.json keys among the keys under `<flow>/<run>/` (one per task that has finished). */
export function taskStatusKeys(keys: readonly string[], flow: string, runId: string): string[] {
  const prefix = `${flow}/${runId}/`;
  return keys.filter((k) => k.startsWith(prefix) && /^[^/]+\/[^/]+\/status\.json$/.test(k.slice(prefix.length)));
}

/** The summary with its duration, which the state machine cannot compute (ASL has no date arithmetic). */
export function withDuration(summary: RunSummary): RunSummary {
  if (summary.durationMs !== undefined || summary.finishedAt === undefined) return summary;
  const ms = Date.parse(summary.finishedAt) - Date.parse(summary.startedAt);
  return Number.isFinite(ms) ? { ...summary, durationMs: Math.max(0, ms) } : summary;
}

/** Tasks in the order they finished (status.json keys list by name, not by time). */
export function inFinishOrder(tasks: TaskRecord[]): TaskRecord[] {
  const finished = (t: TaskRecord) => t.attempts[t.attempts.length - 1]?.finishedAt ?? '';
  return tasks.sort((a, b) => finished(a).localeCompare(finished(b)));
}

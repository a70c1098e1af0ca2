import type { RunRecord, TaskRecord } from '../datastore/types';

/**
 * What a resumed run took from its origin and what it ran itself, per step, for the lines printed
 * when a resume ends (the per-task "reused" lines scroll by and a live view shows none).
 *
 * Metaflow's `resume` logs one line per cloned task, prefixed with the new task's path and naming
 * the origin's ("Cloning results of a previously run task <origin run>/<step>/<task>", shown at
 * https://docs.metaflow.org/metaflow/debugging; Netflix/metaflow metaflow/runtime.py), then runs
 * the rest. The runner prints `[<step>/<task>] reused from run <origin>` per task as it goes
 * (plain output), and at the end this summary, one line per kind:
 *
 *   reused from run 20260101-000000-abc123: start (1 task), train (4 of 5 tasks)
 *   ran: train (1 of 5 tasks), pick (1 task), end (1 task)
 *
 * `steps` orders the steps (the flow's order). Empty for a run that resumed nothing.
 */
export function resumeSummary(record: RunRecord, steps: readonly string[]): string[] {
  if (!record.originRunId) return [];
  const byStep = new Map<string, TaskRecord[]>();
  for (const t of record.tasks) byStep.set(t.step, [...(byStep.get(t.step) ?? []), t]);
  const order = [...steps, ...[...byStep.keys()].filter((s) => !steps.includes(s))];
  const part = (pick: (t: TaskRecord) => boolean) =>
    order
      .filter((s) => byStep.get(s)?.some(pick))
      .map((s) => {
        const all = byStep.get(s)!;
        const n = all.filter(pick).length;
        return `${s} (${n === all.length ? '' : `${n} of `}${all.length} task${all.length === 1 ? '' : 's'})`;
      });
  const reused = part((t) => t.status === 'reused');
  // A task that ran: it made at least one attempt in this run (queued or cancelled before starting: not yet).
  const ran = part((t) => t.status !== 'reused' && t.attempts.length > 0);
  return [
    `reused from run ${record.originRunId}: ${reused.length ? reused.join(', ') : 'nothing (every task ran again)'}`,
    `ran: ${ran.length ? ran.join(', ') : 'nothing (every task was reused)'}`,
  ];
}

/**
 * What a task produced, as `show <run>/<step>[/<task>]` and `outputs` read it: the values of its
 * outputs.json and the files it wrote, from wherever its outputs are (a task reused by `resume`
 * has them at its origin run's task path).
 */
import { taskPath } from '../contract/names';
import { Datastore, RunRecord, TaskFile, TaskRecord } from '../datastore/types';
import { formatBytes } from '../progress/table';
import { CommandFailedError } from '../errors';

/** One task's outputs. */
export interface TaskOutputs {
  readonly step: string;
  readonly taskId: string;
  readonly status: string;
  /** The task path its outputs are at (its own, or its origin's when reused). */
  readonly outputsAt: string;
  /** Its outputs.json, `{}` when it wrote none. */
  readonly values: Record<string, unknown>;
  /** The files it wrote besides outputs.json, with sizes. */
  readonly files: readonly TaskFile[];
}

/** Where a task's outputs are: its own task path, or its origin's when `resume` reused it. */
export const outputsPathOf = (run: RunRecord, task: TaskRecord): string =>
  task.outputsAt ?? taskPath({ flow: run.flow, runId: run.runId, step: task.step, taskId: task.taskId });

/** Read one task's values and files. */
export async function readTaskOutputs(datastore: Datastore, run: RunRecord, task: TaskRecord): Promise<TaskOutputs> {
  const at = outputsPathOf(run, task);
  let values: Record<string, unknown> | undefined;
  try {
    values = await datastore.readOutputs(at);
  } catch (err) {
    if (typeof (err as { exitCode?: unknown }).exitCode === 'number') throw err;
    throw new CommandFailedError(`task ${run.runId}/${task.step}/${task.taskId}: ${(err as Error).message}`);
  }
  const files = await datastore.listTaskFiles(at);
  return { step: task.step, taskId: task.taskId, status: task.status, outputsAt: at, values: values ?? {}, files };
}

/** Longest rendering of a value in `show`; longer ones are cut and point at `outputs`. */
const VALUE_WIDTH = 100;

/** The outputs of a step's tasks as `show <run>/<step>` prints them. */
export function formatTaskOutputs(runId: string, outputs: readonly TaskOutputs[], datastoreFlags = ''): string {
  const lines: string[] = [];
  for (const o of outputs) {
    const spec = `${runId}/${o.step}/${o.taskId}`;
    lines.push(`${o.step}/${o.taskId} ${o.status}${o.outputsAt.split('/')[1] !== runId ? ` (outputs of run ${o.outputsAt.split('/')[1]})` : ''}`);
    const names = Object.keys(o.values);
    if (!names.length && !o.files.length) lines.push('  (no outputs)');
    for (const name of names) {
      const text = JSON.stringify(o.values[name]) ?? 'undefined';
      const cut = text.length > VALUE_WIDTH ? `${text.slice(0, VALUE_WIDTH - 1)}… (${text.length} chars: \`metaflow-cdk outputs ${spec} ${name}${datastoreFlags}\`)` : text;
      lines.push(`  ${name} = ${cut}`);
    }
    for (const f of o.files) lines.push(`  file ${f.name} (${formatBytes(f.bytes)})`);
  }
  return lines.join('\n') + '\n';
}

import { CorruptRunRecordError, Datastore, RunRecord, TaskRecord } from '../datastore/types';
import { describeValue } from '../../core/describe-value';
import { CommandFailedError, UserInputError } from '../errors';

/** The run with this id, or a UserInputError naming the id and the datastore. */
export async function findRun(datastore: Datastore, runId: string): Promise<RunRecord> {
  let record: RunRecord | undefined;
  try {
    record = await datastore.readRun(runId);
  } catch (err) {
    // The run exists but its record cannot be read: say so (exit 1), not "unknown run id".
    if (err instanceof CorruptRunRecordError) throw new CommandFailedError(`${err.message} in ${datastore.root}`);
    throw err;
  }
  if (!record) throw new UserInputError(`unknown run id ${describeValue(runId)} in ${datastore.root} (see \`metaflow-cdk runs\`)`);
  return record;
}

/**
 * Parse `<run>/<step>[/<task>]` (`needTask`: the task is required) and find its tasks, or a
 * UserInputError naming the path and what the run has.
 */
export async function findTasks(datastore: Datastore, spec: string, needTask: boolean): Promise<{ run: RunRecord; tasks: TaskRecord[] }> {
  const parts = spec.split('/');
  const shape = needTask ? '<run-id>/<step>/<task>, e.g. 20260101-120000-abc123/start/0' : '<run-id>/<step>[/<task>], e.g. 20260101-120000-abc123/start';
  if (parts.length < (needTask ? 3 : 2) || parts.length > 3 || parts.some((p) => p === '')) {
    throw new UserInputError(`bad task path ${describeValue(spec)}: expected ${shape}`);
  }
  const [runId, step, taskId] = parts;
  const run = await findRun(datastore, runId);
  const ofStep = run.tasks.filter((t) => t.step === step);
  if (!ofStep.length) throw new UserInputError(`run ${runId} has no step ${describeValue(step)} (steps: ${[...new Set(run.tasks.map((t) => t.step))].join(', ')})`);
  if (taskId === undefined) return { run, tasks: ofStep };
  const task = ofStep.find((t) => t.taskId === taskId);
  if (!task) {
    const ids = ofStep.map((t) => t.taskId);
    throw new UserInputError(`run ${runId} has no task ${step}/${taskId} (tasks of step "${step}": ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''})`);
  }
  return { run, tasks: [task] };
}

/** Parse `<run-id>/<step>/<task>` and find the task, or throw a UserInputError. */
export async function findTask(datastore: Datastore, spec: string): Promise<{ run: RunRecord; task: TaskRecord }> {
  const { run, tasks } = await findTasks(datastore, spec, true);
  return { run, task: tasks[0] };
}

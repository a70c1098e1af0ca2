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

/** Parse `<run-id>/<step>/<task>` and find the task, or throw a UserInputError. */
export async function findTask(datastore: Datastore, spec: string): Promise<{ run: RunRecord; task: TaskRecord }> {
  const parts = spec.split('/');
  if (parts.length !== 3 || parts.some((p) => p === '')) {
    throw new UserInputError(`bad task path ${describeValue(spec)}: expected <run-id>/<step>/<task>, e.g. 20260101-120000-abc123/start/0`);
  }
  const [runId, step, taskId] = parts;
  const run = await findRun(datastore, runId);
  const task = run.tasks.find((t) => t.step === step && t.taskId === taskId);
  if (!task) {
    const ofStep = run.tasks.filter((t) => t.step === step).map((t) => t.taskId);
    const hint = ofStep.length
      ? `tasks of step "${step}": ${ofStep.slice(0, 10).join(', ')}${ofStep.length > 10 ? ', ...' : ''}`
      : `steps: ${[...new Set(run.tasks.map((t) => t.step))].join(', ')}`;
    throw new UserInputError(`run ${runId} has no task ${step}/${taskId} (${hint})`);
  }
  return { run, task };
}

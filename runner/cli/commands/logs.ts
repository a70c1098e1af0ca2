import { Command } from 'commander';
import { describeValue } from '../../../core/describe-value';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { findTask } from '../run-lookup';
import { CommandFailedError, UserInputError } from '../../errors';
import { isStepFunctionsRun } from '../../datastore/step-functions-runs';

/**
 * A Batch task's log from CloudWatch, through the job id its attempt records (the AWS SDK is loaded
 * only here): for a Step Functions task, which no runner copied to the datastore, and for a Batch
 * task whose copy is empty (`run --logs failed|none`, or a run followed by `watch`).
 */
async function cloudWatchLog(spec: string, jobId: string | undefined, missing: string): Promise<string> {
  if (!jobId) throw new CommandFailedError(`task ${spec} ${missing}, so its log cannot be found`);
  const { readJobLog } = require('../../batch/job-log') as typeof import('../../batch/job-log');
  const { createBatchClient, createLogsClient } = require('../../aws/clients') as typeof import('../../aws/clients');
  const clients = { batch: createBatchClient(), logs: createLogsClient() };
  try {
    const lines = await readJobLog(clients, jobId, `logs of ${spec}`);
    return lines.map((l) => `${l}\n`).join('');
  } finally {
    clients.batch.destroy();
    clients.logs.destroy();
  }
}

/** `metaflow-cdk logs <run>/<step>/<task> [--attempt N]`: one attempt's stdout and stderr. */
export const registerLogs: CommandRegistrar = (program, context) => {
  const cmd = new Command('logs')
    .description("print a task attempt's output (stdout and stderr, in order)")
    .argument('<run/step/task>', 'the task, e.g. 20260101-120000-abc123/start/0')
    .option('--attempt <n>', 'which attempt (default: the last one)');
  addDatastoreOptions(cmd).action(async (spec: string, flags: DatastoreFlags & { attempt?: string }) => {
    const datastore = await openDatastore(flags, context, { write: false });
    const { run, task } = await findTask(datastore, spec);
    const numbers = task.attempts.map((a) => a.attempt);
    let attempt: number;
    if (flags.attempt !== undefined) {
      attempt = Number(flags.attempt);
      if (!/^\d+$/.test(flags.attempt) || !numbers.includes(attempt)) {
        throw new UserInputError(`--attempt ${describeValue(flags.attempt)}: task ${spec} has attempts ${numbers.length ? numbers.join(', ') : '(none)'}`);
      }
    } else if (numbers.length) attempt = Math.max(...numbers);
    else if (task.reusedFrom) {
      throw new UserInputError(`task ${spec} was reused from run ${task.reusedFrom}: see \`metaflow-cdk logs ${task.reusedFrom}/${task.step}/${task.taskId}\``);
    } else throw new UserInputError(`task ${spec} has no attempts (status ${task.status})`);
    const record = task.attempts.find((a) => a.attempt === attempt);
    let text = isStepFunctionsRun(run)
      ? await cloudWatchLog(spec, record?.externalId, 'ran on Step Functions but its status.json names no Batch job')
      : await datastore.readLog({ flow: run.flow, runId: run.runId, step: task.step, taskId: task.taskId, attempt });
    // A Batch attempt whose lines were not copied to the datastore: read them where Batch put them.
    if (!text && !isStepFunctionsRun(run) && run.compute === 'batch' && record?.externalId) {
      try {
        text = await cloudWatchLog(spec, record.externalId, 'has no Batch job on record');
      } catch (err) {
        // It may simply have printed nothing: say both what the datastore holds and why CloudWatch could not help.
        const why = err instanceof Error ? err.message : String(err);
        throw new CommandFailedError(`attempt ${attempt} of ${spec} has no lines in the datastore (it printed nothing, or the run kept no copy: --logs failed|none, watch) and ${why}`);
      }
    }
    if (text === undefined || text === '') context.stderr.write(`(attempt ${attempt} of ${spec} printed nothing)\n`);
    else context.stdout.write(text);
  });
  program.addCommand(cmd);
};

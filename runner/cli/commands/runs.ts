import { Command } from 'commander';
import { describeValue } from '../../../core/describe-value';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { formatDuration, formatTable } from '../../progress/table';
import { UserInputError } from '../../errors';
import { shownStatus } from '../../orchestrator/liveness';

/** `metaflow-cdk runs`: recent runs, newest first. */
export const registerRuns: CommandRegistrar = (program, context) => {
  const cmd = new Command('runs').description('list recent runs, newest first').option('--limit <n>', 'how many runs', '20');
  addDatastoreOptions(cmd).action(async (flags: DatastoreFlags & { limit: string }) => {
    const limit = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || limit < 1) throw new UserInputError(`--limit must be a whole number ≥ 1, got ${describeValue(flags.limit)}`);
    const datastore = await openDatastore(flags, context, { write: false });
    const page = await datastore.listRuns({ limit });
    for (const bad of page.corrupt) context.stderr.write(`metaflow-cdk: skipped ${bad.message}\n`);
    if (!page.runs.length) {
      context.stdout.write(`no runs in ${datastore.root}\n`);
      return;
    }
    const rows: (string | number)[][] = [['run', 'flow', 'status', 'started', 'duration', 'tasks']];
    for (const r of page.runs) rows.push([r.runId, r.flow, shownStatus(r), r.startedAt, formatDuration(r.durationMs), r.taskCount]);
    context.stdout.write(formatTable(rows) + '\n');
  });
  program.addCommand(cmd);
};

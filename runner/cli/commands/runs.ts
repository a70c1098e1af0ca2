import { Command } from 'commander';
import { describeValue } from '../../../core/describe-value';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { formatDuration, formatTable } from '../../progress/table';
import { UserInputError } from '../../errors';
import { shownStatus } from '../../orchestrator/liveness';
import type { RunSummary } from '../../datastore/types';
import { teamNameProblem } from '../../../core/teams';

/** `metaflow-cdk runs`: recent runs, newest first. */
export const registerRuns: CommandRegistrar = (program, context) => {
  const cmd = new Command('runs').description('list recent runs, newest first').option('--limit <n>', 'how many runs', '20')
    .option('--team <name>', 'only the runs of this team (the team recorded in each run)');
  addDatastoreOptions(cmd).action(async (flags: DatastoreFlags & { limit: string; team?: string }) => {
    const limit = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || limit < 1) throw new UserInputError(`--limit must be a whole number ≥ 1, got ${describeValue(flags.limit)}`);
    const teamProblem = flags.team === undefined ? undefined : teamNameProblem('--team', flags.team);
    if (teamProblem) throw new UserInputError(teamProblem);
    const datastore = await openDatastore(flags, context, { write: false });
    const runs: RunSummary[] = [];
    // With --team, page on through the index until `limit` runs of the team are found.
    for (let after: string | undefined, first = true; first || (after !== undefined && runs.length < limit); first = false) {
      const page = await datastore.listRuns({ limit, after });
      for (const bad of page.corrupt) context.stderr.write(`metaflow-cdk: skipped ${bad.message}\n`);
      runs.push(...page.runs.filter((r) => flags.team === undefined || r.team === flags.team));
      after = flags.team === undefined ? undefined : page.next;
    }
    runs.splice(limit);
    if (!runs.length) {
      context.stdout.write(flags.team === undefined ? `no runs in ${datastore.root}\n` : `no runs of team ${flags.team} in ${datastore.root}\n`);
      return;
    }
    // A team column only when some run has a team.
    const teams = runs.some((r) => r.team !== undefined);
    const rows: (string | number)[][] = [['run', 'flow', ...(teams ? ['team'] : []), 'status', 'started', 'duration', 'tasks']];
    for (const r of runs) rows.push([r.runId, r.flow, ...(teams ? [r.team ?? '-'] : []), shownStatus(r), r.startedAt, formatDuration(r.durationMs), r.taskCount]);
    context.stdout.write(formatTable(rows) + '\n');
  });
  program.addCommand(cmd);
};

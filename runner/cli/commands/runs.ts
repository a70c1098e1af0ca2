import { Command } from 'commander';
import { describeValue } from '../../../core/describe-value';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { formatDuration, formatTable } from '../../progress/table';
import { UserInputError } from '../../errors';
import { shownStatus } from '../../orchestrator/liveness';
import type { RunSummary } from '../../datastore/types';
import { teamNameProblem } from '../../../core/teams';
import { collect } from '../run-support';
import { matchesFilter, runFilter } from '../tags';
import { FROM_HELP, listRunsFromService, readsFromService } from '../service-runs';

interface RunsFlags extends DatastoreFlags {
  limit: string;
  team?: string;
  all?: boolean;
  user?: string;
  tag?: string[];
  from?: string;
}

/** `metaflow-cdk runs`: recent runs, newest first; the current user's unless `--all`, `--user`, `--tag`. */
export const registerRuns: CommandRegistrar = (program, context) => {
  const cmd = new Command('runs')
    .description("list recent runs, newest first: yours (tagged user:<you>) unless --all or --user")
    .option('--limit <n>', 'how many runs', '20')
    .option('--all', 'every user\'s runs, and runs without a user tag (Step Functions executions, older runs)')
    .option('--user <name>', 'the runs of this user (default: METAFLOW_USER, else the OS user)')
    .option('--tag <tag>', 'only runs with this tag (repeatable: runs with every one)', collect)
    .option('--team <name>', 'only the runs of this team (the team recorded in each run)')
    .option('--from <source>', FROM_HELP);
  addDatastoreOptions(cmd).action(async (flags: RunsFlags) => {
    const limit = Number(flags.limit);
    if (!/^\d+$/.test(flags.limit) || limit < 1) throw new UserInputError(`--limit must be a whole number ≥ 1, got ${describeValue(flags.limit)}`);
    if (readsFromService(flags)) return listRunsFromService(flags, limit, context);
    const filter = runFilter(flags, context.env);
    const teamProblem = flags.team === undefined ? undefined : teamNameProblem('--team', flags.team);
    if (teamProblem) throw new UserInputError(teamProblem);
    const datastore = await openDatastore(flags, context, { write: false });
    // Page through the index, newest first, until `limit` runs pass the filter.
    const shown: RunSummary[] = [];
    let hidden = 0;
    let after: string | undefined;
    do {
      const page = await datastore.listRuns({ limit, after });
      for (const bad of page.corrupt) context.stderr.write(`metaflow-cdk: skipped ${bad.message}\n`);
      for (const run of page.runs) {
        if (shown.length === limit) break;
        if (flags.team !== undefined && run.team !== flags.team) continue; // another team's: not what was asked, not 'hidden'
        if (matchesFilter(run, filter)) shown.push(run);
        else hidden++;
      }
      after = page.next;
    } while (after !== undefined && shown.length < limit);
    const others = hidden ? `; ${hidden} other run${hidden === 1 ? '' : 's'} not shown (--all lists every run)` : '';
    if (!shown.length) {
      context.stdout.write(`no runs${flags.team === undefined ? '' : ` of team ${flags.team}`}${filter.all ? '' : ` tagged ${filter.tags.join(', ')}`} in ${datastore.root}${others}\n`);
      return;
    }
    // A Step Functions run still `running` in its record may have been stopped or timed out (runner/sfn/reconcile.ts).
    const { reconcileForDisplay } = require('../../sfn/reconcile') as typeof import('../../sfn/reconcile');
    shown.splice(0, shown.length, ...(await reconcileForDisplay(shown, (line) => context.stderr.write(`metaflow-cdk: ${line}\n`))));
    // A team column only when some run has a team.
    const teams = shown.some((r) => r.team !== undefined);
    const rows: (string | number)[][] = [['run', 'flow', ...(teams ? ['team'] : []), 'status', 'started', 'duration', 'tasks', 'tags']];
    for (const r of shown) rows.push([r.runId, r.flow, ...(teams ? [r.team ?? '-'] : []), shownStatus(r), r.startedAt, formatDuration(r.durationMs), r.taskCount, (r.tags ?? []).join(',')]);
    context.stdout.write(formatTable(rows) + '\n');
    if (others) context.stderr.write(`metaflow-cdk: showing runs tagged ${(filter as { tags: readonly string[] }).tags.join(', ')}${others}\n`);
  });
  program.addCommand(cmd);
};

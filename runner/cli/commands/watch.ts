import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { findJobsOfRun } from './jobs';
import { addDatastoreOptions, DatastoreFlags, datastoreKind, followUpDatastoreFlags, openDatastore } from '../datastore-options';
import { findRun } from '../run-lookup';
import { collect, parsePollInterval, reportRunEnd } from '../run-support';
import { EXIT_CODES, UserInputError } from '../../errors';
import { checkRunner } from '../../orchestrator/liveness';

interface WatchFlags extends DatastoreFlags {
  queue?: string[];
  region?: string;
  json?: boolean;
  pollInterval?: string;
}

/**
 * `metaflow-cdk watch <run-id>`: a run on AWS Batch whose runner died (its process is gone, or no
 * heartbeat for a minute) while its jobs still run — follow those jobs to the end and record what
 * they did in the run, then print what a finished run prints. Nothing new is submitted; `resume`
 * runs the steps after them.
 */
export const registerWatch: CommandRegistrar = (program, context) => {
  const cmd = new Command('watch')
    .description("follow the AWS Batch jobs of a run whose runner died to the end, recording their outcomes in the run (then `resume` runs the rest)")
    .argument('<run-id>', 'the run whose runner died')
    .option('--queue <name>', 'job queue to search (repeatable; default: the configured queues)', collect)
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile)')
    .option('--poll-interval <seconds>', 'the shortest time between two looks at a job (default 5)')
    .option('--json', 'print the run record as JSON on stdout at the end (progress goes to stderr)')
    .addHelpText('after', '\nExit codes: 0 the run succeeded (its end step was among the jobs), 1 it did not, 2 bad input (unknown run, run still running or already ended, not a Batch run).');
  addDatastoreOptions(cmd, 's3').action(async (runId: string, flags: WatchFlags) => {
    const pollMs = parsePollInterval(flags.pollInterval);
    const datastore = await openDatastore(flags, context, { write: true, compute: 'batch' });
    const run = await findRun(datastore, runId);
    const again = followUpDatastoreFlags(flags, datastoreKind(flags, 'batch'));
    if (run.status !== 'running') throw new UserInputError(`run ${runId} has already ended (${run.status}); nothing to watch (see \`metaflow-cdk show ${runId}${again}\`)`);
    const runner = checkRunner(run);
    if (!runner.dead) throw new UserInputError(`run ${runId} is still running (pid ${run.owner?.pid} on ${run.owner?.host}, heartbeat ${run.owner?.heartbeatAt}); its runner is watching it`);
    if (run.compute !== 'batch') {
      throw new UserInputError(`run ${runId} ran on the ${run.compute} compute layer, whose tasks died with their runner; \`metaflow-cdk resume ${runId}${again}\` reruns what did not succeed`);
    }
    const { jobs, clients, calls } = await findJobsOfRun(run, flags, context);
    const out = flags.json ? context.stderr : context.stdout;
    out.write(`Watching ${run.flow} run ${runId}: ${runner.reason}; ${jobs.length} AWS Batch job${jobs.length === 1 ? '' : 's'} found\n`);
    // Loaded only when the command runs: the AWS SDK stays out of the CLI's start-up.
    const { watchRunToEnd } = require('../../batch/watch-run') as typeof import('../../batch/watch-run');
    const { apiCallsLine } = require('../../batch/api-calls') as typeof import('../../batch/api-calls');
    try {
      const { record } = await watchRunToEnd({
        batch: clients.batch,
        datastore,
        run,
        jobs,
        deadBecause: runner.reason!,
        calls,
        ...(pollMs !== undefined ? { watcher: { minIntervalMs: pollMs } } : {}),
        onLine: (line) => out.write(`${line}\n`),
      });
      reportRunEnd(record, [apiCallsLine(calls.snapshot())], context, !!flags.json, again);
      // 1, not `run`'s 130, for an `interrupted` run: the watch itself was not interrupted.
      context.setExitCode(record.status === 'succeeded' ? EXIT_CODES.SUCCESS : EXIT_CODES.FAILED);
    } finally {
      clients.destroy();
    }
  });
  program.addCommand(cmd);
};

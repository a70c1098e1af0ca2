import { Command } from 'commander';
import { UserInputError } from '../../errors';
import { findRun } from '../run-lookup';
import { collect } from '../run-support';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import type { CommandContext, CommandRegistrar } from './index';

interface JobsFlags extends DatastoreFlags {
  run?: string;
  flow?: string;
  queue?: string[];
  region?: string;
}


/**
 * A run's top-level Batch jobs (plain jobs and array parents), found by name prefix and tags in
 * `--queue`s, else the configured queues (BATCH_JOB_QUEUE and BATCH_JOB_QUEUE_GPU).
 */
export async function findJobsOfRun(run: { readonly flow: string; readonly runId: string }, flags: { readonly queue?: readonly string[]; readonly region?: string }, context: CommandContext) {
  // Loaded only when the command runs: the AWS SDK stays out of the CLI's start-up.
  const { AwsClients } = require('../../aws/clients') as typeof import('../../aws/clients');
  const { ApiCallCounter } = require('../../batch/api-calls') as typeof import('../../batch/api-calls');
  const { findRunJobs } = require('../../batch/terminator') as typeof import('../../batch/terminator');
  const { readMetaflowConfig, requireConfigValue } = require('../../config/metaflow-config') as typeof import('../../config/metaflow-config');
  const config = readMetaflowConfig(context.env);
  const queues = flags.queue?.length
    ? flags.queue
    : [...new Set([requireConfigValue(config, 'BATCH_JOB_QUEUE', '--queue'), config.profile.BATCH_JOB_QUEUE_GPU].filter((q): q is string => !!q))];
  const clients = new AwsClients({ region: flags.region });
  const calls = new ApiCallCounter();
  const jobs = await findRunJobs(clients.batch, { ...run, queues }, calls);
  return { jobs, clients, calls };
}

/** The run's top-level Batch jobs, for `jobs list|kill`. */
async function runJobs(flags: JobsFlags, context: CommandContext) {
  const { terminateJobs } = require('../../batch/terminator') as typeof import('../../batch/terminator');
  const { terminationLines } = require('../../batch/layer') as typeof import('../../batch/layer');
  if (!flags.run) throw new UserInputError('--run <run-id> is required');
  // The flow name comes from the run record when this machine has it; --flow otherwise.
  const flow = flags.flow ?? (await findRun(await openDatastore(flags, context, { write: false, compute: 'batch' }), flags.run)).flow;
  return { ...(await findJobsOfRun({ flow, runId: flags.run }, flags, context)), terminateJobs, terminationLines };
}

function jobsCommand(name: string, description: string): Command {
  const cmd = new Command(name)
    .description(description)
    .option('--run <run-id>', 'the run whose jobs to find')
    .option('--flow <name>', 'the flow of the run (default: from the run record)')
    .option('--queue <name>', 'job queue to search (repeatable; default: the configured queues)', collect)
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile)');
  return addDatastoreOptions(cmd, 's3');
}

/** `metaflow-cdk jobs list|kill --run <id>`: a run's AWS Batch jobs after a crash, found by tag. */
export const registerJobs: CommandRegistrar = (program, context) => {
  const jobs = new Command('jobs').description("a run's AWS Batch jobs: list them, or terminate the ones still running");
  jobs.addCommand(
    jobsCommand('list', "list a run's AWS Batch jobs").action(async (flags: JobsFlags) => {
      const { jobs: found, clients } = await runJobs(flags, context);
      for (const job of found) {
        const tags = job.tags ?? {};
        const size = job.arrayProperties?.size ? ` array of ${job.arrayProperties.size}` : '';
        context.stdout.write(`${job.jobId}\t${job.status}\t${tags['metaflow.step'] ?? '?'}/${tags['metaflow.task_id'] ?? '?'}#${tags['metaflow.attempt'] ?? '?'}${size}\t${job.jobName}\n`);
      }
      if (found.length === 0) context.stderr.write(`metaflow-cdk: no AWS Batch jobs found for run ${flags.run}\n`);
      clients.destroy();
      context.setExitCode(0);
    }),
  );
  jobs.addCommand(
    jobsCommand('kill', "terminate a run's AWS Batch jobs that have not finished").action(async (flags: JobsFlags) => {
      const { jobs: found, clients, calls, terminateJobs, terminationLines } = await runJobs(flags, context);
      const result = await terminateJobs(clients.batch, found.map((j) => ({ jobId: j.jobId!, status: j.status })), `metaflow-cdk jobs kill --run ${flags.run}`, calls);
      for (const line of terminationLines(result)) context.stdout.write(`${line}\n`);
      clients.destroy();
      context.setExitCode(result.failed.length ? 1 : 0);
    }),
  );
  program.addCommand(jobs);
};

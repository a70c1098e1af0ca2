import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { collect, executeRun, makeLayer, parseMaxWorkers, prepareFlow } from '../run-support';
import { runTags } from '../tags';
import { addDatastoreOptions, checkDatastoreForCompute, DatastoreFlags, datastoreKind, followUpDatastoreFlags, openDatastore } from '../datastore-options';
import { findRun } from '../run-lookup';
import { UserInputError } from '../../errors';
import { checkRunner } from '../../orchestrator/liveness';

/** `metaflow-cdk resume <run-id>`: a new run reusing every task that succeeded in the origin run. */
export const registerResume: CommandRegistrar = (program, context) => {
  const cmd = new Command('resume')
    .description('start a new run that reuses the outputs of every task that succeeded in <run-id> and runs the rest')
    .argument('<run-id>', 'the run to resume')
    .option('--tag <tag>', 'tag the new run (repeatable; it is also tagged user:<name>, from METAFLOW_USER or the OS user)', collect)
    .option('--max-workers <n>', 'how many tasks run at once (default: the number of cores)')
    .option('--poll-interval <seconds>', 'Batch runs: the shortest time between two looks at a job (default 5)')
    .option('--json', 'print the run record as JSON on stdout (progress goes to stderr)')
    .option('--inherit-env', 'local runs: tasks get this shell\'s whole environment (see run --help)')
    .addHelpText('after', "\nParameters: the new run keeps <run-id>'s values (as Metaflow's resume: the reused tasks saw them); `run` starts a run with new ones.");
  addDatastoreOptions(cmd).action(async (runId: string, flags: DatastoreFlags & { maxWorkers?: string; json?: boolean; pollInterval?: string; tag?: string[]; inheritEnv?: boolean }) => {
    const maxWorkers = parseMaxWorkers(flags.maxWorkers);
    const tags = runTags(flags.tag ?? [], context.env);
    const datastore = await openDatastore(flags, context, { write: true });
    const origin = await findRun(datastore, runId);
    if (origin.status === 'running' && !checkRunner(origin).dead) {
      throw new UserInputError(`run ${runId} is still running (pid ${origin.owner?.pid} on ${origin.owner?.host}); resume it once it has ended`);
    }
    if (!origin.flowFile) throw new UserInputError(`run ${runId} has no flow file recorded; it cannot be resumed`);
    checkDatastoreForCompute(origin.compute, datastoreKind(flags), context.env);
    const { graph, file } = prepareFlow(origin.flowFile);
    if (graph.flow.name !== origin.flow) {
      throw new UserInputError(`run ${runId} is of flow "${origin.flow}" but ${origin.flowFile} now defines "${graph.flow.name}"`);
    }
    const code = await executeRun(
      { graph, flowFile: file, parameters: origin.parameters, withRetry: origin.withRetry, layer: makeLayer({ compute: origin.compute, pollInterval: flags.pollInterval, inheritEnv: flags.inheritEnv }, maxWorkers, context), datastore, json: !!flags.json, origin, datastoreFlags: followUpDatastoreFlags(flags, datastoreKind(flags)), tags },
      context,
    );
    context.setExitCode(code);
  });
  program.addCommand(cmd);
};

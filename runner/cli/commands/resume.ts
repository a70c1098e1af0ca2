import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { collect, executeRun, layerMaker, parseMaxWorkers, prepareFlow } from '../run-support';
import { localPackageRoot, shipCodePackage } from '../code-package';
import type { CodePackageRef } from '../../datastore/types';
import { runTags } from '../tags';
import { addDatastoreOptions, checkDatastoreForCompute, DatastoreFlags, datastoreKind, followUpDatastoreFlags, openDatastore } from '../datastore-options';
import { findRun } from '../run-lookup';
import { UserInputError } from '../../errors';
import { checkRunner } from '../../orchestrator/liveness';
import { describeValue } from '../../../core/describe-value';
import { closestName } from '../../unknown-fields';

/** `metaflow-cdk resume <run-id>`: a new run reusing every task that succeeded in the origin run. */
export const registerResume: CommandRegistrar = (program, context) => {
  const cmd = new Command('resume')
    .description('start a new run that reuses the outputs of every task that succeeded in <run-id> (before the --from step) and runs the rest')
    .argument('<run-id>', 'the run to resume')
    .option('--from <step>', 'rerun this step and every step after it, even where they succeeded (the steps before it are reused)')
    .option('--tag <tag>', 'tag the new run (repeatable; it is also tagged user:<name>, from METAFLOW_USER or the OS user)', collect)
    .option('--max-workers <n>', 'how many tasks run at once (default: the number of cores)')
    .option('--poll-interval <seconds>', 'Batch runs: the shortest time between two looks at a job (default 5)')
    .option('--team <name>', "Batch runs: the team of the new run's jobs (default: <run-id>'s team)")
    .option('--origin-code', "Batch runs: give the tasks <run-id>'s code package instead of packing the flow's folder as it is now")
    .option('--json', 'print the run record as JSON on stdout (progress goes to stderr)')
    .option('--inherit-env', 'local runs: tasks get this shell\'s whole environment (see run --help)')
    .addHelpText('after', "\nParameters: the new run keeps <run-id>'s values (as Metaflow's resume: the reused tasks saw them); `run` starts a run with new ones.");
  addDatastoreOptions(cmd).action(async (runId: string, flags: DatastoreFlags & { from?: string; maxWorkers?: string; json?: boolean; pollInterval?: string; originCode?: boolean; team?: string; tag?: string[]; inheritEnv?: boolean }) => {
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
    if (flags.from !== undefined && !graph.steps.has(flags.from)) {
      const steps = [...graph.steps.keys()];
      const close = closestName(flags.from, steps);
      throw new UserInputError(`--from ${describeValue(flags.from)}: flow "${graph.flow.name}" has no such step (${close ? `did you mean "${close}"? ` : ''}steps: ${steps.join(', ')})`);
    }
    // A Batch run keeps its origin's team unless --team names another (a local run takes only the flow's).
    const team = flags.team ?? (origin.compute === 'batch' ? origin.team : undefined);
    const newLayer = layerMaker({ compute: origin.compute, pollInterval: flags.pollInterval, team, inheritEnv: flags.inheritEnv }, maxWorkers, context);
    const cwd = localPackageRoot(graph.flow, file);
    // The flow file is read as it is now, so by default is its folder: unchanged code packs to the same package (same sha1, no upload).
    let codePackage: CodePackageRef | undefined;
    const out = flags.json ? context.stderr : context.stdout;
    if (origin.compute === 'batch') {
      if (flags.originCode && !origin.codePackage) throw new UserInputError(`--origin-code: run ${runId} recorded no code package`);
      if (flags.originCode) out.write(`code package: ${origin.codePackage!.files !== undefined ? `${origin.codePackage!.files} files, ` : ''}${origin.codePackage!.url} (of run ${runId})\n`);
      codePackage = flags.originCode ? origin.codePackage : await shipCodePackage(graph.flow, file, datastore, out, context);
    } else if (flags.originCode) throw new UserInputError(`--origin-code applies to runs on AWS Batch; run ${runId} ran on ${origin.compute}`);
    const code = await executeRun(
      { graph, flowFile: file, parameters: origin.parameters, withRetry: origin.withRetry, layer: newLayer({ cwd, codePackageUrl: codePackage?.url }), datastore, json: !!flags.json, origin, resumeFrom: flags.from, codePackage, datastoreFlags: followUpDatastoreFlags(flags, datastoreKind(flags)), tags },
      context,
    );
    context.setExitCode(code);
  });
  program.addCommand(cmd);
};

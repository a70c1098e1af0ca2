import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { collect, executeRun, InputProblems, layerMaker, parametersOrThrow, parseMaxWorkers, parseWith, prepareFlow } from '../run-support';
import { localPackageRoot, shipCodePackage } from '../code-package';
import { UserInputError } from '../../errors';
import { addDatastoreOptions, DatastoreFlags, datastoreKind, openDatastore } from '../datastore-options';

interface RunFlags extends DatastoreFlags {
  param?: string[];
  maxWorkers?: string;
  with?: string[];
  compute?: string;
  json?: boolean;
  queue?: string;
  gpuQueue?: string;
  jobRole?: string;
  executionRole?: string;
  region?: string;
  pollInterval?: string;
  logs?: string;
  team?: string;
}

/** `metaflow-cdk run <flow-file>`: validate and run a flow. */
export const registerRun: CommandRegistrar = (program, context) => {
  const cmd = new Command('run')
    .description('run a flow (a .ts or .js file whose default export is a flow)')
    .argument('<flow-file>', 'the flow file')
    .option('--param <name=value>', 'set a flow parameter (repeatable)', collect)
    .option('--max-workers <n>', 'how many tasks run at once (default: the number of cores)')
    .option('--with <policy>', 'apply a policy to every step that has none: retry (repeatable)', collect)
    .option('--compute <layer>', 'where tasks run: local or batch (AWS Batch)', 'local')
    .option('--queue <name>', 'Batch: job queue (default: METAFLOW_BATCH_JOB_QUEUE)')
    .option('--gpu-queue <name>', 'Batch: job queue of GPU steps (default: METAFLOW_BATCH_JOB_QUEUE_GPU, else --queue)')
    .option('--job-role <arn>', 'Batch: role of the containers (default: METAFLOW_ECS_S3_ACCESS_IAM_ROLE)')
    .option('--execution-role <arn>', 'Batch on Fargate: execution role (default: METAFLOW_ECS_FARGATE_EXECUTION_ROLE)')
    .option('--region <region>', 'Batch: AWS region (default: AWS_REGION or the profile)')
    .option('--team <name>', 'Batch: team whose share the jobs use on fair-share queues (default: METAFLOW_TEAM, else the flow\'s team)')
    .option('--poll-interval <seconds>', 'Batch: the shortest time between two looks at a job (default 5; longer-running jobs are looked at less often, up to every 120 s)')
    .option('--logs <which>', 'Batch: task logs from CloudWatch: all, failed (last lines of failed tasks) or none (default: all)')
    .option('--json', 'print the run record as JSON on stdout (progress goes to stderr)')
    .addHelpText('after', '\nExit codes: 0 the flow succeeded, 1 it failed, 2 bad input (nothing ran), 130 interrupted.');
  addDatastoreOptions(cmd).action(async (file: string, flags: RunFlags) => {
    const problems = new InputProblems();
    const withRetry = problems.check(() => parseWith(flags.with ?? []));
    const maxWorkers = problems.check(() => parseMaxWorkers(flags.maxWorkers));
    const newLayer = problems.check(() => layerMaker(flags, maxWorkers, context));
    problems.check(() => {
      if (datastoreKind(flags, flags.compute) === 'local' && flags.compute === 'batch') {
        throw new UserInputError('--datastore local: AWS Batch containers cannot reach a local directory; --compute batch keeps its runs in S3 (--datastore s3, the default with --compute batch)');
      }
    });
    const prepared = problems.check(() => prepareFlow(file));
    const parameters = prepared && problems.check(() => parametersOrThrow(prepared.graph, flags.param ?? []));
    const cwd = prepared && problems.check(() => localPackageRoot(prepared.graph.flow, prepared.file));
    problems.throwIfAny();
    const { graph, file: flowFile } = prepared!;
    const datastore = await openDatastore(flags, context, { write: true, compute: flags.compute });
    // Batch tasks get the flow's folder as a code package, packed and stored once per run before anything is submitted.
    const codePackage = flags.compute === 'batch' ? await shipCodePackage(graph.flow, flowFile, datastore, flags.json ? context.stderr : context.stdout, context) : undefined;
    const layer = newLayer!({ cwd, codePackageUrl: codePackage?.url });
    const code = await executeRun(
      { graph, flowFile, parameters: parameters!, withRetry: !!withRetry, layer, datastore, json: !!flags.json, codePackage },
      context,
    );
    context.setExitCode(code);
  });
  program.addCommand(cmd);
};

import { Command } from 'commander';
import { describeValue } from '../../../lib/describe-value';
import type { CommandRegistrar } from './index';
import { executeRun, InputProblems, makeLayer, parametersOrThrow, parseMaxWorkers, prepareFlow } from '../run-support';
import { addDatastoreOptions, DatastoreFlags, datastoreKind, openDatastore } from '../datastore-options';
import { UserInputError } from '../../errors';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const WITH = ['retry'];

/** `--with` values: only `retry` (the default retry policy for steps without one) exists. */
function parseWith(values: readonly string[]): boolean {
  const bad = values.filter((w) => !WITH.includes(w));
  if (bad.length) throw new UserInputError(`--with ${bad.map((b) => describeValue(b)).join(', ')}: unknown policy (available: ${WITH.join(', ')})`);
  return values.includes('retry');
}

interface RunFlags extends DatastoreFlags {
  param?: string[];
  maxWorkers?: string;
  with?: string[];
  compute?: string;
  json?: boolean;
}

/** `metaflow-cdk run <flow-file>`: validate and run a flow. */
export const registerRun: CommandRegistrar = (program, context) => {
  const cmd = new Command('run')
    .description('run a flow (a .ts or .js file whose default export is a flow)')
    .argument('<flow-file>', 'the flow file')
    .option('--param <name=value>', 'set a flow parameter (repeatable)', collect)
    .option('--max-workers <n>', 'how many tasks run at once (default: the number of cores)')
    .option('--with <policy>', 'apply a policy to every step that has none: retry (repeatable)', collect)
    .option('--compute <layer>', 'where tasks run: local', 'local')
    .option('--json', 'print the run record as JSON on stdout (progress goes to stderr)')
    .addHelpText('after', '\nExit codes: 0 the flow succeeded, 1 it failed, 2 bad input (nothing ran), 130 interrupted.');
  addDatastoreOptions(cmd).action(async (file: string, flags: RunFlags) => {
    const problems = new InputProblems();
    const withRetry = problems.check(() => parseWith(flags.with ?? []));
    const maxWorkers = problems.check(() => parseMaxWorkers(flags.maxWorkers));
    const layer = problems.check(() => makeLayer(flags.compute, maxWorkers));
    problems.check(() => datastoreKind(flags, flags.compute));
    const prepared = problems.check(() => prepareFlow(file));
    const parameters = prepared && problems.check(() => parametersOrThrow(prepared.graph, flags.param ?? []));
    problems.throwIfAny();
    const { graph, file: flowFile } = prepared!;
    const datastore = await openDatastore(flags, context, { write: true, compute: flags.compute });
    const code = await executeRun(
      { graph, flowFile, parameters: parameters!, withRetry: !!withRetry, layer: layer!, datastore, json: !!flags.json },
      context,
    );
    context.setExitCode(code);
  });
  program.addCommand(cmd);
};

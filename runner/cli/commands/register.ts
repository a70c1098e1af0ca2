import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { findRun } from '../run-lookup';
import { isStepFunctionsRun } from '../../datastore/step-functions-runs';
import { prepareFlow } from '../run-support';
import { registerRecordedRun } from '../metadata-support';
import { EXIT_CODES, UserInputError } from '../../errors';

/**
 * `metaflow-cdk register <run-id>`: register a recorded run with the Metaflow metadata service
 * the config names (what a run could not register while the service was down). Idempotent:
 * what the service has already is read first and not sent again. A Step Functions run registers
 * from what its execution left in the datastore (runner/cli/sfn-registration.ts).
 */
export const registerRegister: CommandRegistrar = (program, context) => {
  const cmd = new Command('register')
    .description('register a recorded run with the Metaflow metadata service (what the run could not register while the service was down)')
    .argument('<run-id>', 'the run');
  addDatastoreOptions(cmd).action(async (runId: string, flags: DatastoreFlags) => {
    const datastore = await openDatastore(flags, context, { write: true });
    const record = await findRun(datastore, runId);
    if (isStepFunctionsRun(record)) {
      // Loaded only here: a Step Functions run's DAG is read from its code package (tar).
      const { registerStepFunctionsRun } = require('../sfn-registration') as typeof import('../sfn-registration');
      context.setExitCode((await registerStepFunctionsRun(record, datastore, context)) ? EXIT_CODES.FAILED : EXIT_CODES.SUCCESS);
      return;
    }
    if (!record.flowFile) throw new UserInputError(`run ${runId} records no flow file: its DAG cannot be registered`);
    const { graph, file } = prepareFlow(record.flowFile);
    const left = await registerRecordedRun(record, { graph, flowFile: file, parameters: record.parameters, datastore, compute: record.compute, tags: record.tags }, context);
    context.setExitCode(left ? EXIT_CODES.FAILED : EXIT_CODES.SUCCESS);
  });
  program.addCommand(cmd);
};

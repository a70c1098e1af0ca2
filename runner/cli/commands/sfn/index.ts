import { Command } from 'commander';
import type { CommandRegistrar } from '../index';
import { registerSfnCompile } from './compile';

/** The subcommands of `metaflow-cdk sfn`, one registrar per file of this folder. */
const SFN_COMMANDS: readonly CommandRegistrar[] = [registerSfnCompile];

/** `metaflow-cdk sfn …`: compile flows to AWS Step Functions state machines (and run them there). */
export const registerSfn: CommandRegistrar = (program, context) => {
  const sfn = new Command('sfn').description('AWS Step Functions: compile a flow to a state machine');
  for (const register of SFN_COMMANDS) register(sfn, context);
  program.addCommand(sfn);
};

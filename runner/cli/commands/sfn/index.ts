import { Command } from 'commander';
import type { CommandContext, CommandRegistrar } from '../index';
import { sfnCompileCommand } from './compile';
import { sfnDeleteCommand } from './delete';
import { sfnDeployCommand } from './deploy';
import { sfnListCommand } from './list';
import { sfnScheduleCommand } from './schedule';
import { sfnStatusCommand } from './status';
import { sfnTriggerCommand } from './trigger';

/** One `sfn` subcommand, one file of this folder each. */
export type SfnSubcommand = (context: CommandContext) => Command;

/** The `sfn` subcommands, in the order `--help` lists them. */
export const SFN_SUBCOMMANDS: readonly SfnSubcommand[] = [
  sfnCompileCommand,
  sfnDeployCommand,
  sfnTriggerCommand,
  sfnStatusCommand,
  sfnListCommand,
  sfnScheduleCommand,
  sfnDeleteCommand,
];

/** `metaflow-cdk sfn …`: compile flows to AWS Step Functions, deploy, run, watch, schedule and delete them. */
export const registerSfn: CommandRegistrar = (program, context) => {
  const sfn = new Command('sfn').description('AWS Step Functions: compile and deploy a flow as a state machine, trigger, watch, list, schedule and delete it');
  for (const subcommand of SFN_SUBCOMMANDS) sfn.addCommand(subcommand(context));
  program.addCommand(sfn);
};

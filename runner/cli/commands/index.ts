import { Command } from 'commander';
import { registerCode } from './code';
import { registerConfigure } from './configure';
import { registerGraph } from './graph';
import { registerJobs } from './jobs';
import { registerLogs } from './logs';
import { registerOutputs } from './outputs';
import { registerRegister } from './register';
import { registerResume } from './resume';
import { registerRun } from './run';
import { registerRuns } from './runs';
import { registerShow } from './show';
import { registerSfn } from './sfn';
import { registerWatch } from './watch';

/**
 * A command registrar adds one subcommand to the program. Its action returns the exit code
 * (see runner/errors.ts) and reports the code through `setExitCode` in the context.
 */
export interface CommandContext {
  /** Where the command writes normal output (stdout unless a test swaps it). */
  readonly stdout: NodeJS.WritableStream;
  /** Where the command writes diagnostics. */
  readonly stderr: NodeJS.WritableStream;
  /** Environment the command reads (process.env unless a test swaps it). */
  readonly env: NodeJS.ProcessEnv;
  /** Record the exit code the command finished with. */
  setExitCode(code: number): void;
}

export type CommandRegistrar = (program: Command, context: CommandContext) => void;

/** Every subcommand of `metaflow-cdk`, one registrar per file in this folder. */
export const COMMANDS: readonly CommandRegistrar[] = [
  registerRun,
  registerResume,
  registerRuns,
  registerShow,
  registerLogs,
  registerOutputs,
  registerGraph,
  registerCode,
  registerConfigure,
  registerJobs,
  registerWatch,
  registerRegister,
  registerSfn,
];

import { Command, CommanderError } from 'commander';
import { COMMANDS, CommandContext } from './commands';
import { EXIT_CODES } from '../errors';
import { guardOutput, outputLost } from './output-guard';
import { packageVersion } from './version';

/** Build the `metaflow-cdk` program with every subcommand registered. */
export function buildProgram(context: CommandContext): Command {
  const program = new Command('metaflow-cdk')
    .description('Run Metaflow-style flows locally, on AWS Batch or Step Functions, and configure Metaflow clients')
    .version(packageVersion(), '-V, --version', 'print the metaflow-cdk version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => context.stdout.write(s),
      writeErr: (s) => context.stderr.write(s),
      // Usage errors read like every other error: `metaflow-cdk: unknown option '--bogus'`.
      outputError: (s, write) => write(`metaflow-cdk: ${s.replace(/^error: /, '')}`),
    });
  for (const register of COMMANDS) register(program, context);
  // Subcommands added with addCommand() do not inherit the program's settings: without this a
  // usage error in a subcommand (unknown flag, missing argument) would call process.exit(1).
  const inherit = (parent: Command) => {
    for (const cmd of parent.commands) {
      cmd.copyInheritedSettings(parent);
      inherit(cmd);
    }
  };
  inherit(program);
  return program;
}

/** A file-system error (errno code + syscall) that reached the top: its message is one line. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException | undefined;
  return e instanceof Error && typeof e.code === 'string' && typeof e.syscall === 'string';
}

/**
 * Run the CLI with `argv` (as process.argv: node, script, args...). Returns the exit code; never
 * throws for a user's mistake — those print one clear line and return 2 — nor for a file-system
 * error (a datastore that cannot be written: one line, 1).
 */
export async function main(argv: readonly string[], overrides: Partial<CommandContext> = {}): Promise<number> {
  let exitCode: number = EXIT_CODES.SUCCESS;
  const context: CommandContext = {
    stdout: overrides.stdout ?? process.stdout,
    stderr: overrides.stderr ?? process.stderr,
    env: overrides.env ?? process.env,
    setExitCode: (code) => {
      exitCode = code;
    },
  };
  guardOutput(context.stderr);
  guardOutput(context.stdout, (err) => {
    if (!outputLost(context.stderr)) {
      context.stderr.write(`metaflow-cdk: stdout closed (${err.code ?? err.message}); dropping further output, the command goes on\n`);
    }
  });
  const program = buildProgram(context);
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors are bad input.
      return err.exitCode === 0 ? EXIT_CODES.SUCCESS : EXIT_CODES.BAD_INPUT;
    }
    const maybeCoded = err as { exitCode?: unknown; message?: unknown; name?: unknown };
    if (typeof maybeCoded.exitCode === 'number' && typeof maybeCoded.message === 'string') {
      context.stderr.write(`metaflow-cdk: ${maybeCoded.message}\n`);
      return maybeCoded.exitCode;
    }
    if (isSystemError(err)) {
      context.stderr.write(`metaflow-cdk: ${err.message.split('\n')[0]}\n`);
      return EXIT_CODES.FAILED;
    }
    throw err;
  }
}

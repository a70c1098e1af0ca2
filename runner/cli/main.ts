import { Command, CommanderError } from 'commander';
import { COMMANDS, CommandContext } from './commands';
import { EXIT_CODES } from './exit-codes';
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
    });
  for (const register of COMMANDS) register(program, context);
  return program;
}

/**
 * Run the CLI with `argv` (as process.argv: node, script, args...). Returns the exit code; never
 * throws for a user's mistake — those print one clear line and return 2.
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
    throw err;
  }
}

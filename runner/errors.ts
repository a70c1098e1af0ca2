/**
 * The runner's errors and the exit codes they carry: one module for every layer of the runner
 * (flow loading, config, datastore, CLI). The CLI prints an error that carries an exit code as one
 * line, `metaflow-cdk: <message>`, and exits with that code.
 */

/** Exit codes of the `metaflow-cdk` command, shared by every subcommand. */
export const EXIT_CODES = {
  /** The command (or flow) succeeded. */
  SUCCESS: 0,
  /** The flow ran and failed, an AWS operation failed, or the datastore cannot be used. */
  FAILED: 1,
  /**
   * Bad input: missing file, validation errors, usage errors (unknown command or flag, missing
   * argument), bad config. Nothing was run.
   */
  BAD_INPUT: 2,
  /** Interrupted by SIGINT (Ctrl-C), SIGTERM or SIGHUP (terminal closed). */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * An error a user can fix: printed as `metaflow-cdk: <message>` without a stack trace, exit 2
 * unless another code is given.
 */
export class UserInputError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT_CODES.BAD_INPUT,
  ) {
    super(message);
    this.name = 'UserInputError';
  }
}

/** A failure of the operation itself (not of the input): exit 1 with its message. */
export class CommandFailedError extends Error {
  readonly exitCode: ExitCode = EXIT_CODES.FAILED;
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailedError';
  }
}

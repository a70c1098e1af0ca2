/**
 * A container command whose arguments span lines (the output-passing wrapper, the child
 * bootstrap, `node -e` scripts) or are empty, passed through the environment instead.
 *
 * Why: asl-validator checks every string inside an array of a Parameters payload against
 * `^(?!\{% )(.+)(?! %\})$` (not a JSONata expression), and `.` does not match a newline, so a
 * multi-line `sh -c` script in `Command` fails validation although Step Functions and Batch accept
 * it. Environment values are object fields, which it does not check that way. The command becomes
 * a one-line POSIX loader that rebuilds the argv from MF_ARGC / MF_ARGV_<i> (and unsets them, so
 * the user's command does not see them), then `exec`s it: the same argv, exit code and signals.
 */

/** The loader: one line, no empty argument. */
export const ARGV_LOADER = [
  'n=$MF_ARGC',
  'unset MF_ARGC',
  'set --',
  'i=0',
  'while [ "$i" -lt "$n" ]; do eval "set -- \\"\\$@\\" \\"\\$MF_ARGV_$i\\""; unset "MF_ARGV_$i"; i=$((i + 1)); done',
  'exec "$@"',
].join('; ');

/** Does an argument need the environment (empty, or more than one line)? */
const awkward = (arg: string) => arg === '' || /[\n\r\u2028\u2029]/.test(arg);

/** The command as Batch gets it, and the variables to add to the container's environment. */
export function commandForDefinition(argv: readonly string[]): { command: string[]; env: Record<string, string> } {
  if (!argv.some(awkward)) return { command: [...argv], env: {} };
  const env: Record<string, string> = { MF_ARGC: String(argv.length) };
  argv.forEach((arg, i) => (env[`MF_ARGV_${i}`] = arg));
  return { command: ['/bin/sh', '-c', ARGV_LOADER], env };
}

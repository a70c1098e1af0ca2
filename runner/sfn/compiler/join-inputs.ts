/**
 * A foreach join's input paths on Step Functions. The runner writes a join's input-paths file
 * itself; on Step Functions nothing runs between the body's last array job and the join, and the
 * list (one task path per child, up to 10,000 and more) cannot be built with intrinsic functions
 * within the 256 KiB state. It is not needed either: the children of a foreach are numbered, so
 * the list is `<flow>/<run>/<last body step>/<prefix><i>` for i = 0 … count − 1. The join's
 * `main` container writes it into the local mirror (under MF_DATASTORE_ROOT, where fetch put the
 * children's committed outputs) with a POSIX shell loop, then runs the user's command — the task
 * contract (MF_INPUT_PATHS_FILE) is the same as on every other layer.
 */

/** Env the prelude reads: the input paths' common prefix and how many there are. */
export const JOIN_INPUT_PREFIX_ENV = 'MF_JOIN_INPUT_PREFIX';
export const JOIN_INPUT_COUNT_ENV = 'MF_JOIN_INPUT_COUNT';

const SCRIPT = [
  'set -e',
  'f="$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"',
  'mkdir -p "$(dirname "$f")"',
  ': > "$f"',
  'i=0',
  `while [ "$i" -lt "$${JOIN_INPUT_COUNT_ENV}" ]; do echo "$${JOIN_INPUT_PREFIX_ENV}$i" >> "$f"; i=$((i + 1)); done`,
  'exec "$@"',
].join('\n');

/** The join's argv: the prelude, then the user's argv. */
export function joinPreludeCommand(argv: readonly string[]): string[] {
  return ['/bin/sh', '-c', SCRIPT, 'metaflow-join', ...argv];
}

/**
 * The per-child part of the task contract inside an array job's container. One set of container
 * overrides serves every child (runner/contract: a group has ONE template), so what differs per
 * child — task id, foreach index, input paths, output directory — is derived in the container from
 * the index, the same way `childEnvironment` derives it on the runner's side:
 *
 * - index = MF_ARRAY_INDEX_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX (SHELL_FOREACH_INDEX);
 * - MF_TASK_ID = MF_TASK_ID_PREFIX + index, MF_FOREACH_INDEX = index;
 * - `{taskId}` in MF_INPUT_PATHS, MF_INPUT_PATHS_FILE and MF_OUTPUT_DIR becomes the task id;
 * - with MF_WAIT_FOR_INPUTS (a later step of a foreach body, started by `N_TO_N` as soon as
 *   Batch saw child i of the previous step succeed), it waits until each input task's
 *   `status.json` exists — the runner writes it after committing the task's outputs;
 * - MF_FOREACH_ITEM is line `index` of MF_FOREACH_ITEMS_FILE when the datastore root is a
 *   directory the container sees (`/…`). On an S3 datastore it always is: the output-passing
 *   job (runner/batch/output-passing.ts) runs this script in its `main` container with
 *   MF_DATASTORE_ROOT=/metaflow/root, where its `fetch` container mirrored the items file and
 *   the inputs (status.json included, after waiting for them), so the waits end at once.
 *
 * It is a POSIX shell script run as `sh -c <script> metaflow-child <argv…>`, so it works in any
 * image with `/bin/sh` and ends with `exec` of the user's argv (exit code and signals are the
 * command's own).
 */
import { ARRAY_INDEX_OFFSET_ENV, SHELL_FOREACH_INDEX } from './overrides';

/** The template's task-id prefix (`''` at the top, `3_` inside child 3 of an outer foreach). */
export const TASK_ID_PREFIX_ENV = 'MF_TASK_ID_PREFIX';
/** Key (relative to MF_DATASTORE_ROOT) of the fan-out's items file, one JSON value per line. */
export const FOREACH_ITEMS_FILE_ENV = 'MF_FOREACH_ITEMS_FILE';

/** Set on a later body step's array: wait until each input task's outputs are committed. */
export const WAIT_FOR_INPUTS_ENV = 'MF_WAIT_FOR_INPUTS';

const SCRIPT = [
  `i=${SHELL_FOREACH_INDEX}`,
  `MF_FOREACH_INDEX=$i; MF_TASK_ID="\${${TASK_ID_PREFIX_ENV}:-}$i"`,
  `sub() { printf %s "$1" | sed "s/{taskId}/$MF_TASK_ID/g"; }`,
  'if [ -n "${MF_INPUT_PATHS+x}" ]; then MF_INPUT_PATHS=$(sub "$MF_INPUT_PATHS"); export MF_INPUT_PATHS; fi',
  'if [ -n "${MF_INPUT_PATHS_FILE+x}" ]; then MF_INPUT_PATHS_FILE=$(sub "$MF_INPUT_PATHS_FILE"); export MF_INPUT_PATHS_FILE; fi',
  'MF_OUTPUT_DIR=$(sub "${MF_OUTPUT_DIR:-}")',
  `case "\${MF_DATASTORE_ROOT:-}" in /*)`,
  '  mkdir -p "$MF_OUTPUT_DIR"',
  // N_TO_N starts child i when child i of the previous step succeeded on Batch; its outputs are
  // the task's once the runner committed them, which it marks by writing the task's status.json.
  `  if [ -n "\${${WAIT_FOR_INPUTS_ENV}:-}" ] && [ -n "\${MF_INPUT_PATHS:-}" ]; then`,
  '    for p in $(printf %s "$MF_INPUT_PATHS" | tr , " "); do',
  '      while [ ! -f "$MF_DATASTORE_ROOT/$p/status.json" ]; do sleep 1; done',
  '    done',
  '  fi',
  `  if [ -n "\${${FOREACH_ITEMS_FILE_ENV}:-}" ]; then`,
  `    line=$(sed -n "$((i + 1))p" "$MF_DATASTORE_ROOT/$${FOREACH_ITEMS_FILE_ENV}")`,
  // strings as they are (a JSON string without escapes), other values as JSON — the contract's rule
  `    case "$line" in \\"*\\") case "$line" in *\\\\*) MF_FOREACH_ITEM=$line;; *) MF_FOREACH_ITEM=\${line#\\"}; MF_FOREACH_ITEM=\${MF_FOREACH_ITEM%\\"};; esac;; *) MF_FOREACH_ITEM=$line;; esac`,
  '    export MF_FOREACH_ITEM',
  '  fi;;',
  'esac',
  'export MF_FOREACH_INDEX MF_TASK_ID MF_OUTPUT_DIR',
  'exec "$@"',
].join('\n');

/** The array job's command: the bootstrap, then the user's argv. */
export function childBootstrapCommand(argv: readonly string[]): string[] {
  return ['/bin/sh', '-c', SCRIPT, 'metaflow-child', ...argv];
}

/** Names the bootstrap reads (documented for images that replace /bin/sh). */
export const CHILD_BOOTSTRAP_INPUTS = [ARRAY_INDEX_OFFSET_ENV, TASK_ID_PREFIX_ENV, FOREACH_ITEMS_FILE_ENV] as const;

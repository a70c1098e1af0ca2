/**
 * ADAPTER to output passing v2 (/work/brief/IO.md), the one place the compiler touches it.
 *
 * batch-io is implementing v2 in runner/batch/output-passing.ts (`outputPassingEnvironment`,
 * `MIRROR_ROOT`); until it lands, that file has the v1 API. This file writes the v2 helper
 * environment by the names of IO.md, so at merge `outputPassingEnvironment` and `MIRROR_ROOT`
 * here are replaced by batch-io's exports and nothing else in the compiler changes. The job
 * definition (`outputPassingJobDefinition`) and the container names are already v1 = v2.
 */
import { mainCommand } from '../../batch/output-passing';
import { MAIN_CONTAINER } from '../../batch/failures';
import { batchEnvironment } from '../../policy/batch';
import { commandForDefinition } from './command-env';

export { DEFAULT_HELPER_IMAGE, outputPassingJobDefinition } from '../../batch/output-passing';

/** Where the containers see their local mirror of the datastore (IO.md: `MIRROR_ROOT`). */
export const MIRROR_ROOT = '/metaflow/root';

/** What the helpers (fetch, upload) are told; every key relative to the datastore root. */
export interface OutputPassingIo {
  /** `s3://bucket[/prefix]`. */
  readonly datastoreUrl: string;
  /** Keys to mirror (`…/` a prefix); `{taskId}`/`{index}` are the child's. */
  readonly fetchKeys: readonly string[];
  /** Keys fetch waits for first. */
  readonly waitKeys: readonly string[];
  /** The attempt's output key. */
  readonly outputKey: string;
  /** Step Functions: the task path the outputs are committed to on success (status.json last). */
  readonly commitKey?: string;
  /** Step Functions: key of the foreach's items as one JSON array. */
  readonly foreachItemsJson?: string;
}

/** The helpers' environment (IO.md's names). */
export function outputPassingEnvironment(io: OutputPassingIo): Record<string, string> {
  const env: Record<string, string> = {
    MF_DATASTORE_URL: io.datastoreUrl,
    MF_FETCH_KEYS: io.fetchKeys.join(' '),
    MF_OUTPUT_KEY: io.outputKey,
  };
  if (io.waitKeys.length) env.MF_WAIT_KEYS = io.waitKeys.join(' ');
  if (io.commitKey !== undefined) env.MF_COMMIT_KEY = io.commitKey;
  if (io.foreachItemsJson !== undefined) env.MF_FOREACH_ITEMS_JSON = io.foreachItemsJson;
  return env;
}

/**
 * SubmitJob's `EcsPropertiesOverride` (API field names, as Step Functions passes them): the helper
 * env on `fetch` and `upload`, the command and the task environment on `main` (a multi-line
 * command goes through the environment: command-env.ts).
 */
export function ecsPropertiesOverride(helperEnv: Readonly<Record<string, string>>, argv: readonly string[], mainEnv: Readonly<Record<string, string>>): object {
  const env = (e: Readonly<Record<string, string>>) => batchEnvironment(e).map(({ name, value }) => ({ Name: name, Value: value }));
  const main = commandForDefinition(mainCommand(argv));
  return {
    TaskProperties: [
      {
        Containers: [
          { Name: 'fetch', Environment: env(helperEnv) },
          { Name: MAIN_CONTAINER, Command: main.command, Environment: env({ ...mainEnv, ...main.env }) },
          { Name: 'upload', Environment: env(helperEnv) },
        ],
      },
    ],
  };
}

/**
 * The compiler's side of output passing (runner/batch/output-passing.ts, docs/batch.md "Outputs
 * and inputs"): the helper environment and the job definition are the Batch layer's own; only
 * the override is written here, because Step Functions passes SubmitJob's API field names
 * (PascalCase) where the SDK takes camelCase.
 */
import { FETCH_CONTAINER, MAIN_CONTAINER, UPLOAD_CONTAINER } from '../../batch/failures';
import { mainCommand } from '../../batch/output-passing';
import { batchEnvironment } from '../../policy/batch';
import { commandForDefinition } from './command-env';

export { DEFAULT_HELPER_IMAGE, MIRROR_ROOT, outputPassingEnvironment, outputPassingJobDefinition } from '../../batch/output-passing';

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
          { Name: FETCH_CONTAINER, Environment: env(helperEnv) },
          { Name: MAIN_CONTAINER, Command: main.command, Environment: env({ ...mainEnv, ...main.env }) },
          { Name: UPLOAD_CONTAINER, Environment: env(helperEnv) },
        ],
      },
    ],
  };
}

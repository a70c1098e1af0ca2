/**
 * The compiler's side of the job shape (runner/batch/job-shape.ts): the task runtime's I/O
 * environment and the job definition are the Batch layer's own; only the override is written
 * here, because Step Functions passes SubmitJob's API field names (PascalCase) where the SDK
 * takes camelCase.
 */
import { batchEnvironment } from '../../policy/batch';

export { MIRROR_ROOT, taskIoEnvironment, taskJobDefinition } from '../../batch/job-shape';

/** SubmitJob's `ContainerOverrides` (API field names, as Step Functions passes them): the environment only. */
export function containerOverrides(env: Readonly<Record<string, string>>): { Environment: { Name: string; Value: string }[] } {
  return { Environment: batchEnvironment(env).map(({ name, value }) => ({ Name: name!, Value: value! })) };
}

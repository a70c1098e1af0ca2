/**
 * The compiler's side of the job shape (runner/batch/job-shape.ts): the task runtime's I/O
 * environment and the job definition are the Batch layer's own; only the override is written
 * here, because Step Functions passes SubmitJob's API field names (PascalCase) where the SDK
 * takes camelCase.
 */
import { batchEnvironment } from '../../policy/batch';
import type { MetadataServiceTarget } from './types';

export { MIRROR_ROOT, taskIoEnvironment, taskJobDefinition } from '../../batch/job-shape';

/** SubmitJob's `ContainerOverrides` (API field names, as Step Functions passes them): the environment only. */
export function containerOverrides(env: Readonly<Record<string, string>>): { Environment: { Name: string; Value: string }[] } {
  return { Environment: batchEnvironment(env).map(({ name, value }) => ({ Name: name!, Value: value! })) };
}

/**
 * What a job needs to register its task with the metadata service itself
 * (runner/task-runtime/python/mfcdk_metadata.py): the service as Metaflow names it in a Batch
 * job's environment (metaflow/plugins/aws/batch/batch.py sets METAFLOW_SERVICE_URL to
 * SERVICE_INTERNAL_URL), the user, and MF_METADATA_REGISTER, which only compiled jobs carry (on
 * the Batch layer the runner registers). About 150 characters of each job's ECS budget.
 */
export function metadataEnvironment(target: MetadataServiceTarget | undefined): Record<string, string> {
  if (!target) return {};
  return {
    MF_METADATA_REGISTER: '1',
    METAFLOW_SERVICE_URL: target.url,
    ...(target.authKey ? { METAFLOW_SERVICE_AUTH_KEY: target.authKey } : {}),
    METAFLOW_USER: target.user,
  };
}

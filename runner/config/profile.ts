/**
 * Stack outputs → Metaflow client profile. Output ids come from the config-keys module
 * (`metaflowOutputId(key)`), so the stack and this reader cannot disagree on a name.
 */
import {
  ALL_METAFLOW_CONFIG_KEYS,
  METAFLOW_STACK_OUTPUTS,
  MetaflowConfigKey,
  MetaflowProfile,
  metaflowOutputId,
  SECRET_METAFLOW_CONFIG_KEYS,
} from '../../core/metaflow-config-keys';

/** Keys without which a Metaflow client cannot use the stack (the compute part). */
export const REQUIRED_CONFIG_KEYS: readonly MetaflowConfigKey[] = ['DATASTORE_SYSROOT_S3', 'BATCH_JOB_QUEUE'];

export interface ProfileFromOutputs {
  /** Every key the stack publishes (secret keys are never read from outputs). */
  readonly profile: MetaflowProfile;
  /** Required keys whose outputs are missing or empty. */
  readonly missingRequired: readonly MetaflowConfigKey[];
  /** ARN of the API key secret, when the stack has the metadata service. */
  readonly apiKeySecretArn?: string;
}

export function profileFromOutputs(outputs: Readonly<Record<string, string>>): ProfileFromOutputs {
  const profile: MetaflowProfile = {};
  for (const key of ALL_METAFLOW_CONFIG_KEYS) {
    if (SECRET_METAFLOW_CONFIG_KEYS.includes(key)) continue;
    const value = outputs[metaflowOutputId(key)];
    if (value !== undefined && value !== '') profile[key] = value;
  }
  const secretArn = outputs[METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN];
  return {
    profile,
    missingRequired: REQUIRED_CONFIG_KEYS.filter((key) => profile[key] === undefined),
    apiKeySecretArn: secretArn ? secretArn : undefined,
  };
}

/**
 * Whether runs are registered with a Metaflow metadata service, and where: read through the
 * Metaflow config reader (METAFLOW_DEFAULT_METADATA, METAFLOW_SERVICE_URL,
 * METAFLOW_SERVICE_AUTH_KEY, as `metaflow-cdk configure` writes them).
 */
import { describeValue } from '../../core/describe-value';
import { metaflowEnvName } from '../../core/metaflow-config-keys';
import type { MetaflowConfig } from '../config/metaflow-config';
import { UserInputError } from '../errors';
import { currentUser } from '../config/user';

/** Where the service is and who registers. */
export interface ServiceSettings {
  /** The service's base URL, without a trailing slash. */
  readonly url: string;
  /** Sent as `x-api-key` when set (API Gateway checks it in the deployed stack). @default - no header */
  readonly authKey?: string;
  /** The `user:<name>` the runs are tagged with: METAFLOW_USER, else the OS user. */
  readonly user: string;
}

/**
 * The service settings, or undefined when the config names no service (no SERVICE_URL, or
 * DEFAULT_METADATA set to something else than `service`). A URL that is not http(s) is one
 * UserInputError line naming the key, where it came from, and the value.
 */
export function serviceSettings(config: MetaflowConfig, env: NodeJS.ProcessEnv): ServiceSettings | undefined {
  const { profile } = config;
  const url = profile.SERVICE_URL;
  if (url === undefined) return undefined;
  if (profile.DEFAULT_METADATA !== undefined && profile.DEFAULT_METADATA !== 'service') return undefined;
  return {
    url: checkedUrl('SERVICE_URL', url, config),
    ...(profile.SERVICE_AUTH_KEY ? { authKey: profile.SERVICE_AUTH_KEY } : {}),
    user: currentUser(env),
  };
}

/**
 * The settings jobs inside the stack's VPC use (Step Functions jobs register themselves): the
 * URL is SERVICE_INTERNAL_URL when the config has one, else SERVICE_URL, as Metaflow's @batch
 * hands its jobs `METAFLOW_SERVICE_URL=SERVICE_INTERNAL_URL` (metaflow/plugins/aws/batch/batch.py).
 */
export function jobServiceSettings(config: MetaflowConfig, env: NodeJS.ProcessEnv): ServiceSettings | undefined {
  const settings = serviceSettings(config, env);
  const internal = config.profile.SERVICE_INTERNAL_URL;
  if (!settings || internal === undefined || internal === '') return settings;
  return { ...settings, url: checkedUrl('SERVICE_INTERNAL_URL', internal, config) };
}

/** An http(s) URL without its trailing slashes; else one UserInputError line naming the key, its source and the value. */
function checkedUrl(key: 'SERVICE_URL' | 'SERVICE_INTERNAL_URL', url: string, config: MetaflowConfig): string {
  const source = config.sources[key];
  const from = source === 'env' ? 'the environment' : source;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.host) {
    throw new UserInputError(`${metaflowEnvName(key)} (from ${from}) must be an http:// or https:// URL, got ${describeValue(url)}`);
  }
  return url.replace(/\/+$/, '');
}


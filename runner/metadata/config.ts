/**
 * Whether runs are registered with a Metaflow metadata service, and where: read through the
 * Metaflow config reader (METAFLOW_DEFAULT_METADATA, METAFLOW_SERVICE_URL,
 * METAFLOW_SERVICE_AUTH_KEY, as `metaflow-cdk configure` writes them).
 */
import * as os from 'node:os';
import { describeValue } from '../../core/describe-value';
import { metaflowEnvName } from '../../core/metaflow-config-keys';
import type { MetaflowConfig } from '../config/metaflow-config';
import { UserInputError } from '../errors';

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
  const { profile, sources } = config;
  const url = profile.SERVICE_URL;
  if (url === undefined) return undefined;
  if (profile.DEFAULT_METADATA !== undefined && profile.DEFAULT_METADATA !== 'service') return undefined;
  const from = sources.SERVICE_URL === 'env' ? 'the environment' : sources.SERVICE_URL;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.host) {
    throw new UserInputError(`${metaflowEnvName('SERVICE_URL')} (from ${from}) must be an http:// or https:// URL, got ${describeValue(url)}`);
  }
  return {
    url: url.replace(/\/+$/, ''),
    ...(profile.SERVICE_AUTH_KEY ? { authKey: profile.SERVICE_AUTH_KEY } : {}),
    user: env.METAFLOW_USER || env.USER || safeOsUser(),
  };
}

function safeOsUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

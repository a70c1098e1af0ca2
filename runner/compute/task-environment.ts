import * as path from 'node:path';
import { NODE_HELPERS_DIR, RUNTIME_SOURCE_DIR } from '../task-runtime';

/**
 * What a local task inherits from the runner's environment: what an AWS Batch container would
 * also have, or what a tool on this machine needs to reach AWS — not the whole shell, so a flow
 * that works locally only because of an exported variable fails here, not first on AWS. On Batch
 * a task gets its image's environment, the task contract (MF_*) and the step's `env`; locally it
 * gets the contract, the step's `env` and these. `run --inherit-env` passes everything.
 */

/** Variables passed by name. */
export const PASSED_VARIABLES: readonly string[] = [
  // what every process needs to find programs, its home (and ~/.aws), its locale, time zone and temp directory
  'PATH', 'HOME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR',
  // proxies (curl, pip, the AWS SDKs read both spellings)
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'all_proxy',
  // CA bundles of OpenSSL, Python requests, curl and Node
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS',
];

/** Variables passed by prefix: the AWS SDKs' and CLI's settings (credentials, region, profile, endpoint, AWS_CA_BUNDLE), the locale categories. */
export const PASSED_PREFIXES: readonly string[] = ['AWS_', 'LC_'];

/** The part of `env` a local task inherits (see PASSED_VARIABLES and PASSED_PREFIXES). */
export function taskBaseEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (PASSED_VARIABLES.includes(name) || PASSED_PREFIXES.some((p) => name.startsWith(p))) passed[name] = value;
  }
  return passed;
}

/**
 * `env` with the task helpers importable: the package's task-runtime folders appended to
 * PYTHONPATH (metaflow_cdk.py) and NODE_PATH (metaflow_cdk.js), after whatever the step or the
 * shell put there (on AWS the task runtime puts the code package's `_mfcdk/` there instead).
 */
export function withTaskHelpers(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  const append = (name: string, dir: string) => (out[name] = env[name] ? `${env[name]}${path.delimiter}${dir}` : dir);
  append('PYTHONPATH', RUNTIME_SOURCE_DIR);
  append('NODE_PATH', NODE_HELPERS_DIR);
  return out;
}

/**
 * onEvent handler of the custom resource that runs the Metaflow metadata database migrations on
 * deploy (`aws-cdk-lib/custom-resources` Provider framework). Bundled with esbuild from this file
 * (export `handler`; see ./bundle and ./code, which the construct imports instead of this file);
 * it needs nothing but Node itself (fetch, node:path).
 *
 * ResourceProperties (CloudFormation passes them as strings):
 * - `MigrationServiceUrl` (required): base URL of the migration service, e.g.
 *   `http://<internal-nlb-dns>:8082`.
 * - `TimeLimitSeconds` (optional): bound for the whole run; default 600, and never more than
 *   the Lambda's remaining time less a safety margin.
 * Any other property (e.g. the service image tag) is ignored; changing it makes CloudFormation
 * send an Update, which checks the schema again and upgrades it only if needed.
 *
 * Create/Update: check the schema, upgrade if needed, re-check. Delete: nothing (the database
 * and its schema belong to the database resource). Errors are thrown; the Provider framework
 * reports the message to CloudFormation, which fails the deployment with it.
 *
 * Manual run: invoke the function with
 * `{"RequestType": "Create", "ResourceProperties": {"MigrationServiceUrl": "http://…:8082"}}`.
 */
import { MigrationError, runMigrations } from './migrations';
import type { MigrationResult, RunMigrationsOptions } from './migrations';
import { DEFAULT_TIME_LIMIT_SECONDS, MAX_TIME_LIMIT_SECONDS, MIGRATION_DATA, MIGRATION_PROPERTIES } from './properties';

export { MigrationError, runMigrations } from './migrations';
export type { DbSchemaStatus, MigrationResult, RunMigrationsOptions } from './migrations';
export { DEFAULT_TIME_LIMIT_SECONDS, MIGRATION_DATA, MIGRATION_PROPERTIES } from './properties';

/** Time kept back from the Lambda's remaining time, so the handler fails before it is killed. */
export const LAMBDA_SAFETY_MARGIN_MS = 15_000;

/** The event the Provider framework passes to onEvent (the fields this handler reads). */
export interface MigrationEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete' | string;
  readonly ResourceProperties?: Record<string, unknown>;
  readonly OldResourceProperties?: Record<string, unknown>;
  readonly PhysicalResourceId?: string;
}

export interface MigrationResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** The Lambda context fields this handler reads. */
export interface LambdaContextLike {
  getRemainingTimeInMillis(): number;
}

/** Test seams: everything of {@link RunMigrationsOptions} except the time bound, which comes from the properties. */
export type HandlerOptions = Omit<RunMigrationsOptions, 'timeLimitMs'>;

/** The Lambda entry point. */
export async function handler(event: MigrationEvent, context?: LambdaContextLike): Promise<MigrationResponse> {
  return handleMigrationEvent(event, context, { log: (line) => console.log(line) });
}

/** The handler with injectable waits and clock (what `handler` calls). */
export async function handleMigrationEvent(
  event: MigrationEvent,
  context: LambdaContextLike | undefined,
  options: HandlerOptions,
): Promise<MigrationResponse> {
  const requestType = event?.RequestType;
  if (requestType === 'Delete') {
    // Nothing to undo; keep the id CloudFormation knows the resource by.
    return { PhysicalResourceId: event.PhysicalResourceId ?? 'metaflow-db-migrations' };
  }
  if (requestType !== 'Create' && requestType !== 'Update') {
    throw new MigrationError(
      `unsupported RequestType ${JSON.stringify(requestType)}: expected "Create", "Update" or "Delete"`,
    );
  }
  const properties = event.ResourceProperties ?? {};
  const serviceUrl = parseServiceUrl(properties[MIGRATION_PROPERTIES.SERVICE_URL]);
  const timeLimitMs = timeLimit(properties[MIGRATION_PROPERTIES.TIME_LIMIT_SECONDS], context);

  const result = await runMigrations(serviceUrl, { ...options, timeLimitMs });
  return {
    // The same id on every update: the resource stands for "this database's schema".
    PhysicalResourceId: event.PhysicalResourceId ?? `metaflow-db-migrations@${result.serviceUrl}`,
    Data: toData(result),
  };
}

function toData(result: MigrationResult): Record<string, string> {
  return {
    [MIGRATION_DATA.UPGRADE_RAN]: String(result.upgradeRan),
    [MIGRATION_DATA.VERSION_BEFORE]: result.versionBefore,
    [MIGRATION_DATA.VERSION_AFTER]: result.versionAfter,
    [MIGRATION_DATA.APPLIED_MIGRATIONS]: result.appliedMigrations.join(','),
  };
}

function parseServiceUrl(value: unknown): string {
  const name = MIGRATION_PROPERTIES.SERVICE_URL;
  if (value === undefined || value === null || value === '') {
    throw new MigrationError(`ResourceProperties.${name} is required (e.g. "http://<nlb-dns>:8082"), but it is missing`);
  }
  if (typeof value !== 'string') {
    throw new MigrationError(`ResourceProperties.${name} must be a string URL, got ${JSON.stringify(value)}`);
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new MigrationError(`ResourceProperties.${name} is not a valid URL: ${JSON.stringify(value)}`);
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    throw new MigrationError(
      `ResourceProperties.${name} must be an http(s) URL with a host, e.g. "http://<nlb-dns>:8082"; got ${JSON.stringify(value)}`,
    );
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new MigrationError(`ResourceProperties.${name} must be a base URL without query or fragment; got ${JSON.stringify(value)}`);
  }
  return value;
}

function timeLimit(value: unknown, context: LambdaContextLike | undefined): number {
  const name = MIGRATION_PROPERTIES.TIME_LIMIT_SECONDS;
  let seconds = DEFAULT_TIME_LIMIT_SECONDS;
  if (value !== undefined && value !== null && value !== '') {
    seconds = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_TIME_LIMIT_SECONDS) {
      throw new MigrationError(
        `ResourceProperties.${name} must be a number of seconds in (0, ${MAX_TIME_LIMIT_SECONDS}]; got ${JSON.stringify(value)}`,
      );
    }
  }
  const limitMs = seconds * 1000;
  if (!context || typeof context.getRemainingTimeInMillis !== 'function') return limitMs;
  return Math.max(1_000, Math.min(limitMs, context.getRemainingTimeInMillis() - LAMBDA_SAFETY_MARGIN_MS));
}

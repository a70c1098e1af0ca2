/**
 * Bring the Metaflow metadata database schema up to date through the metadata service's
 * migration service (port 8082 of `netflixoss/metaflow_metadata_service`).
 *
 * What the migration service answers (Netflix/metaflow-service,
 * services/migration_service/api/admin.py):
 * - `GET /db_schema_status` → 200 with a JSON body `{ is_up_to_date, current_version,
 *   migration_in_progress, db_schema_versions, unapplied_migrations }` (versions are goose
 *   version strings such as "20200603104139"); 500 with `{ "detail": "<repr of the error>" }`
 *   when goose cannot read the schema version (e.g. the database is not reachable yet). Older
 *   images send the JSON without a JSON content type, so the body is parsed whatever the type.
 * - `PATCH /upgrade` → runs `goose up` synchronously; 200 `upgrade success` or 500
 *   `upgrade failed` (text/plain). The route exists only while MF_MIGRATION_ENDPOINTS_ENABLED
 *   is not 0 (the default is 1); without it the server answers 404/405.
 * - `migration_in_progress` is true whenever `goose status` lists a Pending migration, i.e.
 *   whenever migrations are unapplied; it is not a lock, so this module does not wait on it.
 *
 * No dependencies beyond Node's built-in fetch, so the Lambda bundles with esbuild alone.
 */

/** The body of `GET /db_schema_status`, the fields this module reads. */
export interface DbSchemaStatus {
  readonly is_up_to_date: boolean;
  readonly current_version: string;
  readonly migration_in_progress?: boolean;
  readonly db_schema_versions?: readonly string[];
  readonly unapplied_migrations: readonly string[];
}

export interface RunMigrationsOptions {
  /**
   * Total time bound for the whole run (waiting for the service, the upgrade and the re-check),
   * in ms. Keep it below the Lambda timeout. Default 600,000 (10 minutes).
   */
  readonly timeLimitMs?: number;
  /** Most `GET /db_schema_status` attempts while the service is unreachable or answers 5xx. Default 20. */
  readonly maxAttempts?: number;
  /** First delay between attempts, doubled after each failure. Default 2,000 ms. */
  readonly initialDelayMs?: number;
  /** Longest delay between attempts. Default 30,000 ms. */
  readonly maxDelayMs?: number;
  /** Timeout of one status request. Default 15,000 ms (the service runs goose for each). */
  readonly requestTimeoutMs?: number;
  /** Waits between attempts; tests pass one that does not wait. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The clock the time bound is measured with. Default Date.now. */
  readonly now?: () => number;
  /** Progress lines (CloudWatch Logs in the Lambda). Default: none. */
  readonly log?: (line: string) => void;
}

/** What a run did. */
export interface MigrationResult {
  /** The migration service base URL, without a trailing slash. */
  readonly serviceUrl: string;
  /** Whether `PATCH /upgrade` was sent. */
  readonly upgradeRan: boolean;
  /** Schema version before the run. */
  readonly versionBefore: string;
  /** Schema version after the run (the same as before when nothing was unapplied). */
  readonly versionAfter: string;
  /** Migrations that were unapplied before the run (and are applied now). */
  readonly appliedMigrations: readonly string[];
}

/** A failure of the migration run; its message is what CloudFormation shows. */
export class MigrationError extends Error {
  constructor(
    message: string,
    /** HTTP status the service answered with, when it answered. */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'MigrationError';
  }
}

const DEFAULTS = {
  timeLimitMs: 600_000,
  maxAttempts: 20,
  initialDelayMs: 2_000,
  maxDelayMs: 30_000,
  requestTimeoutMs: 15_000,
} as const;

/** Longest excerpt of a response body quoted in an error. */
const BODY_EXCERPT_CHARS = 500;

interface Settings {
  readonly timeLimitMs: number;
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly requestTimeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** When the run must be over, on the `now` clock. */
  readonly deadline: number;
}

/**
 * Check the schema and upgrade it if migrations are unapplied; re-check after the upgrade.
 * Safe to run any number of times: an up-to-date schema is left alone.
 * Throws {@link MigrationError} with the service's own message when the upgrade fails.
 */
export async function runMigrations(url: string, options: RunMigrationsOptions = {}): Promise<MigrationResult> {
  const serviceUrl = url.replace(/\/+$/, '');
  const now = options.now ?? Date.now;
  const timeLimitMs = options.timeLimitMs ?? DEFAULTS.timeLimitMs;
  const settings: Settings = {
    timeLimitMs,
    maxAttempts: Math.max(1, options.maxAttempts ?? DEFAULTS.maxAttempts),
    initialDelayMs: options.initialDelayMs ?? DEFAULTS.initialDelayMs,
    maxDelayMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now,
    log: options.log ?? (() => undefined),
    deadline: now() + timeLimitMs,
  };

  const before = await getSchemaStatusWithRetries(serviceUrl, settings);
  settings.log(
    `schema version ${before.current_version}, up to date: ${before.is_up_to_date}, ` +
      `unapplied: ${before.unapplied_migrations.length ? before.unapplied_migrations.join(', ') : 'none'}`,
  );
  if (before.is_up_to_date) {
    return {
      serviceUrl,
      upgradeRan: false,
      versionBefore: before.current_version,
      versionAfter: before.current_version,
      appliedMigrations: [],
    };
  }

  await upgrade(serviceUrl, settings);

  const after = await getSchemaStatusWithRetries(serviceUrl, settings);
  settings.log(`after upgrade: schema version ${after.current_version}, up to date: ${after.is_up_to_date}`);
  if (!after.is_up_to_date) {
    throw new MigrationError(
      `PATCH ${serviceUrl}/upgrade answered success, but the schema is still not up to date: version ` +
        `${after.current_version}, unapplied migrations: ${after.unapplied_migrations.join(', ') || '(none listed)'}`,
    );
  }
  return {
    serviceUrl,
    upgradeRan: true,
    versionBefore: before.current_version,
    versionAfter: after.current_version,
    appliedMigrations: before.unapplied_migrations,
  };
}

/** One request's outcome: an answer, or a transport failure (refused, reset, timed out). */
type Attempt = { readonly response: Response; readonly body: string } | { readonly failure: string };

async function request(url: string, method: string, timeoutMs: number): Promise<Attempt> {
  try {
    const response = await fetch(url, { method, signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
    return { response, body: await response.text() };
  } catch (err) {
    return { failure: describeTransportError(err, timeoutMs) };
  }
}

function describeTransportError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const cause = e?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return cause?.message ?? e?.message ?? String(err);
}

function excerpt(body: string): string {
  const text = body.trim();
  if (text === '') return '(empty body)';
  return text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text;
}

/** The service's own words from an error body: `detail` of a JSON body, else the text. */
function serviceMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { detail?: unknown };
    if (parsed && typeof parsed.detail === 'string') return parsed.detail;
  } catch {
    // not JSON: the text itself is the message
  }
  return excerpt(body);
}

async function getSchemaStatusWithRetries(serviceUrl: string, s: Settings): Promise<DbSchemaStatus> {
  const url = `${serviceUrl}/db_schema_status`;
  const started = s.now();
  let lastProblem = '';
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const remaining = s.deadline - s.now();
    const attempt = await request(url, 'GET', Math.min(s.requestTimeoutMs, remaining));
    if ('failure' in attempt) {
      lastProblem = `unreachable: ${attempt.failure}`;
    } else if (attempt.response.status >= 500) {
      lastProblem = `HTTP ${attempt.response.status}: ${serviceMessage(attempt.body)}`;
    } else if (!attempt.response.ok) {
      throw new MigrationError(
        `GET ${url} answered HTTP ${attempt.response.status}: ${excerpt(attempt.body)} ` +
          `(is this the Metaflow migration service, port 8082?)`,
        attempt.response.status,
      );
    } else {
      return parseSchemaStatus(url, attempt.body);
    }
    const delay = Math.min(s.maxDelayMs, s.initialDelayMs * 2 ** (attempts - 1));
    const outOfTime = s.now() + delay >= s.deadline;
    if (attempts >= s.maxAttempts || outOfTime) {
      const waited = Math.round((s.now() - started) / 1000);
      const why = attempts >= s.maxAttempts ? `after ${attempts} attempts` : `after ${attempts} attempts (time limit ${Math.round(s.timeLimitMs / 1000)} s reached)`;
      throw new MigrationError(
        `the Metaflow migration service at ${serviceUrl} did not answer GET /db_schema_status ${why} over ${waited} s; ` +
          `last error: ${lastProblem}`,
      );
    }
    s.log(`GET ${url} attempt ${attempts} failed (${lastProblem}); retrying in ${delay} ms`);
    await s.sleep(delay);
  }
}

function parseSchemaStatus(url: string, body: string): DbSchemaStatus {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MigrationError(`GET ${url} answered 200 with a body that is not JSON: ${excerpt(body)}`);
  }
  const status = parsed as Partial<Record<keyof DbSchemaStatus, unknown>> | null;
  const version = status?.current_version;
  const unapplied = status?.unapplied_migrations ?? [];
  if (
    typeof status?.is_up_to_date !== 'boolean' ||
    (typeof version !== 'string' && typeof version !== 'number') ||
    !Array.isArray(unapplied)
  ) {
    throw new MigrationError(
      `GET ${url} answered 200 without the expected fields (is_up_to_date, current_version, ` +
        `unapplied_migrations): ${excerpt(body)}`,
    );
  }
  return {
    is_up_to_date: status.is_up_to_date,
    current_version: String(version),
    migration_in_progress: status.migration_in_progress === true,
    unapplied_migrations: unapplied.map(String),
  };
}

async function upgrade(serviceUrl: string, s: Settings): Promise<void> {
  const url = `${serviceUrl}/upgrade`;
  const remaining = s.deadline - s.now();
  s.log(`PATCH ${url}`);
  // Not retried: goose may have applied part of the migrations; the re-check tells the truth.
  const attempt = await request(url, 'PATCH', remaining);
  if ('failure' in attempt) {
    throw new MigrationError(`schema upgrade failed: PATCH ${url} got no answer: ${attempt.failure}`);
  }
  if (attempt.response.ok) {
    s.log(`PATCH ${url}: HTTP ${attempt.response.status} ${excerpt(attempt.body)}`);
    return;
  }
  const hint =
    attempt.response.status === 404 || attempt.response.status === 405
      ? ' (the upgrade endpoint is off when the service runs with MF_MIGRATION_ENDPOINTS_ENABLED=0)'
      : '';
  throw new MigrationError(
    `schema upgrade failed: PATCH ${url} answered HTTP ${attempt.response.status}: ` +
      `${serviceMessage(attempt.body)}${hint}`,
    attempt.response.status,
  );
}

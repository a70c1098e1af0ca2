/**
 * The migration custom resource's contract, for the construct that creates it and for the
 * handler: ResourceProperties names and the `Data` keys it returns. The construct imports this
 * file (and ./code for the bundled handler), not the handler code.
 */

/** ResourceProperties names (CloudFormation passes every value as a string). */
export const MIGRATION_PROPERTIES = {
  /** Required: base URL of the migration service, e.g. `http://<internal-nlb-dns>:8082`. */
  SERVICE_URL: 'MigrationServiceUrl',
  /** Optional: bound in seconds for the whole run; default {@link DEFAULT_TIME_LIMIT_SECONDS}. */
  TIME_LIMIT_SECONDS: 'TimeLimitSeconds',
} as const;

/** Keys of the `Data` the handler returns (read with `CustomResource.getAttString`). */
export const MIGRATION_DATA = {
  /** "true" when PATCH /upgrade ran, else "false". */
  UPGRADE_RAN: 'UpgradeRan',
  VERSION_BEFORE: 'SchemaVersionBefore',
  VERSION_AFTER: 'SchemaVersionAfter',
  /** Comma-separated versions applied by this run ("" when none). */
  APPLIED_MIGRATIONS: 'AppliedMigrations',
} as const;

/** Default `TimeLimitSeconds`; the handler also stops 15 s before the Lambda's own timeout. */
export const DEFAULT_TIME_LIMIT_SECONDS = 600;
/** Largest accepted `TimeLimitSeconds` (a Lambda runs 15 minutes at most). */
export const MAX_TIME_LIMIT_SECONDS = 900;

import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** How a metadata-service-image container (the metadata API or the UI backend) reaches its database. */
export interface DatabaseConnectionSettings {
  /** The database endpoint's host name. */
  readonly host: string;
  /** The port (a string, as container environment takes it). */
  readonly port: string;
  /** The PostgreSQL database the service uses. */
  readonly databaseName: string;
  /** libpq sslmode. @default 'require' */
  readonly sslMode?: string;
  /** Secret with `username` and `password` JSON keys. */
  readonly credentials: secretsmanager.ISecret;
}

/**
 * The database settings as plain container environment — host, port, name, SSL mode only. The
 * user and password never go here: see {@link databaseSecrets}.
 */
export function databaseEnvironment(db: DatabaseConnectionSettings): Record<string, string> {
  return {
    MF_METADATA_DB_HOST: db.host,
    MF_METADATA_DB_PORT: db.port,
    MF_METADATA_DB_NAME: db.databaseName,
    MF_METADATA_DB_SSL_MODE: db.sslMode ?? 'require',
  };
}

/** The database user and password as ECS secrets (resolved at task start, never in the template). */
export function databaseSecrets(db: DatabaseConnectionSettings): Record<string, ecs.Secret> {
  return {
    MF_METADATA_DB_USER: ecs.Secret.fromSecretsManager(db.credentials, 'username'),
    MF_METADATA_DB_PSWD: ecs.Secret.fromSecretsManager(db.credentials, 'password'),
  };
}

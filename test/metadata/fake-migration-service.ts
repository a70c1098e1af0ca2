import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, createServer as createNetServer } from 'node:net';

/**
 * A stand-in for the Metaflow migration service on 127.0.0.1, answering as
 * services/migration_service/api/admin.py does: `GET /db_schema_status` → JSON status,
 * `PATCH /upgrade` → text "upgrade success" (200) or "upgrade failed" (500).
 */
export interface FakeMigrationService {
  readonly url: string;
  /** Every request seen, as "METHOD /path". */
  readonly requests: string[];
  close(): Promise<void>;
}

/** One scripted answer: `'reset'` drops the connection without answering. */
export type Answer = { status: number; body: string; contentType?: string } | 'reset';

export interface FakeBehaviour {
  /** Answers to GET /db_schema_status, in order; the last one repeats. */
  status: Answer[];
  /** Answer to PATCH /upgrade; when it is 2xx the status answers switch to `statusAfterUpgrade`. */
  upgrade?: Answer;
  /** Answers to GET /db_schema_status after a successful upgrade; the last one repeats. */
  statusAfterUpgrade?: Answer[];
}

export const ALL_VERSIONS = ['1', '20200603104139', '20201002000616', '20210202145952'];

/** The JSON body of db_schema_status at `version`, as the service writes it. */
export function schemaStatus(version: string): Answer {
  const index = ALL_VERSIONS.indexOf(version);
  const unapplied = ALL_VERSIONS.slice(index + 1);
  return {
    status: 200,
    // Older images send this JSON without a JSON content type.
    contentType: 'application/octet-stream',
    body: JSON.stringify({
      is_up_to_date: unapplied.length === 0,
      current_version: version,
      migration_in_progress: unapplied.length > 0,
      db_schema_versions: ALL_VERSIONS,
      unapplied_migrations: unapplied,
    }),
  };
}

export const LATEST_VERSION = ALL_VERSIONS[ALL_VERSIONS.length - 1];

function send(req: IncomingMessage, res: ServerResponse, answer: Answer): void {
  if (answer === 'reset') {
    req.socket.destroy();
    return;
  }
  res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'text/plain; charset=utf-8' });
  res.end(answer.body);
}

export async function startFakeMigrationService(behaviour: FakeBehaviour): Promise<FakeMigrationService> {
  const requests: string[] = [];
  let statusAnswers = behaviour.status;
  let statusCount = 0;
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    if (req.method === 'GET' && req.url === '/db_schema_status') {
      send(req, res, statusAnswers[Math.min(statusCount++, statusAnswers.length - 1)]);
    } else if (req.method === 'PATCH' && req.url === '/upgrade' && behaviour.upgrade) {
      const answer = behaviour.upgrade;
      if (answer !== 'reset' && answer.status < 300 && behaviour.statusAfterUpgrade) {
        statusAnswers = behaviour.statusAfterUpgrade;
        statusCount = 0;
      }
      send(req, res, answer);
    } else {
      send(req, res, { status: 404, body: '404: Not Found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL nothing listens on (connections are refused). */
export async function unusedLoopbackUrl(): Promise<string> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

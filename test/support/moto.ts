import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/** A moto_server on 127.0.0.1, started for one test file. */
export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Stop the server and wait for it to exit. */
  stop(): Promise<void>;
  /** Wipe all state (`POST /moto-api/reset`). */
  reset(): Promise<void>;
  /** `POST /moto-api/config` with the given body, e.g. `{ batch: { use_docker: false } }`. */
  configure(config: Record<string, unknown>): Promise<void>;
}

/** Credentials and region for SDK clients that talk to moto. */
export const MOTO_CLIENT_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
} as const;

/** The environment that points the AWS SDK (and so the CLI) at this moto_server. */
export const motoEnv = (moto: Pick<MotoServer, 'endpoint'>): Record<string, string> => ({
  AWS_ENDPOINT_URL: moto.endpoint,
  AWS_REGION: MOTO_CLIENT_CONFIG.region,
  AWS_ACCESS_KEY_ID: MOTO_CLIENT_CONFIG.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: MOTO_CLIENT_CONFIG.credentials.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(endpoint: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  while (Date.now() - started < deadlineMs) {
    if (child.exitCode !== null) throw new Error(`moto_server exited early with code ${child.exitCode}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within ${deadlineMs} ms: ${String(lastError)}`);
}

/** Start moto_server on a free loopback port. `env` is added to its environment. */
export async function startMoto(env: Record<string, string> = {}): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });
  await waitUntilUp(endpoint, child, 30_000);
  return {
    endpoint,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    async configure(config) {
      const res = await fetch(`${endpoint}/moto-api/config`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(config),
      });
      if (!res.ok) throw new Error(`moto config failed: HTTP ${res.status}`);
    },
  };
}

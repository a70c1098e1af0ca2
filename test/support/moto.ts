import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A moto_server on 127.0.0.1: one for a test file ({@link startMoto}) or the jest worker's ({@link workerMoto}). */
export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  /** Stop the server and wait for it to exit; for the worker's server, nothing (the run's teardown stops it). */
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

/**
 * How long a moto_server may take to answer after its start, and the timeout for a beforeAll that
 * starts one. A last guard only: the Python start-up takes 2–3 s on an idle machine and took 82 s
 * on the 2-core machine at load 29.
 */
export const MOTO_START_TIMEOUT_MS = 240_000;

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

async function answers(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/moto-api/`)).ok;
  } catch {
    return false;
  }
}

async function waitUntilUp(endpoint: string, child: ChildProcess): Promise<void> {
  const started = Date.now();
  while (Date.now() - started < MOTO_START_TIMEOUT_MS) {
    if (child.exitCode !== null) throw new Error(`moto_server exited early with code ${child.exitCode}`);
    if (await answers(endpoint)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`moto_server did not answer on ${endpoint} within ${MOTO_START_TIMEOUT_MS} ms`);
}

/** moto_server on a free loopback port, answering. */
async function launch(env: Record<string, string>): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { env: { ...process.env, ...env }, stdio: 'ignore' });
  await waitUntilUp(endpoint, child);
  return { endpoint, child };
}

function serverAt(endpoint: string, stop: () => Promise<void>): MotoServer {
  return {
    endpoint,
    stop,
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
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

/** Start moto_server for one test file on a free loopback port. `env` is added to its environment. */
export async function startMoto(env: Record<string, string> = {}): Promise<MotoServer> {
  const { endpoint, child } = await launch(env);
  return serverAt(endpoint, async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  });
}

/** The config keys tests change, at moto's defaults (`/moto-api/reset` wipes state, not config). */
const MOTO_DEFAULT_CONFIG = { batch: { use_docker: true }, lambda: { use_docker: true }, stepfunctions: { execute_state_machine: false } };

/**
 * The jest worker's moto_server, wiped for the calling test file (`/moto-api/reset`, config back
 * to defaults): started by the worker's first file that asks and reused by its later files, so a
 * run pays moto_server's start-up once per worker instead of once per file. A worker runs its
 * files one after another, so a file has the server to itself. The endpoint and pid are kept in
 * the run's temporary directory, whose teardown stops the server (test/support/jest-temp-dir.js);
 * outside such a run this is {@link startMoto}. A server with extra environment stays per file.
 */
export async function workerMoto(): Promise<MotoServer> {
  const runDir = process.env.METAFLOW_CDK_JEST_TMPDIR;
  if (!runDir) return startMoto();
  const file = join(runDir, `moto-worker-${process.env.JEST_WORKER_ID ?? '1'}.json`);
  let endpoint: string | undefined;
  try {
    endpoint = (JSON.parse(readFileSync(file, 'utf8')) as { endpoint: string }).endpoint;
  } catch {
    endpoint = undefined; // the worker's first file that asks
  }
  if (endpoint === undefined || !(await answers(endpoint))) {
    const launched = await launch({});
    launched.child.unref(); // it outlives this file, and must not keep the worker from exiting
    endpoint = launched.endpoint;
    writeFileSync(file, JSON.stringify({ endpoint, pid: launched.child.pid }));
  }
  const server = serverAt(endpoint, async () => {});
  await server.reset();
  await server.configure(MOTO_DEFAULT_CONFIG);
  return server;
}

/**
 * The real Metaflow metadata service for tests: started with the peers' start script
 * (`<repo>/../shared/peers`, or `shared/peers` in a parent folder for a worktree), stopped and
 * restarted on the same database and port to test a service that goes down mid-run.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '../../..');

/** The peers folder, or undefined when it is not there (CI must have it: it fails loudly there). */
export function peersDir(): string | undefined {
  const candidates = [path.join(REPO, '..', 'shared', 'peers'), path.join(REPO, '..', '..', 'shared', 'peers')];
  const found = candidates.find((c) => fs.existsSync(path.join(c, 'start-metadata-service.sh')));
  if (!found && process.env.CI === 'true') throw new Error(`the peers folder is missing: looked in ${candidates.join(', ')} (CI puts shared/ beside the clone)`);
  return found;
}

/** Whether the system Python has what the service needs (CI installs it in .ci/run). */
export function servicePackagesInstalled(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import aiohttp, aiopg, psycopg2, boto3, packaging, requests'], { stdio: 'ignore' });
    return fs.readdirSync('/usr/lib/postgresql').length > 0;
  } catch {
    if (process.env.CI === 'true') throw new Error('the metadata service packages are missing: .ci/run must apt-get install postgresql python3-aiohttp python3-aiopg python3-psycopg2 python3-boto3 python3-packaging python3-requests');
    return false;
  }
}

export interface RunningService {
  readonly url: string;
  readonly dir: string;
  /** Stop the service process (PostgreSQL stays). */
  kill(): void;
  /** Start the service again on the same port and database; resolves when it answers /ping. */
  restart(): Promise<void>;
  /** Stop everything. */
  stop(): void;
}

/** Start PostgreSQL and the service in `dir` (made traversable for the postgres user). */
export function startService(peers: string, dir: string): RunningService {
  fs.mkdirSync(dir, { recursive: true });
  // PostgreSQL runs as the postgres user: every folder above its data must be traversable (jest's TMPDIR is mode 700).
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(d, mode | 0o011);
  }
  execFileSync(path.join(peers, 'start-metadata-service.sh'), [path.join(dir, 'svc')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const env = Object.fromEntries(
    fs
      .readFileSync(path.join(dir, 'svc', 'env'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=', 2) as [string, string]),
  );
  const url = env.SERVICE_URL;
  const port = new URL(url).port;
  let pid = Number(env.SERVICE_PID);
  let child: ChildProcess | undefined;
  const kill = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  return {
    url,
    dir,
    kill,
    async restart() {
      // The same command line the start script runs the service with (its env: DB on PG_PORT, site/ for its version).
      const src = path.join(peers, 'metaflow-service');
      child = spawn('/usr/bin/python3', ['-m', 'services.metadata_service.server'], {
        cwd: src,
        stdio: 'ignore',
        env: {
          ...process.env,
          PYTHONPATH: `${src}:${path.join(dir, 'svc', 'site')}`,
          MF_METADATA_DB_HOST: '127.0.0.1',
          MF_METADATA_DB_PORT: env.PG_PORT,
          MF_METADATA_DB_USER: 'metaflow',
          MF_METADATA_DB_PSWD: 'unused',
          MF_METADATA_DB_NAME: 'metaflow',
          MF_METADATA_HOST: '127.0.0.1',
          MF_METADATA_PORT: port,
        },
      });
      pid = child.pid!;
      for (let i = 0; i < 300; i++) {
        if (await fetch(`${url}/ping`).then((r) => r.ok, () => false)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the metadata service did not come back on ${url}`);
    },
    stop() {
      kill();
      execFileSync(path.join(dir, 'svc', 'stop.sh'), { stdio: 'ignore' });
    },
  };
}

/**
 * Read a run back with the real Metaflow client (test/support/metadata/read-run.py); `env` adds
 * to its environment (s3Reader: an S3 datastore on moto).
 */
export function readRun(peers: string, url: string, home: string, flow: string, runId: string, user = 'ada', env: Record<string, string> = {}): ReadBack {
  return readRuns(peers, url, home, [{ flow, runId }], user, env)[0];
}

/**
 * Read several runs back in ONE Python process (the client's import is most of a read's cost),
 * in the order given; `env` as for {@link readRun}.
 */
export function readRuns(peers: string, url: string, home: string, runs: readonly { flow: string; runId: string }[], user = 'ada', env: Record<string, string> = {}): ReadBack[] {
  const out = execFileSync('/usr/bin/python3', [path.join(__dirname, 'read-run.py'), ...runs.flatMap((r) => [r.flow, r.runId])], {
    env: { PATH: process.env.PATH, PYTHONPATH: path.join(peers, 'metaflow'), METAFLOW_DEFAULT_METADATA: 'service', METAFLOW_SERVICE_URL: url, METAFLOW_USER: user, HOME: home, ...env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as ReadBack[];
}

export interface ReadBack {
  readonly namespace: string;
  readonly listed: string[];
  readonly successful: boolean;
  readonly finished: boolean;
  readonly tags: string[];
  readonly system_tags: string[];
  readonly parameters: Record<string, unknown>;
  readonly graph_steps: string[];
  readonly steps: Record<
    string,
    {
      id: string;
      successful: boolean;
      finished: boolean;
      data: Record<string, unknown>;
      stdout: string;
      attempts: number;
      metadata: Record<string, string>;
      /** Task.exception (a failed task's MetaflowExceptionWrapper): its type, message and what printing it shows. */
      exception: { type: string; exception: string; printed: string } | null;
      /** With more than one attempt: [field, value] of attempt, attempt-done, attempt_ok, caught over every attempt (task.metadata). */
      attempt_metadata?: [string, string][];
      /** With more than one attempt: each read as Task(pathspec, attempt=n). */
      tries?: { attempt: number; finished: boolean; stdout: string; stderr: string; exception: { type: string; exception: string; printed: string } | null; metadata: Record<string, string> }[];
    }[]
  >;
}

/**
 * The Metaflow client's settings for a datastore root on S3 served by moto_server (the peers
 * README): the S3 datastore, its root, the endpoint and dummy credentials.
 */
export function s3Reader(root: string, endpoint: string): Record<string, string> {
  return {
    METAFLOW_DEFAULT_DATASTORE: 's3',
    METAFLOW_DATASTORE_SYSROOT_S3: root,
    METAFLOW_S3_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_DEFAULT_REGION: 'us-east-1',
  };
}

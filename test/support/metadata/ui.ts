/**
 * The real Metaflow UI for tests: its backend (metaflow-service's ui_backend_service, on the
 * metadata service's database) and its static build, started with the peers' start script, and
 * Debian's Chromium to screenshot a page headless (flags from the peers README).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isInCi } from '../external-tool';
import type { RunningService } from './service';

/** Whether the system Python has what the UI backend needs (CI installs it in .ci/run). */
export function uiPackagesInstalled(): boolean {
  const ok = spawnSync('/usr/bin/python3', ['-c', 'import pyee, pygit2, click, aiohttp_cors, throttler'], { stdio: 'ignore' }).status === 0;
  if (!ok && isInCi()) throw new Error('the Metaflow UI backend packages are missing: .ci/run must apt-get install python3-pyee python3-pygit2 python3-click python3-aiohttp-cors python3-throttler');
  return ok;
}

/** Debian's Chromium, or undefined (outside CI, with a message; under CI=true an error). */
export function chromiumPath(): string | undefined {
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
  if (found) return found;
  if (isInCi()) throw new Error('chromium is missing: .ci/run must apt-get install chromium');
  console.warn('chromium is not installed: the Metaflow UI screenshot is skipped (apt-get install chromium)');
  return undefined;
}

export interface RunningUi {
  /** The UI's pages. */
  readonly url: string;
  /** The UI backend's JSON API (routes without prefix: `/flows/<flow>/runs`). */
  readonly backendUrl: string;
  readonly dir: string;
  stop(): void;
}

/** The UI backend module the peers copy of metaflow-service lacks (see ui-config-api.py). */
const CONFIG_API = path.join('metaflow-service', 'services', 'ui_backend_service', 'api', 'config.py');

/**
 * The peers folder as the UI start script needs it: itself when it is complete, else an overlay
 * in `dir` (symbolic links to every peer file, plus ui-config-api.py where config.py is missing).
 */
function uiPeers(peers: string, dir: string): string {
  if (fs.existsSync(path.join(peers, CONFIG_API))) return peers;
  const overlay = path.join(dir, 'peers');
  fs.mkdirSync(overlay, { recursive: true });
  for (const name of ['metaflow', 'metaflow-ui', 'start-metaflow-ui.sh']) fs.symlinkSync(path.join(peers, name), path.join(overlay, name));
  execFileSync('cp', ['-rs', path.join(peers, 'metaflow-service'), overlay]);
  fs.copyFileSync(path.join(__dirname, 'ui-config-api.py'), path.join(overlay, CONFIG_API));
  return overlay;
}

/**
 * Start the UI on `service`'s database, in `dir`; `env` adds to the backend's environment (the
 * start script passes its own on), e.g. s3Reader's settings for runs on an S3 datastore.
 */
export function startUi(peers: string, service: RunningService, dir: string, env: Record<string, string> = {}): RunningUi {
  const from = uiPeers(peers, path.join(dir, '..', 'ui-peers'));
  // The peers' script waits about 30 s for the backend's /ping, then stops it and fails; on the 2-core machine
  // under the suite's load the backend (three cache worker pools, each importing Metaflow) has taken longer
  // (a fresh-clone run at 14:56): one more try, in the same directory (the script stopped what it started).
  const start = () => execFileSync(path.join(from, 'start-metaflow-ui.sh'), [dir, path.join(service.dir, 'svc')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  try {
    start();
  } catch {
    start();
  }
  const started = Object.fromEntries(
    fs
      .readFileSync(path.join(dir, 'env'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('=', 2) as [string, string]),
  );
  return { url: started.UI_URL, backendUrl: started.UI_BACKEND_URL, dir, stop: () => execFileSync(path.join(dir, 'stop.sh'), { stdio: 'ignore' }) };
}

/**
 * Screenshot `url` headless into `file` (1400×900). `--virtual-time-budget` lets the page's
 * requests finish (`--timeout` gives a blank page: the peers README).
 */
export function screenshot(chromium: string, url: string, file: string, profileDir: string, budgetMs = 15_000, timeoutMs = 60_000): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  execFileSync(
    chromium,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--hide-scrollbars',
      `--user-data-dir=${profileDir}`,
      '--window-size=1400,900',
      `--virtual-time-budget=${budgetMs}`,
      `--screenshot=${file}`,
      url,
    ],
    { stdio: 'ignore', timeout: timeoutMs },
  );
}

/**
 * Where screenshots are kept: METAFLOW_CDK_UI_SCREENSHOTS when set (to keep them after the run),
 * else the jest run's temporary directory.
 */
export function screenshotDir(): string {
  return process.env.METAFLOW_CDK_UI_SCREENSHOTS || path.join(os.tmpdir(), 'ui-screenshots');
}

/**
 * Root file systems that stand in for container images in tests, and a runner that starts one
 * container in them the way AWS Batch (ECS) would, inside bubblewrap. See docs/testing.md.
 *
 * - {@link standInKind} maps an image URI to a stand-in (`python`, `busybox`) or `undefined`.
 * - {@link ensureRootfs} builds the stand-in once (build-rootfs.sh: Debian packages unpacked
 *   with `dpkg -x`) into `$METAFLOW_CDK_ROOTFS_CACHE` or `<repo>/.cache/rootfs/`, and returns it.
 * - {@link runContainer} runs a command in it: read-only root, fresh tmpfs on /tmp, /root,
 *   /var/tmp and /run, own pid namespace, host network, exactly the image's and the job's
 *   environment, `command[0]` looked up on the container's PATH.
 *
 * Measured (`npx tsx bench/rootfs.ts`) on the 2-core machine shared with other sessions, so
 * several times slower than idle (load average 10–13):
 *   build cold: python 19–28 s (apt-get download ≈ 7 s, dpkg -x ≈ 11 s, compileall ≈ 7 s; 60 MB),
 *               busybox 8–14 s (2.2 MB); warm (cached, a new process): < 0.1 s (hash + stat);
 *   start to exit, median of 20: `sh -c true` 130–200 ms, `python3 -c pass` 330–370 ms,
 *               `python3 -c 'import json, ssl, tarfile, urllib.request'` ≈ 770 ms.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { pidAlive } from '../../../runner/orchestrator/liveness';
import { isInCi } from '../external-tool';

export type StandInKind = 'python' | 'busybox';

/** Every stand-in kind, in the order they are built. */
export const STAND_IN_KINDS: readonly StandInKind[] = ['python', 'busybox'];

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const BUILD_SCRIPT = path.join(__dirname, 'build-rootfs.sh');

/**
 * The stand-in for an image URI, by the repository's last path component (tag and digest
 * ignored): `python`, `python:3.12-slim`, `docker.io/library/python:3.12`,
 * `public.ecr.aws/docker/library/python:3.12-slim`, `<account>.dkr.ecr.<region>.amazonaws.com/python:x`
 * → `python`; the same forms of `busybox` → `busybox`; anything else (`node:20-slim`,
 * `public.ecr.aws/amazonlinux/amazonlinux:2023`) → `undefined`.
 */
export function standInKind(image: string): StandInKind | undefined {
  const withoutDigest = image.trim().split('@')[0];
  const lastComponent = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const name = lastComponent.split(':')[0];
  return (STAND_IN_KINDS as readonly string[]).includes(name) ? (name as StandInKind) : undefined;
}

/**
 * The environment the real image sets for every container (its `ENV` lines, plus the HOME Docker
 * adds from /etc/passwd). python: docker-library's python Dockerfile prepends /usr/local/bin to
 * Debian's PATH ("ensure local python is preferred over distribution python") and sets
 * LANG=C.UTF-8. PYTHON_VERSION / GPG_KEY are left out: the stand-in's python is Debian's 3.11.
 */
export function imageEnvironment(kind: StandInKind): Record<string, string> {
  const debianPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  switch (kind) {
    case 'python':
      return { PATH: `/usr/local/bin:${debianPath}`, LANG: 'C.UTF-8', HOME: '/root' };
    case 'busybox':
      return { PATH: debianPath, HOME: '/root' };
  }
}

/** Where the stand-ins are cached: `$METAFLOW_CDK_ROOTFS_CACHE` or `<repo>/.cache/rootfs`. */
export function rootfsCacheDir(): string {
  const configured = process.env.METAFLOW_CDK_ROOTFS_CACHE;
  return configured ? path.resolve(configured) : path.join(REPO_ROOT, '.cache', 'rootfs');
}

/** The cached root of a kind: `<cache>/<kind>-<hash of build-rootfs.sh (which lists the packages)>`. */
export function rootfsPath(kind: StandInKind): string {
  const hash = createHash('sha256').update(fs.readFileSync(BUILD_SCRIPT)).update(`\0${kind}`).digest('hex');
  return path.join(rootfsCacheDir(), `${kind}-${hash.slice(0, 12)}`);
}

let bwrapPath: string | undefined;

/** bwrap's absolute path on the host (the container's environment has the container's PATH). */
function findBwrap(): string {
  if (bwrapPath) return bwrapPath;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, 'bwrap');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      bwrapPath = candidate;
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(
    `bwrap (bubblewrap) is not on PATH; the container stand-ins need it (apt-get install bubblewrap)` +
      (isInCi() ? ' — CI must install it in .ci/run' : ''),
  );
}

const building = new Map<StandInKind, Promise<string>>();

/**
 * The path of the kind's cached root, built first if needed. Safe across concurrent jest
 * workers: a lock directory lets one build while the others wait, and the build goes to a
 * temporary directory renamed into place at the end, so nobody sees a half-built root (if two
 * builds ever race, the second rename fails and that copy is discarded). Throws one line when
 * bwrap is missing or the build fails — also in CI, where tests must never skip for it.
 */
export function ensureRootfs(kind: StandInKind): Promise<string> {
  if (!STAND_IN_KINDS.includes(kind)) {
    return Promise.reject(new Error(`unknown stand-in kind '${kind}' (known: ${STAND_IN_KINDS.join(', ')})`));
  }
  let promise = building.get(kind);
  if (!promise) {
    promise = buildOnce(kind);
    building.set(kind, promise);
    promise.catch(() => building.delete(kind));
  }
  return promise;
}

async function buildOnce(kind: StandInKind): Promise<string> {
  findBwrap();
  const final = rootfsPath(kind);
  if (fs.existsSync(final)) return final;
  fs.mkdirSync(path.dirname(final), { recursive: true });
  const release = await acquireLock(`${final}.lock`, () => fs.existsSync(final));
  try {
    if (fs.existsSync(final)) return final;
    const temp = path.join(path.dirname(final), `.build-${kind}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await runBuildScript(kind, temp);
      try {
        fs.renameSync(temp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      }
    } finally {
      fs.rmSync(temp, { recursive: true, force: true });
    }
    removeOtherVersions(kind, final);
    return final;
  } finally {
    release();
  }
}

function runBuildScript(kind: StandInKind, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT, kind, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    child.on('error', (e) => reject(new Error(`building the ${kind} stand-in root: cannot run bash: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('W: '));
      const last = lines[lines.length - 1] ?? `exit ${code ?? signal}`;
      reject(new Error(`building the ${kind} stand-in root failed: ${last}`));
    });
  });
}

/** Roots built by an older build-rootfs.sh: 50 MB each, never used again. */
function removeOtherVersions(kind: StandInKind, keep: string): void {
  const dir = path.dirname(keep);
  for (const entry of fs.readdirSync(dir)) {
    if (entry.startsWith(`${kind}-`) && !entry.endsWith('.lock') && path.join(dir, entry) !== keep) {
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * mkdir is atomic: whoever creates the lock directory builds; the others poll until it is gone
 * (or `done()` says the result exists). A lock whose owner process is dead is taken over.
 */
async function acquireLock(lockDir: string, done: () => boolean): Promise<() => void> {
  const ownerFile = path.join(lockDir, 'pid');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      fs.writeFileSync(ownerFile, String(process.pid));
      return () => fs.rmSync(lockDir, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (done()) return () => undefined;
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(ownerFile, 'utf8'));
    } catch {
      // the owner has not written its pid yet, or just released the lock
    }
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      fs.rmSync(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited 10 minutes for ${lockDir} (held by pid ${owner}); remove it if stale`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface RunContainerOptions {
  /** The job's image URI; must map to a stand-in ({@link standInKind}). */
  image: string;
  /** The container's command, as in the job's `containerOverrides.command` (no entrypoint). */
  command: string[];
  /** The job's environment; added to {@link imageEnvironment} (nothing from the host). */
  env: Record<string, string>;
  /** Called for every line the container writes, in arrival order. */
  onLine?(line: string, stream: 'stdout' | 'stderr'): void;
  /** Receives a function that kills the whole sandbox (SIGKILL); the result is then exit code 137. */
  onKill?(kill: () => void): void;
  /**
   * Receives a function that sends a signal to the container's main process (the command, not
   * bwrap), as `docker stop` / ECS StopTask send SIGTERM before SIGKILL; it returns false when
   * the main process is not running (not started yet, or gone).
   */
  onSignal?(send: (signal: NodeJS.Signals) => boolean): void;
  /** Aborting kills the sandbox like `onKill`'s function. */
  signal?: AbortSignal;
}

export interface ContainerResult {
  /**
   * The main process's exit code; 128+n when it died of signal n (137 when killed); 127 when the
   * container could not start (see `cannotStart`).
   */
  exitCode: number;
  /** Every line written to stdout and stderr, in arrival order (plus the `cannotStart` line). */
  lines: string[];
  /** `SIGKILL` when the harness killed the sandbox (onKill / signal). */
  signal?: string;
  /**
   * Set when the command could not be executed (not found on the container's PATH, no such
   * file, not executable): the reason ECS gives a container that never started, e.g.
   * `CannotStartContainerError: Error response from daemon: failed to create shim task: OCI
   * runtime create failed: runc create failed: unable to start container process: exec: "node":
   * executable file not found in $PATH: unknown`. It is also the last entry of `lines` and passed
   * to `onLine` as stderr. On AWS such a container has a `reason` and no exit code; the harness
   * reports 127 (the shell's "command not found") so callers that only look at the code see a failure.
   */
  cannotStart?: string;
}

/**
 * The text runc/Docker give for an entrypoint that cannot be executed, as ECS reports it in a
 * stopped container's reason. "CannotStartContainerError" is the ECS stopped-task error name
 * (docs.aws.amazon.com/AmazonECS/latest/developerguide/cannot-start-container.html); the rest is
 * runc's message (e.g. moby/moby discussion #46514: `failed to create shim task: OCI runtime
 * create failed: runc create failed: unable to start container process: exec: "echo": executable
 * file not found in $PATH: unknown`).
 */
export function cannotStartReason(executable: string, errnoText: string): string {
  let detail: string;
  if (/no such file or directory/i.test(errnoText)) {
    detail = executable.includes('/')
      ? `exec: "${executable}": stat ${executable}: no such file or directory`
      : `exec: "${executable}": executable file not found in $PATH`;
  } else {
    detail = `exec: "${executable}": ${errnoText.toLowerCase()}`;
  }
  return (
    'CannotStartContainerError: Error response from daemon: failed to create shim task: OCI runtime create failed: ' +
    `runc create failed: unable to start container process: ${detail}: unknown`
  );
}

/** The host pid of a process's first child (`/proc/<pid>/task/<pid>/children`), if it has one. */
function firstChild(pid: number): number | undefined {
  try {
    const first = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The host pid of the container's main process: bwrap (the spawned process) → its child, the
 * sandbox's pid 1 (bwrap's reaper) → its child, the command (pid 2 in the sandbox). Under Docker
 * the command is pid 1, which the kernel shields from signals it has no handler for; here a
 * signal without a handler takes its default action (a SIGTERM kills instead of being ignored
 * until the SIGKILL).
 */
function mainProcessPid(bwrapPid: number): number | undefined {
  const init = firstChild(bwrapPid);
  return init === undefined ? undefined : firstChild(init);
}

function validateOptions(options: RunContainerOptions): StandInKind {
  const kind = standInKind(options.image ?? '');
  if (!kind) {
    throw new Error(
      `no stand-in root for image '${options.image}' (known: ${STAND_IN_KINDS.map((k) => `${k}:*`).join(', ')} and their registry forms)`,
    );
  }
  const { command, env } = options;
  if (!Array.isArray(command) || command.length === 0 || command.some((c) => typeof c !== 'string') || command[0] === '') {
    throw new Error(`container command must be a non-empty array of strings, got ${JSON.stringify(command)}`);
  }
  for (const [name, value] of Object.entries(env ?? {})) {
    if (name === '' || name.includes('=') || name.includes('\0') || typeof value !== 'string' || value.includes('\0')) {
      throw new Error(`container environment variable ${JSON.stringify(name)}=${JSON.stringify(value)} is not a valid name=string pair`);
    }
  }
  return kind;
}

/**
 * Run one container of `options.image`'s stand-in, as AWS Batch would start it:
 * `bwrap --ro-bind ROOT / --tmpfs /tmp --tmpfs /root --tmpfs /var/tmp --tmpfs /run --proc /proc
 * --dev /dev --unshare-pid --die-with-parent --new-session --chdir / COMMAND...` with exactly
 * {@link imageEnvironment} + `options.env` (bwrap adds `PWD=/`, which any shell sets anyway).
 * No stdin. The network is the host's (ECS-EC2 Batch jobs use host networking), so 127.0.0.1
 * reaches servers the test started. Unknown image → throws naming it; bwrap itself failing to set
 * up the sandbox → throws with bwrap's line.
 */
export async function runContainer(options: RunContainerOptions): Promise<ContainerResult> {
  const kind = validateOptions(options);
  const root = await ensureRootfs(kind);
  const bwrap = findBwrap();
  const args = [
    '--ro-bind', root, '/',
    '--tmpfs', '/tmp', '--tmpfs', '/root', '--tmpfs', '/var/tmp', '--tmpfs', '/run',
    '--proc', '/proc', '--dev', '/dev',
    '--unshare-pid', '--die-with-parent', '--new-session', '--chdir', '/',
  ];
  // Images run as root by default; without privileges, map the caller to root in a user namespace.
  if (process.getuid?.() !== 0) args.push('--unshare-user', '--uid', '0', '--gid', '0');
  args.push('--', ...options.command);
  const env = { ...imageEnvironment(kind), ...options.env };

  const child = spawn(bwrap, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  // bwrap's own messages ("bwrap: execvp node: ...") come before anything the command writes:
  // hold a leading `bwrap: ` line back until we know whether the command ever started.
  let held: string | undefined;
  let sawOutput = false;
  const deliver = (line: string, stream: 'stdout' | 'stderr') => {
    lines.push(line);
    options.onLine?.(line, stream);
  };
  const onLine = (stream: 'stdout' | 'stderr') => (line: string) => {
    if (!sawOutput && held === undefined && stream === 'stderr' && line.startsWith('bwrap: ')) {
      held = line;
      return;
    }
    if (held !== undefined) {
      deliver(held, 'stderr');
      held = undefined;
    }
    sawOutput = true;
    deliver(line, stream);
  };
  const streamsDone = [child.stdout, child.stderr].map((s, i) => {
    const rl = createInterface({ input: s, crlfDelay: Infinity });
    rl.on('line', onLine(i === 0 ? 'stdout' : 'stderr'));
    return new Promise<void>((r) => rl.on('close', () => r()));
  });

  let killedBy: string | undefined;
  const kill = () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killedBy = 'SIGKILL';
    // The outer bwrap dies; --die-with-parent makes the sandbox's init die with it, and the
    // kernel then kills every process of the pid namespace.
    child.kill('SIGKILL');
  };
  const send = (signal: NodeJS.Signals): boolean => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return false;
    const main = mainProcessPid(child.pid);
    if (main === undefined) return false;
    try {
      process.kill(main, signal);
      return true;
    } catch {
      return false; // it exited in between
    }
  };
  const onAbort = () => kill();
  options.signal?.addEventListener('abort', onAbort);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  options.onKill?.(kill);
  options.onSignal?.(send);
  if (options.signal?.aborted) kill();
  let status: { code: number | null; signal: NodeJS.Signals | null };
  try {
    status = await exited;
    await Promise.all(streamsDone);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }

  if (status.code === 1 && held !== undefined && !sawOutput) {
    const exec = /^bwrap: execvp (.*): ([^:]+)$/.exec(held);
    if (exec && exec[1] === options.command[0]) {
      const reason = cannotStartReason(options.command[0], exec[2]);
      deliver(reason, 'stderr');
      return { exitCode: 127, lines, cannotStart: reason };
    }
    throw new Error(`bwrap could not start the ${kind} stand-in for ${options.image}: ${held}`);
  }
  if (held !== undefined) deliver(held, 'stderr');
  if (status.signal) {
    const exitCode = 128 + (osConstants.signals[status.signal] ?? 0);
    return { exitCode, lines, signal: killedBy ?? status.signal };
  }
  return { exitCode: status.code ?? 1, lines, ...(killedBy ? { signal: killedBy } : {}) };
}

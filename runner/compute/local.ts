import { ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import { AttemptRef, cachedChildReads, ChildReads, childEnvironment, childTaskId, TaskTemplate } from '../contract';
import { TaskStaging } from '../datastore/types';
import { layout } from '../datastore/layout';
import { taskBaseEnvironment, withTaskHelpers } from './task-environment';
import { AttemptListener, AttemptOutcome, AttemptResult, ComputeLayer, LayerContext, TaskGroup } from './types';
import { localUsage } from '../usage/local';

export interface LocalComputeOptions {
  /** How many attempts run at once. Default: the number of cores. */
  readonly maxWorkers?: number;
  /** After a timeout or cancel, how long a process group gets between SIGTERM and SIGKILL. */
  readonly killGraceMs?: number;
  /** Working directory of the tasks. Default: the current one. */
  readonly cwd?: string;
  /**
   * Base environment of the tasks, under the contract and the step's `env`.
   *
   * @default - the part of this process's environment a Batch task would also see or a local
   *   tool needs to reach AWS (taskBaseEnvironment: PATH, HOME, LANG, TZ, AWS_*, proxies, CA
   *   bundles), or all of it with `inheritEnv`
   */
  readonly baseEnv?: NodeJS.ProcessEnv;
  /**
   * Give tasks this process's whole environment (`run --inherit-env`) instead of the
   * taskBaseEnvironment part.
   *
   * @default false
   */
  readonly inheritEnv?: boolean;
}

interface Queued {
  readonly template: TaskTemplate;
  readonly index: number;
  readonly attempt: number;
  /** The environment and output directory, made ahead of a free slot (see PREPARE_AHEAD). */
  prepared?: Promise<Prepared>;
}

type Prepared = { readonly env: Record<string, string> } | { readonly error: Error };

/** How many queued attempts per worker are prepared ahead, so a free slot spawns at once. */
const PREPARE_AHEAD = 2;

interface Running {
  readonly ref: AttemptRef;
  readonly template: TaskTemplate;
  child?: ChildProcess;
  startedAt: number;
  killedFor?: 'timeout' | 'cancelled';
  timers: NodeJS.Timeout[];
  /** Resolves once the attempt reported `finished`. */
  readonly ended: Promise<void>;
  end(): void;
}

export function defaultMaxWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/**
 * The local compute layer: each attempt is a child process in its own process group running the
 * step's command (the image is only recorded). Timeouts and cancels kill the whole group, and so
 * does the end of the task: nothing it left behind outlives it. A task writes its outputs into a
 * local MF_OUTPUT_DIR: the datastore directory of its attempt itself (local store), or a staging
 * directory uploaded after the task ended (S3 store; see the datastore's TaskStaging).
 */
export class LocalComputeLayer implements ComputeLayer {
  /** Always `local`. */
  readonly name = 'local';
  /** How many attempts run at once (LocalComputeOptions.maxWorkers, else the number of cores). */
  readonly maxWorkers: number;
  private readonly killGraceMs: number;
  private readonly cwd: string | undefined;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private readonly running = new Set<Running>();
  private cancelled = false;
  private exitHooked = false;
  private staging?: TaskStaging;
  private listener?: AttemptListener;
  private reads?: ChildReads;

  constructor(options: LocalComputeOptions = {}) {
    this.maxWorkers = options.maxWorkers ?? defaultMaxWorkers();
    this.killGraceMs = options.killGraceMs ?? 5000;
    this.cwd = options.cwd;
    this.baseEnv = options.baseEnv ?? (options.inheritEnv ? process.env : taskBaseEnvironment(process.env));
  }

  /** `local, <n> workers`. */
  get description(): string {
    return `${this.name}, ${this.maxWorkers} worker${this.maxWorkers === 1 ? '' : 's'}`;
  }

  /** Always empty: the local layer runs any valid flow (the image is only recorded). */
  check(): string[] {
    return [];
  }

  /** Keeps the run's datastore and listener; throws unless the datastore is on this machine. */
  open(context: LayerContext): void {
    this.staging = context.datastore.openStaging();
    this.listener = context.listener;
    this.reads = cachedChildReads((key) => context.datastore.get(key));
  }

  /** Queues the group's children, and starts as many as there are free workers. */
  submit(group: TaskGroup): void {
    const listener = this.listener;
    if (!listener) throw new Error('LocalComputeLayer.submit before open');
    for (const c of group.children) {
      if (this.cancelled) {
        listener.finished(this.ref(group.template, c.index, c.attempt), { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: Date.now() });
      } else this.queue.push({ template: group.template, index: c.index, attempt: c.attempt });
    }
    this.pump();
  }

  private ref(t: TaskTemplate, index: number, attempt: number): AttemptRef {
    return { flow: t.flow, runId: t.runId, step: t.step, taskId: childTaskId(t, index), attempt };
  }

  private pump(): void {
    while (this.running.size < this.maxWorkers && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++];
      void this.start(next);
    }
    const ahead = Math.min(this.queue.length, this.queueHead + this.maxWorkers * PREPARE_AHEAD);
    for (let i = this.queueHead; i < ahead; i++) this.queue[i].prepared ??= this.prepare(this.queue[i]);
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  /**
   * The child's environment (runner/contract) and its attempt's output directory. The task always
   * sees local directories: the datastore's own (local store), or a staging copy of what it
   * needs (S3 store; see TaskStaging).
   */
  private async prepare(q: Queued): Promise<Prepared> {
    try {
      const env = await childEnvironment(q.template, q.index, q.attempt, this.reads!);
      const { root, outputDir } = await this.staging!.prepare(this.ref(q.template, q.index, q.attempt), env);
      env.MF_DATASTORE_ROOT = root;
      env.MF_OUTPUT_DIR = outputDir;
      return { env };
    } catch (err) {
      return { error: err as Error };
    }
  }

  private async start(q: Queued): Promise<void> {
    const listener = this.listener!;
    const ref = this.ref(q.template, q.index, q.attempt);
    let end!: () => void;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const run: Running = { ref, template: q.template, startedAt: Date.now(), timers: [], ended, end };
    this.running.add(run);
    const logRef = layout.attemptLog(ref);
    const prepared = await (q.prepared ??= this.prepare(q));
    if ('error' in prepared) {
      await this.release(ref);
      this.running.delete(run);
      listener.started(ref, { at: run.startedAt, logRef, usage: localUsage(q.template) });
      listener.finished(ref, { outcome: 'error', exitCode: null, reason: `could not prepare the task: ${prepared.error.message}`, startedAt: run.startedAt, finishedAt: Date.now() });
      run.end();
      this.pump();
      return;
    }
    if (this.cancelled) {
      await this.release(ref);
      this.running.delete(run);
      listener.finished(ref, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: Date.now() });
      run.end();
      this.pump();
      return;
    }
    const command = q.template.command;
    let child: ChildProcess;
    // Timed from just before spawn: spawn returns after the child has exec'd, and on a busy machine
    // the child may already have run for a while when it does, so a later stamp would shorten the
    // attempt's measured time (and its usage) below what the command really took.
    const spawnedAt = Date.now();
    try {
      child = spawn(command[0], command.slice(1), {
        cwd: this.cwd,
        env: withTaskHelpers({ ...this.baseEnv, ...prepared.env }),
        detached: true, // its own process group, so a timeout or cancel kills the whole tree
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      await this.release(ref);
      this.running.delete(run);
      listener.started(ref, { at: run.startedAt, logRef, usage: localUsage(q.template) });
      listener.finished(ref, { outcome: 'error', exitCode: null, reason: `could not start: ${(err as Error).message}`, startedAt: run.startedAt, finishedAt: Date.now() });
      run.end();
      this.pump();
      return;
    }
    run.child = child;
    run.startedAt = spawnedAt;
    if (!this.exitHooked) {
      // The safety net: if this process exits, no task outlives it.
      this.exitHooked = true;
      process.on('exit', this.onProcessExit);
    }
    const externalId = child.pid !== undefined ? `pid:${child.pid}` : undefined;
    listener.started(ref, { at: run.startedAt, externalId, logRef, usage: localUsage(q.template) });

    let spawnError: Error | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const settle = async () => {
      if (settled) return;
      settled = true;
      run.timers.forEach(clearTimeout);
      if (!exit) killGroup(child, 'SIGKILL'); // ended without an 'exit' (spawn error): be sure
      const result = await this.collect(ref, this.result(run, exit, spawnError));
      this.running.delete(run);
      if (this.running.size === 0 && this.exitHooked) {
        this.exitHooked = false;
        process.off('exit', this.onProcessExit);
      }
      listener.finished(ref, { ...result, externalId, logRef });
      run.end();
      this.pump();
    };
    lineReader(child.stdout!, (line) => listener.log(ref, 'stdout', line));
    lineReader(child.stderr!, (line) => listener.log(ref, 'stderr', line));
    child.once('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) void settle();
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // The task is over: kill what is left of its group now (a background child holding the
      // pipes would otherwise keep 'close' from ever coming; one with redirected output would
      // outlive the run). Output already in the pipes is still read.
      killGroup(child, 'SIGKILL');
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      void settle();
    });

    const timeout = q.template.policies.timeoutSeconds;
    if (timeout !== undefined) {
      run.timers.push(setTimeout(() => this.kill(run, 'timeout'), timeout * 1000));
    }
  }

  /**
   * After the process ended: what it wrote goes to the datastore (nothing to do for the local
   * store), and the staging is dropped. An upload that fails fails a successful attempt.
   */
  private async collect(ref: AttemptRef, result: AttemptResult): Promise<AttemptResult> {
    let out = result;
    if (result.outcome !== 'cancelled') {
      try {
        await this.staging!.collect(ref);
      } catch (err) {
        const why = `could not save its outputs: ${(err as Error).message}`;
        out = result.outcome === 'succeeded' ? { ...result, outcome: 'error', reason: why } : { ...result, reason: `${result.reason}; ${why}` };
      }
    }
    await this.release(ref);
    return out;
  }

  private async release(ref: AttemptRef): Promise<void> {
    try {
      await this.staging!.release(ref);
    } catch {
      // A staging copy that cannot be removed is a leftover in the temp directory, not a failure.
    }
  }

  private result(run: Running, exit: { code: number | null; signal: NodeJS.Signals | null } | undefined, spawnError: Error | undefined): AttemptResult {
    const base = { startedAt: run.startedAt, finishedAt: Date.now() };
    const program = run.template.command[0];
    if (spawnError && (!exit || exit.code === null)) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? `command not found: ${program}` : `could not start ${program}: ${spawnError.message}`;
      return { ...base, outcome: 'error', exitCode: null, reason };
    }
    const code = exit?.code ?? null;
    const signal = exit?.signal ?? undefined;
    if (run.killedFor === 'timeout') {
      return { ...base, outcome: 'timeout', exitCode: code, signal, reason: `timed out after ${formatSeconds(run.template.policies.timeoutSeconds!)} (per-attempt timeout)` };
    }
    if (run.killedFor === 'cancelled') return { ...base, outcome: 'cancelled', exitCode: code, signal, reason: 'cancelled' };
    const outcome: AttemptOutcome = code === 0 ? 'succeeded' : 'failed';
    const reason = code === 0 ? 'exit code 0' : code !== null ? `exit code ${code}` : `killed by ${signal}`;
    return { ...base, outcome, exitCode: code, signal, reason };
  }

  /** TERM the attempt's process group, then KILL it after the grace period. */
  private kill(run: Running, why: 'timeout' | 'cancelled'): void {
    if (run.killedFor || !run.child) return;
    run.killedFor = why;
    const child = run.child;
    killGroup(child, 'SIGTERM');
    run.timers.push(setTimeout(() => killGroup(child, 'SIGKILL'), this.killGraceMs));
  }

  /**
   * SIGKILL every running process group now, synchronously: for a forced quit (second Ctrl-C) and
   * the process 'exit' safety net, so no task outlives the runner.
   */
  forceStop(): void {
    this.cancelled = true;
    for (const run of this.running) if (run.child) killGroup(run.child, 'SIGKILL');
  }

  private readonly onProcessExit = () => this.forceStop();

  /**
   * Reports every queued attempt `cancelled`, refuses later submits the same way, and kills the
   * running ones (SIGTERM, then SIGKILL after the grace period); resolves once all reported.
   */
  async cancelAll(reason: string): Promise<void> {
    this.cancelled = true;
    const queued = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const q of queued) {
      this.listener?.finished(this.ref(q.template, q.index, q.attempt), { outcome: 'cancelled', exitCode: null, reason: `cancelled before it started: ${reason}`, finishedAt: Date.now() });
    }
    const running = [...this.running];
    for (const run of running) this.kill(run, 'cancelled');
    await Promise.all(running.map((r) => r.ended));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function lineReader(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const text = rest + chunk;
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (const line of lines) onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  });
  stream.on('end', () => {
    if (rest) onLine(rest);
    rest = '';
  });
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${+s.toFixed(3)}s`;
  if (s < 3600) return `${+(s / 60).toFixed(2)}min`;
  return `${+(s / 3600).toFixed(2)}h`;
}

import { ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import { AttemptListener, AttemptOutcome, AttemptResult, ComputeLayer, TaskSpec } from './types';

export interface LocalComputeOptions {
  /** How many attempts run at once. Default: the number of cores. */
  readonly maxWorkers?: number;
  /** After a timeout or cancel, how long a process group gets between SIGTERM and SIGKILL. */
  readonly killGraceMs?: number;
  /** Working directory of the tasks. Default: the current one. */
  readonly cwd?: string;
  /** Base environment of the tasks. Default: this process's. */
  readonly baseEnv?: NodeJS.ProcessEnv;
}

interface Running {
  readonly task: TaskSpec;
  readonly listener: AttemptListener;
  readonly child: ChildProcess;
  readonly startedAt: number;
  killedFor?: 'timeout' | 'cancelled';
  timers: NodeJS.Timeout[];
  exited?: Promise<void>;
}

export function defaultMaxWorkers(): number {
  return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
}

/**
 * The local compute layer: each attempt is a child process in its own process group running the
 * step's command (the image is only recorded). Timeouts and cancels kill the whole group.
 */
export class LocalComputeLayer implements ComputeLayer {
  readonly name = 'local';
  readonly maxWorkers: number;
  private readonly killGraceMs: number;
  private readonly cwd: string | undefined;
  private readonly baseEnv: NodeJS.ProcessEnv;
  private readonly queue: { task: TaskSpec; listener: AttemptListener }[] = [];
  private queueHead = 0;
  private readonly running = new Map<string, Running>();
  private cancelled = false;

  constructor(options: LocalComputeOptions = {}) {
    this.maxWorkers = options.maxWorkers ?? defaultMaxWorkers();
    this.killGraceMs = options.killGraceMs ?? 5000;
    this.cwd = options.cwd;
    this.baseEnv = options.baseEnv ?? process.env;
  }

  submit(group: readonly TaskSpec[], listener: AttemptListener): void {
    for (const task of group) {
      if (this.cancelled) listener.finished(task, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: Date.now() });
      else this.queue.push({ task, listener });
    }
    this.pump();
  }

  private pump(): void {
    while (this.running.size < this.maxWorkers && this.queueHead < this.queue.length) {
      const next = this.queue[this.queueHead++];
      this.start(next.task, next.listener);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    }
  }

  private start(task: TaskSpec, listener: AttemptListener): void {
    const startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(task.command[0], task.command.slice(1), {
        cwd: this.cwd,
        env: { ...this.baseEnv, ...task.env },
        detached: true, // its own process group, so a timeout or cancel kills the whole tree
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      listener.started(task, startedAt);
      listener.finished(task, { outcome: 'error', exitCode: null, reason: `could not start: ${(err as Error).message}`, startedAt, finishedAt: Date.now() });
      this.pump();
      return;
    }
    const run: Running = { task, listener, child, startedAt, timers: [] };
    if (this.running.size === 0) process.on('exit', this.onProcessExit);
    this.running.set(task.key, run);
    listener.started(task, startedAt);

    let spawnError: Error | undefined;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      run.timers.forEach(clearTimeout);
      this.running.delete(task.key);
      if (this.running.size === 0) process.off('exit', this.onProcessExit);
      listener.finished(task, this.result(run, exit, spawnError));
      this.pump();
    };
    run.exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    lineReader(child.stdout!, (line) => listener.log(task, 'stdout', line));
    lineReader(child.stderr!, (line) => listener.log(task, 'stderr', line));
    child.once('error', (err) => {
      spawnError = err;
      if (child.pid === undefined) settle();
    });
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      // Output may still be in the pipes: finish on 'close'. A background grandchild holding the
      // pipes open must not keep the task alive: kill what is left of the group after a moment.
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 200);
      run.timers.push(t);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      settle();
    });

    const timeout = task.policies.timeoutSeconds;
    if (timeout !== undefined) {
      run.timers.push(setTimeout(() => this.kill(run, 'timeout'), timeout * 1000));
    }
  }

  private result(run: Running, exit: { code: number | null; signal: NodeJS.Signals | null } | undefined, spawnError: Error | undefined): AttemptResult {
    const base = { startedAt: run.startedAt, finishedAt: Date.now() };
    if (spawnError && (!exit || exit.code === null)) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? `command not found: ${run.task.command[0]}` : `could not start ${run.task.command[0]}: ${spawnError.message}`;
      return { ...base, outcome: 'error', exitCode: null, reason };
    }
    const code = exit?.code ?? null;
    const signal = exit?.signal ?? undefined;
    if (run.killedFor === 'timeout') {
      return { ...base, outcome: 'timeout', exitCode: code, signal, reason: `timed out after ${formatSeconds(run.task.policies.timeoutSeconds!)} (per-attempt timeout)` };
    }
    if (run.killedFor === 'cancelled') return { ...base, outcome: 'cancelled', exitCode: code, signal, reason: 'cancelled' };
    let outcome: AttemptOutcome = code === 0 ? 'succeeded' : 'failed';
    if (code === null && !signal) outcome = 'failed';
    const reason = code === 0 ? 'exit code 0' : code !== null ? `exit code ${code}` : `killed by ${signal}`;
    return { ...base, outcome, exitCode: code, signal, reason };
  }

  /** TERM the attempt's process group, then KILL it after the grace period. */
  private kill(run: Running, why: 'timeout' | 'cancelled'): void {
    if (run.killedFor) return;
    run.killedFor = why;
    killGroup(run.child, 'SIGTERM');
    run.timers.push(setTimeout(() => killGroup(run.child, 'SIGKILL'), this.killGraceMs));
  }

  /**
   * SIGKILL every running process group now, synchronously: for a forced quit (second Ctrl-C) and
   * the process 'exit' safety net, so no task outlives the runner.
   */
  killAllNow(): void {
    for (const run of this.running.values()) killGroup(run.child, 'SIGKILL');
  }

  private readonly onProcessExit = () => this.killAllNow();

  async cancelAll(reason: string): Promise<void> {
    this.cancelled = true;
    const queued = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    for (const { task, listener } of queued) {
      listener.finished(task, { outcome: 'cancelled', exitCode: null, reason: `cancelled before it started: ${reason}`, finishedAt: Date.now() });
    }
    const running = [...this.running.values()];
    for (const run of running) this.kill(run, 'cancelled');
    await Promise.all(running.map((r) => r.exited));
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

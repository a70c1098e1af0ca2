/** log-update loads only for a live view (a terminal): it costs ~20 ms of every CLI start. */
type LogUpdate = typeof import('log-update');
import { pathspec, RunEvent } from '../orchestrator/events';
import { formatDuration, formatTable } from './table';

interface StepStats {
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  caught: number;
  cancelled: number;
  firstStart?: number;
  lastEnd?: number;
}

export interface ReporterOptions {
  readonly out: NodeJS.WritableStream;
  /** A live per-step view (a terminal, CI unset); otherwise plain lines. */
  readonly live: boolean;
  /** Print each task's output lines with a `[step/task#attempt]` prefix. Default true. */
  readonly showLogs?: boolean;
  readonly now?: () => number;
}

/** Decide whether the live view fits: stdout is a terminal and CI is not set. */
export function wantsLiveView(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true && !env.CI && env.TERM !== 'dumb';
}

/**
 * Shows a run's progress: per step pending/running/succeeded/failed/caught and elapsed time,
 * redrawn in place on a terminal (log-update), or as plain lines otherwise.
 */
export class ProgressReporter {
  private readonly stats = new Map<string, StepStats>();
  private readonly pendingLines: string[] = [];
  private readonly render?: ReturnType<LogUpdate['create']>;
  private timer?: NodeJS.Timeout;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: ReporterOptions) {
    this.now = options.now ?? Date.now;
    if (options.live) {
      this.render = (require('log-update') as LogUpdate).create(options.out as NodeJS.WriteStream, { showCursor: true });
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
  }

  private step(name: string): StepStats {
    let s = this.stats.get(name);
    if (!s) {
      s = { pending: 0, running: 0, succeeded: 0, failed: 0, caught: 0, cancelled: 0 };
      this.stats.set(name, s);
    }
    return s;
  }

  private line(text: string): void {
    if (this.render) this.pendingLines.push(text);
    else this.options.out.write(text + '\n');
  }

  readonly onEvent = (e: RunEvent): void => {
    const now = this.now();
    switch (e.type) {
      case 'run-started':
        for (const s of e.steps) this.step(s);
        return;
      case 'task-queued':
        this.step(e.task.step).pending++;
        return;
      case 'task-started': {
        const s = this.step(e.task.step);
        s.pending--;
        s.running++;
        s.firstStart ??= now;
        return;
      }
      case 'task-log':
        if (this.options.showLogs !== false) this.line(`[${pathspec(e.task)}#${e.attempt}] ${e.line}`);
        return;
      case 'task-retrying':
        this.finish(e.task.step, e.result.startedAt, now);
        this.line(`[${pathspec(e.task)}#${e.attempt}] ${e.result.reason}; retrying${e.delayMs ? ` in ${formatDuration(e.delayMs)}` : ''} (attempt ${e.attempt + 1})`);
        return;
      case 'task-succeeded':
        this.finish(e.task.step, e.result.startedAt, now).succeeded++;
        if (!this.render) this.line(`[${pathspec(e.task)}#${e.attempt}] succeeded in ${formatDuration(e.result.finishedAt - (e.result.startedAt ?? e.result.finishedAt))}`);
        return;
      case 'task-failed':
        this.finish(e.task.step, e.result.startedAt, now).failed++;
        this.line(`[${pathspec(e.task)}#${e.attempt}] FAILED: ${e.result.reason}`);
        return;
      case 'task-caught':
        this.finish(e.task.step, e.result.startedAt, now).caught++;
        this.line(`[${pathspec(e.task)}#${e.attempt}] failed: ${e.result.reason}; caught${e.var ? ` as ${e.var}` : ''}, the flow goes on`);
        if (e.print) this.line(`  ${e.failure.message}`);
        return;
      case 'task-cancelled':
        this.finish(e.task.step, e.result.startedAt, now).cancelled++;
        return;
      case 'task-reused': {
        this.step(e.task.step).succeeded++;
        if (!this.render) this.line(`[${pathspec(e.task)}] reused from run ${e.originRunId}`);
        return;
      }
      case 'run-finished':
        this.close();
        return;
    }
  };

  private finish(step: string, startedAt: number | undefined, now: number): StepStats {
    const s = this.step(step);
    if (startedAt !== undefined) s.running--;
    else s.pending--;
    s.lastEnd = now;
    return s;
  }

  /** The per-step table. */
  table(): string {
    const now = this.now();
    const rows: (string | number)[][] = [['step', 'pending', 'running', 'succeeded', 'failed', 'caught', 'elapsed']];
    for (const [name, s] of this.stats) {
      const end = s.running > 0 || s.pending > 0 ? now : s.lastEnd;
      rows.push([name, s.pending, s.running, s.succeeded, s.failed, s.caught, s.firstStart === undefined ? '-' : formatDuration((end ?? now) - s.firstStart)]);
    }
    return formatTable(rows);
  }

  private draw(): void {
    if (!this.render) return;
    if (this.pendingLines.length) {
      this.render.clear();
      this.options.out.write(this.pendingLines.join('\n') + '\n');
      this.pendingLines.length = 0;
    }
    this.render(this.table());
  }

  /** Draw the final state and stop redrawing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.render) {
      this.draw();
      this.render.done();
    }
  }
}

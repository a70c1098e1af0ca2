import { AttemptResult } from '../compute/types';
import { pathspec } from '../contract/names';
import { AttemptRecord, Datastore, RunRecord, RunSummary, TASK_CHUNK_SIZE, TaskRecord } from '../datastore/types';
import { RunEvent } from './events';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * Builds the run record from the run's events and writes it: the summary, and only the chunks of
 * task records that changed (a 10,000-task run rewrites a few small files, not megabytes). Writes
 * are serialized: one at a time, and a flush asked for while one is under way is done once after it.
 */
export class RunRecorder {
  private readonly index = new Map<string, number>();
  private readonly dirtyChunks = new Set<number>();
  private summaryDirty = true;
  private chain: Promise<void> = Promise.resolve();
  private queued = false;
  private written = false;

  /**
   * `existing`: the record is already in the store (re-attaching to a run whose runner died): its
   * tasks are known by pathspec, and the summary is rewritten without filing the run again.
   */
  constructor(
    readonly record: RunRecord,
    private readonly store: Datastore,
    options: { readonly existing?: boolean } = {},
  ) {
    record.tasks.forEach((t, i) => this.index.set(pathspec(t), i));
    this.written = !!options.existing;
  }

  task(pathspecOf: string): TaskRecord | undefined {
    const i = this.index.get(pathspecOf);
    return i === undefined ? undefined : this.record.tasks[i];
  }

  get dirty(): boolean {
    return this.summaryDirty || this.dirtyChunks.size > 0;
  }

  /** Write what changed since the last write; waits for a write under way first. */
  flush(): Promise<void> {
    if (!this.queued) {
      this.queued = true;
      this.chain = this.chain.then(() => {
        this.queued = false;
        return this.write();
      });
    }
    return this.chain;
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    const { tasks, ...rest } = this.record;
    const chunks = [...this.dirtyChunks].map((c) => ({ c, part: tasks.slice(c * TASK_CHUNK_SIZE, (c + 1) * TASK_CHUNK_SIZE) }));
    const summary: RunSummary = { ...rest, taskCount: tasks.length };
    this.dirtyChunks.clear();
    this.summaryDirty = false;
    // Chunks first, then the summary that counts them: a reader never finds a chunk missing.
    await Promise.all(chunks.map(({ c, part }) => this.store.writeTaskChunk(rest.flow, rest.runId, c, part)));
    await this.store.writeRunSummary(summary, !this.written);
    this.written = true;
  }

  private touch(i: number): void {
    this.summaryDirty = true;
    this.dirtyChunks.add(Math.floor(i / TASK_CHUNK_SIZE));
  }

  private add(rec: TaskRecord): void {
    const i = this.record.tasks.length;
    this.record.tasks.push(rec);
    this.record.taskCount = this.record.tasks.length;
    this.index.set(pathspec(rec), i);
    this.touch(i);
  }

  private get(spec: string): TaskRecord {
    const i = this.index.get(spec)!;
    this.touch(i);
    return this.record.tasks[i];
  }

  private finishAttempt(spec: string, attempt: number, result: AttemptResult): TaskRecord {
    const task = this.get(spec);
    let rec = task.attempts.find((a) => a.attempt === attempt);
    if (!rec) {
      rec = { attempt, status: 'running', exitCode: null };
      task.attempts.push(rec);
    }
    rec.status = result.outcome;
    rec.exitCode = result.exitCode;
    rec.reason = result.reason;
    rec.finishedAt = iso(result.finishedAt);
    if (result.startedAt !== undefined) rec.durationMs = result.finishedAt - result.startedAt;
    if (result.externalId !== undefined) rec.externalId = result.externalId;
    if (result.logRef !== undefined) rec.logRef = result.logRef;
    if (result.infrastructureRetries) rec.infrastructureRetries = result.infrastructureRetries;
    if (result.retryable === false) rec.retryable = false;
    if (result.usage) rec.usage = { ...rec.usage, ...result.usage };
    return task;
  }

  readonly onEvent = (e: RunEvent): void => {
    switch (e.type) {
      case 'task-log':
        return;
      case 'task-queued': {
        const spec = pathspec(e.task);
        if (!this.index.has(spec)) {
          this.add({ step: e.task.step, taskId: e.task.taskId, status: 'queued', inputs: e.task.inputs, foreachIndex: e.task.foreachIndex, attempts: [] });
        } else this.get(spec).status = 'queued';
        return;
      }
      case 'task-reused':
        this.add({ step: e.task.step, taskId: e.task.taskId, status: 'reused', inputs: e.task.inputs, foreachIndex: e.task.foreachIndex, attempts: [], reusedFrom: e.originRunId, outputsAt: e.outputsAt });
        return;
      case 'task-started': {
        const task = this.get(pathspec(e.task));
        task.status = 'running';
        const attempt: AttemptRecord = { attempt: e.attempt, status: 'running', exitCode: null, startedAt: iso(e.at) };
        if (e.start.externalId !== undefined) attempt.externalId = e.start.externalId;
        if (e.start.logRef !== undefined) attempt.logRef = e.start.logRef;
        if (e.start.usage) attempt.usage = e.start.usage;
        task.attempts.push(attempt);
        return;
      }
      case 'task-retrying':
        this.finishAttempt(pathspec(e.task), e.attempt, e.result).status = 'queued';
        return;
      case 'task-succeeded':
        this.finishAttempt(pathspec(e.task), e.attempt, e.result).status = 'succeeded';
        return;
      case 'task-failed':
        this.finishAttempt(pathspec(e.task), e.attempt, e.result).status = 'failed';
        return;
      case 'task-caught': {
        const task = this.finishAttempt(pathspec(e.task), e.attempt, e.result);
        task.status = 'caught';
        task.caught = e.failure;
        return;
      }
      case 'task-cancelled': {
        const task = this.finishAttempt(pathspec(e.task), e.attempt, e.result);
        task.status = 'cancelled';
        // A cancel before the attempt started leaves no trace of an attempt (one reported started stays).
        if (e.result.startedAt === undefined) task.attempts = task.attempts.filter((a) => a.attempt !== e.attempt || a.startedAt !== undefined);
        return;
      }
      case 'run-heartbeat':
        if (this.record.owner) this.record.owner.heartbeatAt = iso(e.at)!;
        this.summaryDirty = true;
        return;
      case 'run-finished':
        this.record.status = e.status;
        this.record.finishedAt = iso(e.at);
        this.record.durationMs = e.at - Date.parse(this.record.startedAt);
        if (e.error) this.record.error = e.error;
        if (e.apiCalls) this.record.apiCalls = e.apiCalls;
        this.summaryDirty = true;
        return;
      case 'run-started':
        return;
    }
  };
}

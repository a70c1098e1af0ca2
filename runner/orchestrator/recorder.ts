import { AttemptResult } from '../compute/types';
import { AttemptRecord, RunRecord, TaskRecord } from '../datastore/types';
import { pathspec, RunEvent } from './events';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Builds the run record from the run's events. */
export class RunRecorder {
  private readonly tasks = new Map<string, TaskRecord>();
  /** Set whenever the record changed since the last `takeDirty`. */
  dirty = true;

  constructor(readonly record: RunRecord) {}

  task(key: string): TaskRecord | undefined {
    return this.tasks.get(key);
  }

  takeDirty(): boolean {
    const d = this.dirty;
    this.dirty = false;
    return d;
  }

  private finishAttempt(key: string, attempt: number, result: AttemptResult): TaskRecord {
    const task = this.tasks.get(key)!;
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
    return task;
  }

  readonly onEvent = (e: RunEvent): void => {
    if (e.type === 'task-log') return;
    this.dirty = true;
    switch (e.type) {
      case 'task-queued': {
        const key = pathspec(e.task);
        if (!this.tasks.has(key)) {
          const rec: TaskRecord = { step: e.task.step, taskId: e.task.taskId, status: 'queued', inputs: e.task.inputs, foreachIndex: e.task.foreachIndex, attempts: [] };
          this.tasks.set(key, rec);
          this.record.tasks.push(rec);
        } else this.tasks.get(key)!.status = 'queued';
        return;
      }
      case 'task-reused': {
        const rec: TaskRecord = { step: e.task.step, taskId: e.task.taskId, status: 'reused', inputs: e.task.inputs, foreachIndex: e.task.foreachIndex, attempts: [], reusedFrom: e.originRunId };
        this.tasks.set(pathspec(e.task), rec);
        this.record.tasks.push(rec);
        return;
      }
      case 'task-started': {
        const task = this.tasks.get(pathspec(e.task))!;
        task.status = 'running';
        const attempt: AttemptRecord = { attempt: e.attempt, status: 'running', exitCode: null, startedAt: iso(e.at) };
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
        // A cancel before the attempt started leaves no trace of an attempt.
        if (e.result.startedAt === undefined) task.attempts = task.attempts.filter((a) => a.attempt !== e.attempt);
        return;
      }
      case 'run-finished':
        this.record.status = e.status;
        this.record.finishedAt = iso(e.at);
        this.record.durationMs = e.at - Date.parse(this.record.startedAt);
        if (e.error) this.record.error = e.error;
        return;
      case 'run-started':
        return;
    }
  };
}

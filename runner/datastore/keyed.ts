import { randomBytes } from 'node:crypto';
import { AttemptRef, TaskRef } from '../contract/names';
import { isCommittedOutput, isRunId, layout, runIdOfIndexKey, TASK_HELPER_FILE } from './layout';
import { inFinishOrder, isStepFunctionsRun, taskStatusKeys, withDuration } from './step-functions-runs';
import { CorruptRunRecordError, Datastore, LogSink, RunPage, RunRecord, RunSummary, TASK_CHUNK_SIZE, TaskFile, TaskRecord, TaskStaging } from './types';

/**
 * What every datastore shares: the run record (summary + task chunks), the run index, task status
 * and outputs, all as whole-key puts and gets over the one layout (./layout.ts). A store supplies
 * its puts, gets, one listing of the index, its commit, its logs and its task staging; the local
 * directory and the S3 prefix differ only there.
 */
/** How many status.json files of a Step Functions run are read at once. */
const STATUS_READS_AT_ONCE = 32;

export abstract class KeyedDatastore implements Datastore {
  abstract readonly root: string;
  abstract put(key: string, body: string): Promise<void>;
  abstract get(key: string): Promise<string | undefined>;
  abstract localPath(key: string): string | undefined;
  abstract commitOutputs(attempt: AttemptRef): Promise<void>;
  abstract openLog(attempt: AttemptRef): LogSink;
  abstract openStaging(): TaskStaging;
  abstract copyToFile(key: string, file: string): Promise<boolean>;
  /** Every key under `prefix` with its size in bytes. */
  protected abstract listSizedKeys(prefix: string): Promise<{ key: string; bytes: number }[]>;
  /** Up to `limit` keys of the run index in key order (newest run first), after `after`. */
  protected abstract indexKeys(limit: number, after?: string): Promise<string[]>;
  /** Every key under `prefix` (a Step Functions run's tasks: its status.json files). */
  protected abstract listKeys(prefix: string): Promise<string[]>;

  newRunId(): string {
    // `<UTC second>-<3 hex: 999 - millisecond><3 hex: random>`: the index lists runs newest first
    // by key order (layout.runSortKey inverts the second's digits), and the inverted millisecond
    // keeps runs started within the same second newest first too; the random part keeps ids
    // unique across processes and machines.
    const now = new Date();
    const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const ms = (999 - now.getUTCMilliseconds()).toString(16).padStart(3, '0');
    return `${stamp}-${ms}${randomBytes(2).toString('hex').slice(0, 3)}`;
  }

  attemptOutputs(attempt: AttemptRef): string {
    return layout.attemptOutputs(attempt);
  }

  async readOutputs(taskPathKey: string): Promise<Record<string, unknown> | undefined> {
    const key = layout.outputsFile(taskPathKey);
    const text = await this.get(key);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${key} is not valid JSON: ${(err as Error).message}`);
    }
  }

  async listTaskFiles(taskPathKey: string): Promise<TaskFile[]> {
    const prefix = `${taskPathKey}/`;
    const outputs = layout.outputsFile(taskPathKey);
    return (await this.listSizedKeys(prefix))
      .filter(({ key }) => key !== outputs && key.slice(prefix.length) !== TASK_HELPER_FILE && isCommittedOutput(key.slice(prefix.length)))
      .map(({ key, bytes }) => ({ name: key.slice(prefix.length), bytes }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async writeTaskStatus(task: TaskRef, record: TaskRecord): Promise<void> {
    await this.put(layout.taskStatus(layout.task(task)), JSON.stringify(record));
  }

  async readTaskStatus(taskPathKey: string): Promise<TaskRecord | undefined> {
    const text = await this.get(layout.taskStatus(taskPathKey));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as TaskRecord;
    } catch {
      return undefined;
    }
  }

  readLog(attempt: AttemptRef): Promise<string | undefined> {
    return this.get(layout.attemptLog(attempt));
  }

  async writeRunSummary(summary: RunSummary, first = false): Promise<void> {
    // Summary first, then the index entry: an indexed run always has a summary.
    await this.put(layout.runSummary(summary.flow, summary.runId), JSON.stringify(summary, null, 2));
    if (first) await this.put(layout.runIndex(summary.runId), JSON.stringify({ flow: summary.flow, runId: summary.runId, startedAt: summary.startedAt }));
  }

  async writeTaskChunk(flow: string, runId: string, chunk: number, tasks: readonly TaskRecord[]): Promise<void> {
    await this.put(layout.taskChunk(flow, runId, chunk), JSON.stringify(tasks));
  }

  private async readJson<T>(runId: string, key: string, known?: string): Promise<T> {
    let text: string | undefined = known;
    try {
      text ??= await this.get(key);
    } catch (err) {
      // A store that cannot be reached or read (access denied) says so itself, with its exit code.
      if (typeof (err as { exitCode?: unknown }).exitCode === 'number') throw err;
      throw new CorruptRunRecordError(runId, key, (err as Error).message);
    }
    if (text === undefined) throw new CorruptRunRecordError(runId, key, 'missing');
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new CorruptRunRecordError(runId, key, (err as Error).message);
    }
  }

  private async readSummary(runId: string): Promise<RunSummary | undefined> {
    if (!isRunId(runId)) return undefined;
    // A runner's run is filed under its id; a Step Functions run under its start time, found through its lookup copy.
    let indexKey = layout.runIndex(runId);
    let indexed = await this.get(indexKey);
    if (indexed === undefined) indexed = await this.get((indexKey = layout.runLookup(runId)));
    if (indexed === undefined) return undefined;
    const entry = await this.readJson<{ flow?: unknown }>(runId, indexKey, indexed);
    if (typeof entry?.flow !== 'string') throw new CorruptRunRecordError(runId, indexKey, 'no flow name');
    const key = layout.runSummary(entry.flow, runId);
    const summary = await this.readJson<RunSummary>(runId, key);
    if (typeof summary !== 'object' || summary === null || summary.runId !== runId || typeof summary.status !== 'string') {
      throw new CorruptRunRecordError(runId, key, 'not a run summary');
    }
    return isStepFunctionsRun(summary) ? withDuration(summary) : summary;
  }

  /** The status.json keys of a Step Functions run's tasks (one listing of the run's prefix). */
  private async stepFunctionsTaskKeys(summary: RunSummary): Promise<string[]> {
    return taskStatusKeys(await this.listKeys(`${summary.flow}/${summary.runId}/`), summary.flow, summary.runId);
  }

  /** A Step Functions run's tasks: every status.json its tasks' upload helpers committed. */
  private async stepFunctionsTasks(summary: RunSummary): Promise<TaskRecord[]> {
    const keys = await this.stepFunctionsTaskKeys(summary);
    const tasks: TaskRecord[] = [];
    for (let i = 0; i < keys.length; i += STATUS_READS_AT_ONCE) {
      const read = await Promise.all(
        keys.slice(i, i + STATUS_READS_AT_ONCE).map(async (key) => {
          const task = await this.readJson<TaskRecord>(summary.runId, key);
          if (typeof task?.step !== 'string' || !Array.isArray(task.attempts)) throw new CorruptRunRecordError(summary.runId, key, 'not a task status');
          return task;
        }),
      );
      tasks.push(...read);
    }
    return inFinishOrder(tasks);
  }

  async readRun(runId: string): Promise<RunRecord | undefined> {
    const summary = await this.readSummary(runId);
    if (!summary) return undefined;
    if (isStepFunctionsRun(summary)) {
      const tasks = await this.stepFunctionsTasks(summary);
      return { ...summary, taskCount: tasks.length, tasks };
    }
    const chunks = Math.ceil((summary.taskCount ?? 0) / TASK_CHUNK_SIZE);
    const parts = await Promise.all(
      Array.from({ length: chunks }, async (_, c) => {
        const key = layout.taskChunk(summary.flow, runId, c);
        const part = await this.readJson<TaskRecord[]>(runId, key);
        if (!Array.isArray(part)) throw new CorruptRunRecordError(runId, key, 'not a list of tasks');
        return part;
      }),
    );
    const tasks: TaskRecord[] = [];
    for (const part of parts) for (const t of part) tasks.push(t);
    return { ...summary, tasks: tasks.slice(0, summary.taskCount) };
  }

  async listRuns(options: { limit?: number; after?: string } = {}): Promise<RunPage> {
    const limit = options.limit ?? 20;
    // One more than the page: whether there is a next page, without a second listing.
    const keys = await this.indexKeys(limit + 1, options.after);
    const page = keys.slice(0, limit);
    const read = await Promise.all(
      page.map(async (key) => {
        try {
          const summary = await this.readSummary(runIdOfIndexKey(key));
          // A Step Functions run's task count: its tasks' status.json files (no runner counts them).
          if (summary && isStepFunctionsRun(summary)) return { summary: { ...summary, taskCount: (await this.stepFunctionsTaskKeys(summary)).length } };
          return { summary };
        } catch (err) {
          if (!(err instanceof CorruptRunRecordError)) throw err;
          return { corrupt: err };
        }
      }),
    );
    const runs: RunSummary[] = [];
    const corrupt: CorruptRunRecordError[] = [];
    for (const r of read) {
      if (r.summary) runs.push(r.summary);
      if (r.corrupt) corrupt.push(r.corrupt);
    }
    return { runs, corrupt, next: keys.length > limit ? page[page.length - 1] : undefined };
  }
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AttemptRef, TaskRef } from '../contract/names';
import { isRunId, layout, runIdOfIndexKey } from './layout';
import { CorruptRunRecordError, Datastore, LogSink, RunPage, RunRecord, RunSummary, TASK_CHUNK_SIZE, TaskRecord } from './types';

export const DEFAULT_DATASTORE_DIR = '.metaflow-cdk';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** The local datastore: a directory, `.metaflow-cdk/` in the working directory by default. */
export class LocalDatastore implements Datastore {
  /** The datastore directory, made absolute. */
  readonly root: string;

  constructor(root: string = DEFAULT_DATASTORE_DIR) {
    this.root = path.resolve(root);
  }

  /** `<yyyymmdd>-<hhmmss>-<6 hex>` (UTC): sortable by start time, random past the second. */
  newRunId(): string {
    // Sortable by time, unique within this process, and random across processes.
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    return `${stamp}-${randomBytes(3).toString('hex')}`;
  }

  /** The file or directory under `root` that holds `key`. */
  localPath(key: string): string {
    return path.join(this.root, key);
  }

  /** Writes a temporary file, then renames it over `key`'s, making directories as needed. */
  async put(key: string, body: string): Promise<void> {
    const file = this.localPath(key);
    // Write then rename, so a reader never sees half a file (a local detail: S3 puts are atomic).
    // The directory usually exists: make it only when the write says it is missing.
    const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
    try {
      await fs.promises.writeFile(tmp, body);
    } catch (err) {
      if (!isMissing(err)) throw err;
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      await fs.promises.writeFile(tmp, body);
    }
    await fs.promises.rename(tmp, file);
  }

  /** The file's text, or undefined when it does not exist. */
  async get(key: string): Promise<string | undefined> {
    try {
      return await fs.promises.readFile(this.localPath(key), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** The attempt's own outputs directory key (the local layer's MF_OUTPUT_DIR). */
  attemptOutputs(attempt: AttemptRef): string {
    return layout.attemptOutputs(attempt);
  }

  /**
   * Moves each entry of the attempt's outputs directory (which sits inside the task's) up to the
   * task path, or just removes it when empty: only then do `readOutputs` and successors see them.
   */
  async commitOutputs(attempt: AttemptRef): Promise<void> {
    const from = this.localPath(layout.attemptOutputs(attempt));
    const to = this.localPath(layout.task(attempt));
    // Most tasks write nothing: removing the empty directory is the whole commit (one call).
    const empty = await new Promise<boolean>((resolve, reject) =>
      fs.rmdir(from, (err) => (!err || err.code === 'ENOENT' ? resolve(true) : err.code === 'ENOTEMPTY' || err.code === 'EEXIST' ? resolve(false) : reject(err))),
    );
    if (empty) return;
    const names = await fs.promises.readdir(from);
    // Locally the attempt's directory is inside the task's: moving each entry is the commit.
    await Promise.all(names.map((n) => fs.promises.rename(path.join(from, n), path.join(to, n))));
  }

  /** The outputs.json at a task path, or undefined when it wrote none; throws on malformed JSON. */
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

  /** Writes the task's record at `<task path>/status.json`. */
  async writeTaskStatus(task: TaskRef, record: TaskRecord): Promise<void> {
    // The task's directory exists once an attempt ran; a task that never started has one made.
    const file = this.localPath(layout.taskStatus(layout.task(task)));
    try {
      await fs.promises.writeFile(file, JSON.stringify(record));
    } catch (err) {
      if (!isMissing(err)) throw err;
      await this.put(layout.taskStatus(layout.task(task)), JSON.stringify(record));
    }
  }

  /** The status.json at a task path, or undefined when there is none or it is not JSON. */
  async readTaskStatus(taskPathKey: string): Promise<TaskRecord | undefined> {
    const text = await this.get(layout.taskStatus(taskPathKey));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as TaskRecord;
    } catch {
      return undefined;
    }
  }

  /** A sink appending the attempt's lines to its log file, created on the first line; reopening appends. */
  openLog(attempt: AttemptRef): LogSink {
    const file = this.localPath(layout.attemptLog(attempt));
    let stream: fs.WriteStream | undefined;
    return {
      write(_s, line) {
        if (!stream) {
          // The task's directory exists when the local layer ran it; another layer may not make it.
          try {
            fs.mkdirSync(path.dirname(file), { recursive: true });
          } catch {
            // Reported by the stream's error handler: the log is lost, the run goes on.
          }
          stream = fs.createWriteStream(file, { flags: 'a' });
          stream.on('error', () => undefined); // a log that cannot be written must not end the run
        }
        stream.write(line + '\n');
      },
      close() {
        if (!stream) return Promise.resolve();
        const s = stream;
        stream = undefined;
        return new Promise<void>((resolve) => s.end(resolve));
      },
    };
  }

  /** The attempt's log file, or undefined when it wrote none. */
  readLog(attempt: AttemptRef): Promise<string | undefined> {
    return this.get(layout.attemptLog(attempt));
  }

  /** Writes `<flow>/<run>/run.json`; `first` also writes the run's index entry, after the summary. */
  async writeRunSummary(summary: RunSummary, first = false): Promise<void> {
    // Summary first, then the index entry: an indexed run always has a summary.
    await this.put(layout.runSummary(summary.flow, summary.runId), JSON.stringify(summary, null, 2));
    if (first) await this.put(layout.runIndex(summary.runId), JSON.stringify({ flow: summary.flow, runId: summary.runId, startedAt: summary.startedAt }));
  }

  /** Writes chunk `chunk` of the run's task records (TASK_CHUNK_SIZE per chunk). */
  async writeTaskChunk(flow: string, runId: string, chunk: number, tasks: readonly TaskRecord[]): Promise<void> {
    await this.put(layout.taskChunk(flow, runId, chunk), JSON.stringify(tasks));
  }

  /**
   * Mark a run interrupted synchronously: for a forced quit (second Ctrl-C), when there is no time
   * left for the orchestrator's own final write.
   */
  markInterruptedSync(flow: string, runId: string): void {
    const file = this.localPath(layout.runSummary(flow, runId));
    try {
      const summary = JSON.parse(fs.readFileSync(file, 'utf8')) as RunSummary;
      if (summary.status !== 'running') return;
      summary.status = 'interrupted';
      summary.error = 'interrupted (forced quit)';
      summary.finishedAt = new Date().toISOString();
      fs.writeFileSync(file, JSON.stringify(summary, null, 2));
    } catch {
      // Nothing recorded yet, or unreadable: nothing to mark.
    }
  }

  private async readJson<T>(runId: string, key: string, known?: string): Promise<T> {
    let text: string | undefined = known;
    try {
      text ??= await this.get(key);
    } catch (err) {
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
    const indexKey = layout.runIndex(runId);
    const indexed = await this.get(indexKey);
    if (indexed === undefined) return undefined;
    const entry = await this.readJson<{ flow?: unknown }>(runId, indexKey, indexed);
    if (typeof entry?.flow !== 'string') throw new CorruptRunRecordError(runId, indexKey, 'no flow name');
    const key = layout.runSummary(entry.flow, runId);
    const summary = await this.readJson<RunSummary>(runId, key);
    if (typeof summary !== 'object' || summary === null || summary.runId !== runId || typeof summary.status !== 'string') {
      throw new CorruptRunRecordError(runId, key, 'not a run summary');
    }
    return summary;
  }

  /** The run's summary (found through its index entry) and every task chunk; undefined when the run is unknown, CorruptRunRecordError when a part is missing or unreadable. */
  async readRun(runId: string): Promise<RunRecord | undefined> {
    const summary = await this.readSummary(runId);
    if (!summary) return undefined;
    const chunks = Math.ceil((summary.taskCount ?? 0) / TASK_CHUNK_SIZE);
    const tasks: TaskRecord[] = [];
    for (let c = 0; c < chunks; c++) {
      const key = layout.taskChunk(summary.flow, runId, c);
      const part = await this.readJson<TaskRecord[]>(runId, key);
      if (!Array.isArray(part)) throw new CorruptRunRecordError(runId, key, 'not a list of tasks');
      for (const t of part) tasks.push(t);
    }
    return { ...summary, tasks: tasks.slice(0, summary.taskCount) };
  }

  /** Runs newest first, 20 at a time unless `limit` says otherwise; `after` is the previous page's `next`. */
  async listRuns(options: { limit?: number; after?: string } = {}): Promise<RunPage> {
    const limit = options.limit ?? 20;
    let names: string[];
    try {
      names = await fs.promises.readdir(this.localPath(layout.runIndexPrefix));
    } catch (err) {
      if (isMissing(err)) return { runs: [], corrupt: [] };
      throw err;
    }
    const keys = names
      .filter((n) => n.endsWith('.json'))
      .map((n) => layout.runIndexPrefix + n)
      .sort()
      .filter((k) => options.after === undefined || k > options.after);
    const page = keys.slice(0, limit);
    const runs: RunSummary[] = [];
    const corrupt: CorruptRunRecordError[] = [];
    for (const key of page) {
      const runId = runIdOfIndexKey(key);
      try {
        const summary = await this.readSummary(runId);
        if (summary) runs.push(summary);
      } catch (err) {
        if (!(err instanceof CorruptRunRecordError)) throw err;
        corrupt.push(err);
      }
    }
    return { runs, corrupt, next: keys.length > limit ? page[page.length - 1] : undefined };
  }
}

import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Datastore, LogSink, RunRecord, TaskRecord, TaskRef } from './types';

export const DEFAULT_DATASTORE_DIR = '.metaflow-cdk';

const INPUT_PATHS_FILE = 'input-paths.txt';
const logName = (attempt: number) => `attempt-${attempt}.log`;

/** The local datastore: a directory, `.metaflow-cdk/` in the working directory by default. */
export class LocalDatastore implements Datastore {
  readonly root: string;

  constructor(root: string = DEFAULT_DATASTORE_DIR) {
    this.root = path.resolve(root);
  }

  taskPath(ref: TaskRef): string {
    return `${ref.flow}/${ref.runId}/${ref.step}/${ref.taskId}`;
  }

  private dir(ref: TaskRef): string {
    return path.join(this.root, ref.flow, ref.runId, ref.step, ref.taskId);
  }

  async prepareTask(ref: TaskRef): Promise<string> {
    const dir = this.dir(ref);
    await fs.promises.mkdir(dir, { recursive: true });
    return dir;
  }

  async readOutputs(ref: TaskRef): Promise<Record<string, unknown> | undefined> {
    const file = path.join(this.dir(ref), 'outputs.json');
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${this.taskPath(ref)}/outputs.json is not valid JSON: ${(err as Error).message}`);
    }
  }

  async writeTaskStatus(ref: TaskRef, record: TaskRecord): Promise<void> {
    await fs.promises.writeFile(path.join(this.dir(ref), 'status.json'), JSON.stringify(record, null, 2));
  }

  async writeInputPaths(ref: TaskRef, paths: readonly string[]): Promise<string> {
    await fs.promises.writeFile(path.join(this.dir(ref), INPUT_PATHS_FILE), paths.join('\n') + '\n');
    return `${this.taskPath(ref)}/${INPUT_PATHS_FILE}`;
  }

  async copyTask(from: TaskRef, to: TaskRef): Promise<void> {
    await fs.promises.cp(this.dir(from), this.dir(to), { recursive: true });
  }

  openLog(ref: TaskRef, attempt: number): LogSink {
    const file = path.join(this.dir(ref), logName(attempt));
    let stream: fs.WriteStream | undefined;
    return {
      write(_s, line) {
        stream ??= fs.createWriteStream(file, { flags: 'a' });
        stream.write(line + '\n');
      },
      close() {
        if (!stream) return Promise.resolve();
        const s = stream;
        return new Promise<void>((resolve) => s.end(resolve));
      },
    };
  }

  async readLog(ref: TaskRef, attempt: number): Promise<string | undefined> {
    try {
      return await fs.promises.readFile(path.join(this.dir(ref), logName(attempt)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writeRun(record: RunRecord): Promise<void> {
    const dir = path.join(this.root, record.flow, record.runId);
    await fs.promises.mkdir(dir, { recursive: true });
    // Write then rename, so a reader never sees half a record.
    const tmp = path.join(dir, `.run.json.${process.pid}.${randomBytes(3).toString('hex')}`);
    await fs.promises.writeFile(tmp, JSON.stringify(record, null, 2));
    await fs.promises.rename(tmp, path.join(dir, 'run.json'));
  }

  /**
   * Mark a run interrupted synchronously: for a forced quit (second Ctrl-C), when there is no time
   * left for the orchestrator's own final write.
   */
  markInterruptedSync(flow: string, runId: string): void {
    const file = path.join(this.root, flow, runId, 'run.json');
    try {
      const record = JSON.parse(fs.readFileSync(file, 'utf8')) as RunRecord;
      if (record.status !== 'running') return;
      record.status = 'interrupted';
      record.error = 'interrupted (forced quit)';
      record.finishedAt = new Date().toISOString();
      fs.writeFileSync(file, JSON.stringify(record, null, 2));
    } catch {
      // Nothing recorded yet, or unreadable: nothing to mark.
    }
  }

  private async flows(): Promise<string[]> {
    try {
      return (await fs.promises.readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  private async readRecord(file: string): Promise<RunRecord | undefined> {
    try {
      return JSON.parse(await fs.promises.readFile(file, 'utf8')) as RunRecord;
    } catch {
      return undefined;
    }
  }

  async readRun(runId: string): Promise<RunRecord | undefined> {
    if (!/^[A-Za-z0-9_-]+$/.test(runId)) return undefined;
    for (const flow of await this.flows()) {
      const rec = await this.readRecord(path.join(this.root, flow, runId, 'run.json'));
      if (rec) return rec;
    }
    return undefined;
  }

  async listRuns(limit = 20): Promise<RunRecord[]> {
    const records: RunRecord[] = [];
    for (const flow of await this.flows()) {
      const runs = await fs.promises.readdir(path.join(this.root, flow));
      for (const run of runs) {
        const rec = await this.readRecord(path.join(this.root, flow, run, 'run.json'));
        if (rec) records.push(rec);
      }
    }
    records.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : a.runId < b.runId ? 1 : -1));
    return records.slice(0, limit);
  }

  newRunId(): string {
    // Sortable by time, unique within this process, and random across processes.
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    return `${stamp}-${randomBytes(3).toString('hex')}`;
  }
}

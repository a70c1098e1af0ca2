import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AttemptRef, TaskRef } from '../contract/names';
import { KeyedDatastore } from './keyed';
import { layout } from './layout';
import { LogSink, RunSummary, TaskRecord, TaskStaging } from './types';

export const DEFAULT_DATASTORE_DIR = '.metaflow-cdk';

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** The local datastore: a directory, `.metaflow-cdk/` in the working directory by default. */
export class LocalDatastore extends KeyedDatastore {
  /** The datastore directory, made absolute. */
  readonly root: string;

  constructor(root: string = DEFAULT_DATASTORE_DIR) {
    super();
    this.root = path.resolve(root);
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

  /** Tasks on this machine use the store's own directories: nothing to fetch or upload. */
  openStaging(): TaskStaging {
    return {
      prepare: async (attempt) => {
        const outputDir = this.localPath(this.attemptOutputs(attempt));
        await fs.promises.mkdir(outputDir, { recursive: true });
        return { root: this.root, outputDir };
      },
      collect: () => Promise.resolve(),
      release: () => Promise.resolve(),
    };
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

  protected async indexKeys(limit: number, after?: string): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.localPath(layout.runIndexPrefix));
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => layout.runIndexPrefix + n)
      .sort()
      .filter((k) => after === undefined || k > after)
      .slice(0, limit);
  }

  protected async listSizedKeys(prefix: string): Promise<{ key: string; bytes: number }[]> {
    const keys = await this.listKeys(prefix);
    return Promise.all(keys.map(async (key) => ({ key, bytes: (await fs.promises.stat(this.localPath(key))).size })));
  }

  /** Copies the file that holds `key`; false when there is none. */
  async copyToFile(key: string, file: string): Promise<boolean> {
    const from = this.localPath(key);
    try {
      if (!(await fs.promises.stat(from)).isFile()) return false;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await fs.promises.copyFile(from, file);
    return true;
  }

  protected async listKeys(prefix: string): Promise<string[]> {
    const dir = this.localPath(prefix);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(dir, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
    return entries.filter((d) => d.isFile()).map((d) => prefix + path.relative(dir, path.join(d.parentPath, d.name)).split(path.sep).join('/'));
  }
}

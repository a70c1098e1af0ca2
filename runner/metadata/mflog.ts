/**
 * Metaflow's structured log line (MFLOG, metaflow/mflog/mflog.py `decorate`):
 * `[MFLOG|0|<UTC time, %Y-%m-%dT%H:%M:%S.%f>Z|<source>|<line id>]<text>`. The client merges the
 * `runtime` and `task` sources by time; `task.stdout` shows the text.
 */
import { randomUUID } from 'node:crypto';

/** Where a line came from: the task's own output (`task`) or the runner's (`runtime`). */
export type MflogSource = 'task' | 'runtime';

/** One MFLOG line (no newline) for `text` written at `at` (ms since the epoch). */
export function mflogLine(source: MflogSource, text: string, at: number): string {
  // JavaScript has milliseconds; Python's %f wants six digits.
  const stamp = new Date(at).toISOString().replace(/Z$/, '000');
  return `[MFLOG|0|${stamp}Z|${source}|${randomUUID()}]${text.replace(/\n/g, ' ')}`;
}

/** The file name Metaflow reads an attempt's log from, relative to the task's folder in the datastore. */
export const mflogFileName = (attempt: number, source: MflogSource, stream: 'stdout' | 'stderr'): string => `${attempt}.${source}_${stream}.log`;

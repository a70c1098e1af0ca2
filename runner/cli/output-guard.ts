/**
 * Keeps a write error on our own stdout or stderr from crashing the command: when the reader of a
 * pipe goes away (`metaflow-cdk run … | head -1`: EPIPE) or the terminal is closed (EIO), Node
 * reports it as an 'error' event on the stream, and without a listener the process dies with a
 * stack trace, leaving tasks running and the run record `running`. With the guard, output to that
 * stream is dropped from then on and the command goes on to its normal end (the run finishes and
 * is recorded; see docs/runner.md, "Signals and closed output").
 */
const guarded = new WeakSet<NodeJS.WritableStream>();
const lost = new WeakSet<NodeJS.WritableStream>();

/** Whether a write to `stream` has failed (its output is being dropped). */
export function outputLost(stream: NodeJS.WritableStream): boolean {
  return lost.has(stream);
}

/**
 * Install the guard on `stream` once. `onFirstError` runs on its first write error (e.g. to say on
 * stderr, once, that stdout is gone).
 */
export function guardOutput(stream: NodeJS.WritableStream, onFirstError: (err: NodeJS.ErrnoException) => void = () => {}): void {
  // A caller-supplied writer (a library user's, or a test's `{ write }`) may not be an emitter.
  if (guarded.has(stream) || typeof (stream as Partial<NodeJS.WritableStream>).on !== 'function') return;
  guarded.add(stream);
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (lost.has(stream)) return;
    lost.add(stream);
    onFirstError(err);
  });
}

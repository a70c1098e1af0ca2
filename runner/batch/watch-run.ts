/**
 * Watching a run again after its runner died (`metaflow-cdk watch <run-id>`): the run's Batch
 * jobs (findRunJobs) are re-attached (reattachJobs) to one watcher loop and followed to the end;
 * every attempt the dead runner had not recorded as finished is recorded — its start, its result
 * (the same AttemptResult the layer makes), its committed outputs and its `status.json` when it
 * succeeded — so `show` tells what happened and `resume` reuses what succeeded. While it watches,
 * the run names this process as its owner (with a heartbeat), so a second `watch` is refused.
 *
 * Nothing new is submitted: the steps after the watched jobs need a runner (`resume`). The run
 * ends `succeeded` when its `end` task succeeded, `failed` when a watched task failed, else
 * `interrupted`; its error says that the runner died and what `resume` does next.
 */
import * as os from 'node:os';
import type { BatchClient, JobDetail } from '@aws-sdk/client-batch';
import type { AttemptResult } from '../compute/types';
import { failedMessage } from '../contract/caught';
import { AttemptRef, pathspec, TaskRef } from '../contract/names';
import { Datastore, RunRecord, RunStatus } from '../datastore/types';
import { HEARTBEAT_MS } from '../orchestrator/liveness';
import { RunRecorder } from '../orchestrator/recorder';
import { ApiCallCounter } from './api-calls';
import { attemptResultOf } from './attempt-result';
import { QueueInspector } from './queues';
import { ReattachedRef, reattachJobs } from './reattach';
import { BatchWatcher, WatchedJob, WatchEvent, WatcherOptions } from './watcher';

export interface WatchRunOptions {
  readonly batch: BatchClient;
  readonly datastore: Datastore;
  /** The run's record as read from the datastore; its runner is dead (checkRunner). It is updated in place. */
  readonly run: RunRecord;
  /** The run's top-level jobs (findRunJobs), finished ones included. */
  readonly jobs: readonly JobDetail[];
  /** Why the runner is taken for dead (checkRunner's reason), for the run's error. */
  readonly deadBecause: string;
  /** @default a new counter */
  readonly calls?: ApiCallCounter;
  /** Watcher settings (intervals, clock). @default the watcher's */
  readonly watcher?: Omit<WatcherOptions, 'calls'>;
  /** One line per attempt recorded. @default dropped */
  readonly onLine?: (line: string) => void;
  /** How often the heartbeat is renewed while watching. @default HEARTBEAT_MS */
  readonly heartbeatMs?: number;
}

export interface WatchRunResult {
  /** The final run record (also written to the datastore). */
  readonly record: RunRecord;
  /** Attempts recorded by the watch (those the dead runner had not recorded as finished). */
  readonly recorded: { readonly succeeded: number; readonly failed: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Which attempt a watch event is about, from the job's tags (undefined for a job without them). */
function attemptOf(run: RunRecord, job: WatchedJob, childIndex: number | undefined): { ref: AttemptRef; externalId: string; foreachIndex?: number } | undefined {
  const tags = job.ref as ReattachedRef;
  if (tags.step === undefined || tags.attempt === undefined || Number.isNaN(tags.attempt)) return undefined;
  const array = job.size > 1;
  const index = childIndex ?? job.firstIndex ?? 0;
  const taskId = array ? `${tags.taskIdPrefix ?? ''}${index}` : tags.taskId;
  if (taskId === undefined) return undefined;
  const externalId = array ? `${job.jobId}:${index - (job.firstIndex ?? 0)}` : job.jobId;
  return { ref: { flow: run.flow, runId: run.runId, step: tags.step, taskId, attempt: tags.attempt }, externalId, foreachIndex: job.firstIndex !== undefined ? index : undefined };
}

/** Follow a dead run's Batch jobs to the end and record their outcomes in the run record. */
export async function watchRunToEnd(o: WatchRunOptions): Promise<WatchRunResult> {
  const run = o.run;
  const store = o.datastore;
  const calls = o.calls ?? new ApiCallCounter();
  run.owner = { pid: process.pid, host: os.hostname(), heartbeatAt: iso(Date.now()) };
  const recorder = new RunRecorder(run, store, { existing: true });
  await recorder.flush(); // this process owns the run now: a second `watch` sees a live runner
  const recorded = { succeeded: 0, failed: 0 };
  const work: Promise<unknown>[] = [];
  const queues = new QueueInspector(o.batch, calls);
  const queueOf = (queue: string | undefined) => (queue ? queues.inspect(queue).catch(() => undefined) : Promise.resolve(undefined));
  const say = o.onLine ?? (() => undefined);

  const ensureTask = (ref: TaskRef, attempt: number, foreachIndex?: number) => {
    if (recorder.task(pathspec(ref))) return;
    // A task the runner had not queued yet (a later step of a foreach body Batch started N_TO_N).
    recorder.onEvent({ type: 'task-queued', task: { ...ref, inputs: [], foreachIndex }, attempt });
  };
  const openAttempt = (ref: AttemptRef) => recorder.task(pathspec(ref))?.attempts.find((a) => a.attempt === ref.attempt);

  const finish = async (ref: AttemptRef, result: AttemptResult): Promise<void> => {
    const task: TaskRef = { flow: ref.flow, runId: ref.runId, step: ref.step, taskId: ref.taskId };
    let final = result;
    if (result.outcome === 'succeeded') {
      try {
        await store.commitOutputs(ref);
      } catch (err) {
        final = { ...result, outcome: 'failed', reason: `could not save its outputs: ${(err as Error).message}` };
      }
    }
    if (final.outcome === 'succeeded') {
      recorder.onEvent({ type: 'task-succeeded', task, attempt: ref.attempt, result: final });
      recorded.succeeded += 1;
    } else {
      const failure = { step: ref.step, taskId: ref.taskId, message: failedMessage(ref, final.reason, 1), exitCode: final.exitCode, statusReason: final.outcome, attempts: ref.attempt + 1 };
      recorder.onEvent({ type: 'task-failed', task, attempt: ref.attempt, result: final, failure });
      recorded.failed += 1;
    }
    say(`[${pathspec(ref)}#${ref.attempt}] ${final.outcome}: ${final.reason}`);
    await store.writeTaskStatus(task, recorder.task(pathspec(ref))!);
  };

  const onWatch = (e: WatchEvent) => {
    if (e.type !== 'started' && e.type !== 'finished') return;
    const which = attemptOf(run, e.job, e.childIndex);
    if (!which) return;
    const { ref, externalId, foreachIndex } = which;
    const known = openAttempt(ref);
    if (known && known.status !== 'running') return; // the runner recorded its end before it died
    ensureTask(ref, ref.attempt, foreachIndex);
    const startedAt = e.type === 'started' ? e.at : e.outcome.startedAt;
    if (!known && startedAt !== undefined) {
      recorder.onEvent({ type: 'task-started', task: ref, attempt: ref.attempt, at: startedAt, start: { at: startedAt, externalId, logRef: e.type === 'started' ? e.logStreamName : e.outcome.logStreamName } });
    }
    if (e.type === 'finished') {
      const outcome = e.outcome;
      // The job's queue (looked up once each) names the compute environment of its usage.
      work.push(queueOf(e.job.queue).then((queue) => finish(ref, attemptResultOf(outcome, externalId, false, { queue }))));
    }
  };

  const watcher = new BatchWatcher(o.batch, onWatch, { ...o.watcher, calls });
  for (const job of reattachJobs(o.jobs)) watcher.add(job);
  const flushing = setInterval(() => {
    if (recorder.dirty) work.push(recorder.flush());
  }, 1000);
  const heartbeat = setInterval(() => {
    recorder.onEvent({ type: 'run-heartbeat', at: Date.now() });
  }, o.heartbeatMs ?? HEARTBEAT_MS);
  flushing.unref();
  heartbeat.unref();
  try {
    await watcher.run();
    while (work.length) await Promise.all(work.splice(0));
  } finally {
    clearInterval(flushing);
    clearInterval(heartbeat);
  }

  const end = recorder.task('end/0');
  const status: RunStatus = end?.status === 'succeeded' ? 'succeeded' : recorded.failed > 0 ? 'failed' : 'interrupted';
  const n = o.jobs.length;
  const error =
    status === 'succeeded'
      ? undefined
      : `its runner died (${o.deadBecause}); \`metaflow-cdk watch\` followed its ${n} AWS Batch job${n === 1 ? '' : 's'} to the end ` +
        `(${recorded.succeeded} attempt${recorded.succeeded === 1 ? '' : 's'} succeeded, ${recorded.failed} failed); \`metaflow-cdk resume ${run.runId}\` runs what did not succeed`;
  recorder.onEvent({ type: 'run-finished', status, at: Date.now(), error, apiCalls: calls.snapshot() });
  await recorder.flush();
  return { record: run, recorded };
}

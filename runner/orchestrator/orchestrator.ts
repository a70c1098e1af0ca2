import * as os from 'node:os';
import { AttemptListener, AttemptResult, AttemptStart, ChildAttempt, ComputeLayer } from '../compute/types';
import {
  AttemptRef,
  CaughtState,
  caughtText,
  contractKeys,
  failedMessage,
  foreachItemFiles,
  mergeCaught,
  pathspec,
  setCaught,
  TASK_ID_PLACEHOLDER,
  TaskRef,
  taskPath,
  TaskTemplate,
  templateEnvironment,
  MAX_INLINE_CHARS,
} from '../contract';
import { CodePackageRef, Datastore, Failure, LogSink, RunRecord, RunStatus } from '../datastore/types';
import { nextOf, StepSpec } from '../flow/model';
import { envValue, parameterEnvName, textParametersEnv } from '../flow/parameters';
import { FlowGraph } from '../flow/validate';
import { EffectivePolicies, effectivePolicies } from '../policy';
import { Clock, systemClock } from './clock';
import { QueuedTask, RunEvent, RunEventListener } from './events';
import { HEARTBEAT_MS } from './liveness';
import { isRunId } from '../datastore/layout';
import { RESERVED_RUN_IDS } from '../limits';
import { RunRecorder } from './recorder';

/** What `runFlow` runs, where, and how. */
export interface RunOptions {
  /** The validated flow (validateFlow's graph). */
  readonly graph: FlowGraph;
  /** Where the tasks run. */
  readonly layer: ComputeLayer;
  /** Where the run record, task outputs and logs go. */
  readonly datastore: Datastore;
  /** Resolved parameter values (see resolveParameters). */
  readonly parameters: Record<string, unknown>;
  /**
   * `--with retry`: the default retry policy for steps that have none.
   *
   * @default false
   */
  readonly withRetry?: boolean;
  /**
   * The orchestrator's time source (tests inject one).
   *
   * @default - the system clock
   */
  readonly clock?: Clock;
  /**
   * The run's id.
   *
   * @default - a new one from the datastore's `newRunId`
   */
  readonly runId?: string;
  /**
   * The flow file the flow came from, recorded in the run summary.
   *
   * @default - none recorded
   */
  readonly flowFile?: string;
  /**
   * The code package the tasks get, recorded in the run summary (the compute layer is told where it is).
   *
   * @default - none recorded
   */
  readonly codePackage?: CodePackageRef;
  /**
   * Resume: reuse every task that succeeded in this run (and whose inputs were reused too).
   *
   * @default - none: every task runs
   */
  readonly origin?: RunRecord;
  /**
   * Resume from this step: its tasks run again even where they succeeded in `origin`, and so does
   * every step after it (a task is reused only when its inputs were); the steps before it are
   * reused (`resume --from`).
   *
   * @default - none: every task that succeeded in `origin` is reused
   */
  readonly resumeFrom?: string;
  /**
   * The run's tags (`user:<name>` and the user's own), kept in the run summary.
   *
   * @default - none
   */
  readonly tags?: readonly string[];
  /**
   * Hears every event of the run (after the run recorder): the progress view listens here.
   *
   * @default - none: only the run record hears them
   */
  readonly onEvent?: RunEventListener;
  /**
   * Abort to interrupt the run (Ctrl-C): everything is cancelled and the run is `interrupted`.
   *
   * @default - none: the run cannot be interrupted from outside
   */
  readonly signal?: AbortSignal;
  /**
   * How often the run record is rewritten while the run goes on, in milliseconds.
   *
   * @default 1000
   */
  readonly recordIntervalMs?: number;
  /**
   * How often the heartbeat is renewed, in milliseconds.
   *
   * @default 5000 (HEARTBEAT_MS)
   */
  readonly heartbeatMs?: number;
}

/** The compute layer refused the flow (its limits), before anything ran. */
export class LayerCheckError extends Error {
  constructor(
    /** The refusing layer's name. */
    readonly layer: string,
    /** What the layer cannot run, one line each. */
    readonly problems: readonly string[],
  ) {
    super(`the ${layer} compute layer cannot run this flow:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'LayerCheckError';
  }
}

/** One level of foreach a task is in. */
interface Frame {
  readonly split: TaskRef;
  readonly index: number;
  readonly count: number;
}

/** One group of tasks the layer knows: a template and the id others refer to it by. */
interface Group {
  readonly template: TaskTemplate;
  readonly follows?: string;
}

/** The orchestrator's state of one task. */
interface TaskState {
  readonly ref: TaskRef;
  readonly pathspec: string;
  readonly step: StepSpec;
  readonly frames: readonly Frame[];
  readonly inputs: readonly TaskState[];
  readonly policies: EffectivePolicies;
  /** Caught failures visible to this task. */
  readonly caught: CaughtState;
  /** What its successors see: `caught` plus its own catch var once it finished. */
  caughtAfter: CaughtState;
  /** Task path of its outputs: its own, or the origin run's when reused. */
  outputsAt: string;
  group?: Group;
  index: number;
  /** The attempt in flight, and whether it has started / finished (reports are idempotent). */
  attempt: number;
  phase: 'waiting' | 'submitted' | 'started' | 'finished' | 'done';
  logs?: Map<number, LogSink>;
}

/** Run a validated flow to the end. Resolves with the final run record (never rejects for a task failure). */
export function runFlow(options: RunOptions): Promise<RunRecord> {
  if (options.runId !== undefined && !isRunId(options.runId)) {
    return Promise.reject(new Error(`run id ${JSON.stringify(options.runId)} cannot be used: letters, digits, _ and - only, and not ${RESERVED_RUN_IDS.map((r) => `"${r}"`).join(', ')}`));
  }
  const problems = options.layer.check(options.graph);
  if (problems.length) return Promise.reject(new LayerCheckError(options.layer.name, problems));
  return new Orchestrator(options).run();
}

/** ` (not retried: …)` when the layer said another attempt cannot succeed while retries were left. */
function notRetried(result: AttemptResult, retriesLeft: number): string {
  if (result.retryable !== false || retriesLeft <= 0) return '';
  return ` (not retried: another attempt cannot succeed; ${retriesLeft} retr${retriesLeft === 1 ? 'y' : 'ies'} left unused)`;
}

/** A foreach step whose items cannot be fanned out over: that attempt failed. */
class UnusableItemsError extends Error {}

class Orchestrator implements AttemptListener {
  private readonly graph: FlowGraph;
  private readonly layer: ComputeLayer;
  private readonly store: Datastore;
  private readonly clock: Clock;
  private readonly flowName: string;
  private readonly runId: string;
  private readonly recorder: RunRecorder;
  private readonly listeners: RunEventListener[];
  private readonly policies = new Map<string, EffectivePolicies>();
  private readonly tasks = new Map<string, TaskState>();
  private readonly joins = new Map<string, { arrived: (TaskState | undefined)[]; count: number }>();
  private readonly groups = new Map<string, Group>();
  private readonly groupIds = new Set<string>();
  private readonly joinOf = new Map<string, string>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly sleeps = new AbortController();
  private readonly reusable: ReadonlyMap<string, string>;
  private readonly parameterEnv: Record<string, string> = {};
  private readonly releases = new Map<Group, ChildAttempt[]>();
  private releaseScheduled = false;
  private outstanding = 0;
  private stopping: { status: RunStatus; error?: string } | undefined;
  private ended = false;
  private resolveDone!: () => void;

  constructor(private readonly options: RunOptions) {
    this.graph = options.graph;
    this.layer = options.layer;
    this.store = options.datastore;
    this.clock = options.clock ?? systemClock;
    this.flowName = options.graph.flow.name;
    this.runId = options.runId ?? this.store.newRunId();
    const flow = options.graph.flow;
    for (const [name, step] of this.graph.steps) {
      this.policies.set(name, effectivePolicies(step, { withRetry: options.withRetry, flowDefaults: flow.defaults }));
    }
    for (const [join, split] of this.graph.closes) this.joinOf.set(split, join);
    const origin = options.origin;
    const reusable = new Map<string, string>();
    for (const t of origin?.tasks ?? []) {
      if (t.step === options.resumeFrom) continue; // rerun: and so, through their inputs, every step after it
      if (t.status === 'succeeded' || t.status === 'reused') reusable.set(pathspec(t), t.outputsAt ?? `${origin!.flow}/${origin!.runId}/${t.step}/${t.taskId}`);
    }
    this.reusable = reusable;
    for (const [name, value] of Object.entries(options.parameters)) this.parameterEnv[parameterEnvName(name)] = envValue(value);
    Object.assign(this.parameterEnv, textParametersEnv(this.graph.flow));
    const now = this.clock.now();
    this.recorder = new RunRecorder(
      {
        flow: this.flowName,
        runId: this.runId,
        status: 'running',
        startedAt: new Date(now).toISOString(),
        flowFile: options.flowFile,
        ...(options.codePackage ? { codePackage: options.codePackage } : {}),
        parameters: options.parameters,
        withRetry: !!options.withRetry,
        compute: this.layer.name,
        ...teamField(this.layer.teamOf?.(this.graph) ?? flow.team),
        originRunId: origin?.runId,
        ...(options.tags?.length ? { tags: [...options.tags] } : {}),
        owner: { pid: process.pid, host: os.hostname(), heartbeatAt: new Date(now).toISOString() },
        taskCount: 0,
        tasks: [],
      },
      this.store,
    );
    this.listeners = [this.recorder.onEvent, ...(options.onEvent ? [options.onEvent] : [])];
  }

  private emit(event: RunEvent): void {
    for (const l of this.listeners) l(event);
  }

  /** Keep track of async work that must finish before the run record is final. */
  private track(p: Promise<unknown>, what = 'internal error'): void {
    const guarded = p.catch((err: unknown) => this.stop('failed', `${what}: ${(err as Error)?.message ?? String(err)}`));
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  async run(): Promise<RunRecord> {
    const done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    const onAbort = () => this.stop('interrupted');
    this.emit({ type: 'run-started', flow: this.flowName, runId: this.runId, at: this.clock.now(), steps: [...this.graph.steps.keys()], originRunId: this.options.origin?.runId });
    this.layer.open({ datastore: this.store, listener: this });
    await this.recorder.flush();
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    const interval = setInterval(() => {
      if (this.recorder.dirty) this.track(this.recorder.flush(), 'could not write the run record');
    }, this.options.recordIntervalMs ?? 1000);
    const heartbeat = setInterval(() => this.emit({ type: 'run-heartbeat', at: this.clock.now() }), this.options.heartbeatMs ?? HEARTBEAT_MS);
    interval.unref();
    heartbeat.unref();
    try {
      if (this.options.signal?.aborted) this.stop('interrupted');
      else this.launch(this.graph.steps.get('start')!, [[]], []);
      if (this.outstanding > 0) await done;
      // Lines that come after their attempt finished (CloudWatch) still reach the attempt's log.
      if (this.layer.drainLogs) this.track(this.layer.drainLogs(), 'could not read the last log lines');
      while (this.background.size) await Promise.all([...this.background]);
    } finally {
      clearInterval(interval);
      clearInterval(heartbeat);
      this.options.signal?.removeEventListener('abort', onAbort);
    }
    this.ended = true;
    const status = this.stopping?.status ?? 'succeeded';
    this.emit({ type: 'run-finished', status, at: this.clock.now(), error: this.stopping?.error, apiCalls: this.layer.apiCalls?.() });
    await this.recorder.flush();
    return this.recorder.record;
  }

  /** Stop the run: nothing new starts, everything running is cancelled. */
  private stop(status: RunStatus, error?: string): void {
    if (this.stopping) return;
    this.stopping = { status, error };
    this.sleeps.abort();
    this.track(this.layer.cancelAll(error ?? status));
  }

  private taskDone(task: TaskState): void {
    if (task.phase === 'done') return;
    task.phase = 'done';
    if (--this.outstanding === 0) this.resolveDone();
  }

  // ---- creating tasks -------------------------------------------------------------------------

  private makeTask(step: StepSpec, frames: readonly Frame[], inputs: readonly TaskState[], caught?: CaughtState): TaskState {
    const taskId = frames.length ? frames.map((f) => f.index).join('_') : '0';
    const ref: TaskRef = { flow: this.flowName, runId: this.runId, step: step.name, taskId };
    const visible = caught ?? mergeCaught(inputs.map((i) => i.caughtAfter));
    const task: TaskState = {
      ref,
      pathspec: `${step.name}/${taskId}`,
      step,
      frames,
      inputs,
      policies: this.policies.get(step.name)!,
      caught: visible,
      caughtAfter: visible,
      outputsAt: taskPath(ref),
      index: frames.length ? frames[frames.length - 1].index : 0,
      attempt: 0,
      phase: 'waiting',
    };
    this.tasks.set(task.pathspec, task);
    this.outstanding++;
    return task;
  }

  private queued(task: TaskState): QueuedTask {
    const frame = task.frames[task.frames.length - 1];
    const first = frame && frame.split.step === this.graph.inputs.get(task.step.name)![0];
    return { ...task.ref, inputs: task.inputs.map((t) => t.pathspec), foreachIndex: first ? frame.index : undefined };
  }

  /** Create tasks for `step` (one per frame list) and hand the ones not reused to the layer. */
  private launch(step: StepSpec, framesList: readonly (readonly Frame[])[], inputs: readonly TaskState[], caught?: CaughtState): void {
    if (this.stopping) return;
    for (const frames of framesList) {
      const task = this.makeTask(step, frames, inputs, caught);
      const from = this.reusable.get(task.pathspec);
      // Reused only when every input was reused too (a rerun input may have changed its outputs).
      if (from !== undefined && task.inputs.every((i) => i.outputsAt !== taskPath(i.ref))) this.track(this.reuse(task, from));
      else this.track(this.prepare(task));
    }
  }

  /** Resume: point at the origin's task instead of running it again (nothing is copied). */
  private async reuse(task: TaskState, outputsAt: string): Promise<void> {
    const status = await this.store.readTaskStatus(outputsAt).catch(() => undefined);
    if (status?.status !== 'succeeded') return this.prepare(task); // gone from the origin: run it again
    task.outputsAt = outputsAt;
    task.phase = 'finished';
    this.emit({ type: 'task-reused', task: this.queued(task), originRunId: this.options.origin!.runId, outputsAt });
    let items: readonly unknown[] | undefined;
    if (this.graph.kind.get(task.step.name) === 'foreach') {
      try {
        items = await this.foreachItems(task, outputsAt);
        await this.writeItems(task, items);
      } catch (err) {
        this.stop('failed', `step ${task.pathspec} (reused from run ${this.options.origin!.runId}): ${(err as Error).message}`);
        this.taskDone(task);
        return;
      }
    }
    await this.advance(task, null, items);
  }

  /** Build (or find) the task's group, write what its children read, and release it. */
  private async prepare(task: TaskState): Promise<void> {
    this.emit({ type: 'task-queued', task: this.queued(task), attempt: 0 });
    try {
      task.group = await this.groupFor(task);
    } catch (err) {
      // The datastore refused what the task needs (full disk, read-only root): not the task's
      // fault, so no retry or catch — the run fails, saying why.
      const result: AttemptResult = { outcome: 'error', exitCode: null, reason: `could not prepare the task: ${(err as Error).message}`, finishedAt: this.clock.now() };
      const failure: Failure = { step: task.step.name, taskId: task.ref.taskId, message: failedMessage(task.ref, result.reason, 0), exitCode: null, statusReason: 'error', attempts: 0 };
      task.phase = 'finished';
      this.emit({ type: 'task-failed', task: task.ref, attempt: 0, result, failure });
      this.taskDone(task);
      this.stop('failed', failure.message);
      return;
    }
    this.release(task, 0);
  }

  private groupId(step: string, prefix: string): string {
    const base = prefix ? `${step}-${prefix.slice(0, -1)}` : step;
    let id = base;
    for (let n = 1; this.groupIds.has(id); n++) id = `${base}.v${n}`;
    this.groupIds.add(id);
    return id;
  }

  /**
   * The group a task belongs to. Every task of a foreach body belongs to the group of its step
   * and fan-out; its template holds what all children share. A child whose inputs or caught
   * failures differ from its siblings' (a resume reusing some of them, a caught failure in the
   * body) gets a variant group, so that a template always serves every child it has.
   */
  private async groupFor(task: TaskState): Promise<Group> {
    const step = task.step.name;
    const inner = task.frames[task.frames.length - 1];
    const prefix = task.frames.length > 1 ? task.frames.slice(0, -1).map((f) => f.index).join('_') + '_' : '';
    const own = `${this.flowName}/${this.runId}`;
    const isJoin = !!task.step.join;
    // Inputs: the previous step of the same body (same frames, so same task id), run in this
    // run, becomes the {taskId} placeholder.
    const inputs = task.inputs.map((i) => (inner && i.frames === task.frames && i.outputsAt === `${own}/${i.ref.step}/${i.ref.taskId}` ? `${own}/${i.ref.step}/${TASK_ID_PLACEHOLDER}` : i.outputsAt));
    const listed = inputs.join(',');
    const viaFile = isJoin && (!!inner || listed.length > MAX_INLINE_CHARS);
    const caught = Object.keys(task.caught).length ? caughtText(task.caught) : undefined;
    const signature = `${step}|${prefix}|${viaFile ? 'file' : listed}|${caught?.text ?? ''}`;
    if (viaFile) {
      // A join's inputs differ per child (or are too many for a variable): they go in a file.
      await this.store.put(contractKeys.inputPaths(task.ref), task.inputs.map((i) => i.outputsAt).join('\n') + '\n');
    }
    let group = this.groups.get(signature);
    if (group) return group;
    const groupId = this.groupId(step, prefix);
    let caughtFile: string | undefined;
    if (caught && !caught.inline) {
      caughtFile = contractKeys.caught(this.flowName, this.runId, step, groupId);
      await this.store.put(caughtFile, caught.text);
    }
    const foreach = inner ? { taskIdPrefix: prefix, count: inner.count, split: inner.split } : undefined;
    const flow = this.graph.flow;
    const template: TaskTemplate = {
      flow: this.flowName,
      runId: this.runId,
      step,
      groupId,
      image: task.step.image ?? flow.image,
      command: task.step.command,
      policies: task.policies,
      env: templateEnvironment({
        flow: this.flowName,
        runId: this.runId,
        step,
        datastoreRoot: this.store.root,
        userEnv: { ...flow.env, ...task.step.env },
        parameterEnv: this.parameterEnv,
        caught: task.caught,
        caughtFile,
        foreach,
      }),
      taskId: inner ? undefined : task.ref.taskId,
      foreach,
      ...(viaFile
        ? { inputPathsFile: inner ? `${own}/${step}/${TASK_ID_PLACEHOLDER}/input-paths.txt` : contractKeys.inputPaths(task.ref) }
        : { inputPaths: inputs }),
    };
    const previous = inner && task.inputs.length === 1 && task.inputs[0].frames === task.frames ? task.inputs[0].group : undefined;
    group = { template, follows: previous?.template.groupId };
    this.groups.set(signature, group);
    return group;
  }

  /** Hand one attempt of a task to the layer (batched per group within a tick). */
  private release(task: TaskState, attempt: number): void {
    task.attempt = attempt;
    task.phase = 'submitted';
    if (this.stopping) {
      this.finished({ ...task.ref, attempt }, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: this.clock.now() }, task);
      return;
    }
    const group = task.group!;
    let list = this.releases.get(group);
    if (!list) this.releases.set(group, (list = []));
    list.push({ index: task.index, attempt });
    if (!this.releaseScheduled) {
      this.releaseScheduled = true;
      queueMicrotask(() => this.flushReleases());
    }
  }

  private flushReleases(): void {
    this.releaseScheduled = false;
    const batch = [...this.releases];
    this.releases.clear();
    for (const [group, children] of batch) {
      if (this.stopping) {
        for (const c of children) {
          const task = this.taskOf(group.template, c.index);
          if (task) this.finished({ ...task.ref, attempt: c.attempt }, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: this.clock.now() }, task);
        }
      } else this.layer.submit({ template: group.template, children, follows: group.follows });
    }
  }

  private taskOf(template: TaskTemplate, index: number): TaskState | undefined {
    const taskId = template.foreach ? `${template.foreach.taskIdPrefix}${index}` : template.taskId!;
    return this.tasks.get(`${template.step}/${taskId}`);
  }

  // ---- what the layer reports (idempotent; late reports are ignored or kept with their attempt) --

  private current(a: AttemptRef): TaskState | undefined {
    if (a.flow !== this.flowName || a.runId !== this.runId) return undefined;
    const task = this.tasks.get(`${a.step}/${a.taskId}`);
    return task && task.attempt === a.attempt ? task : undefined;
  }

  started(a: AttemptRef, start: AttemptStart): void {
    const task = this.current(a);
    if (!task || task.phase !== 'submitted') return;
    task.phase = 'started';
    this.emit({ type: 'task-started', task: task.ref, attempt: a.attempt, at: start.at, start });
  }

  log(a: AttemptRef, stream: 'stdout' | 'stderr', line: string): void {
    if (this.ended) return;
    const task = this.tasks.get(`${a.step}/${a.taskId}`);
    if (!task || a.runId !== this.runId || a.attempt > task.attempt) return;
    const logs = (task.logs ??= new Map());
    let sink = logs.get(a.attempt);
    if (!sink) logs.set(a.attempt, (sink = this.store.openLog({ ...task.ref, attempt: a.attempt })));
    sink.write(stream, line);
    this.emit({ type: 'task-log', task: task.ref, attempt: a.attempt, stream, line });
    // A line that came after its attempt finished: the attempt's log is closed again at once.
    if (a.attempt < task.attempt || task.phase === 'finished' || task.phase === 'done') this.closeLog(task, a.attempt);
  }

  private closeLog(task: TaskState, attempt: number): void {
    const sink = task.logs?.get(attempt);
    if (!sink) return;
    task.logs!.delete(attempt);
    if (task.logs!.size === 0) task.logs = undefined;
    this.track(sink.close());
  }

  finished(a: AttemptRef, result: AttemptResult, known?: TaskState): void {
    const task = known ?? this.current(a);
    if (!task || task.attempt !== a.attempt || task.phase === 'finished' || task.phase === 'done') return;
    task.phase = 'finished';
    this.closeLog(task, a.attempt);
    if (result.outcome === 'succeeded') this.track(this.succeeded(task, a, result));
    else this.failed(task, a.attempt, result);
  }

  /** An attempt exited 0: check a foreach's items, commit the attempt's outputs, move on. */
  private async succeeded(task: TaskState, a: AttemptRef, result: AttemptResult): Promise<void> {
    let items: readonly unknown[] | undefined;
    try {
      if (this.graph.kind.get(task.step.name) === 'foreach') items = await this.foreachItems(task, this.store.attemptOutputs(a));
      await Promise.all([this.store.commitOutputs(a), items && this.writeItems(task, items)]);
    } catch (err) {
      const reason = err instanceof UnusableItemsError ? err.message : `could not save its outputs: ${(err as Error).message}`;
      this.failed(task, a.attempt, { ...result, outcome: 'failed', reason });
      return;
    }
    this.emit({ type: 'task-succeeded', task: task.ref, attempt: a.attempt, result });
    await this.advance(task, null, items);
  }

  private failed(task: TaskState, attempt: number, result: AttemptResult): void {
    if (result.outcome === 'cancelled') {
      this.emit({ type: 'task-cancelled', task: task.ref, attempt, result });
      this.track(this.writeStatus(task));
      this.taskDone(task);
      return;
    }
    const retriesLeft = task.policies.retries - attempt;
    if (retriesLeft > 0 && result.retryable !== false && !this.stopping) {
      const delayMs = task.policies.retryDelayMs;
      this.emit({ type: 'task-retrying', task: task.ref, attempt, result, delayMs });
      this.track(this.retryLater(task, attempt + 1, delayMs));
      return;
    }
    const failure: Failure = {
      step: task.step.name,
      taskId: task.ref.taskId,
      message: `${failedMessage(task.ref, result.reason, attempt + 1)}${notRetried(result, retriesLeft)}`,
      exitCode: result.exitCode,
      statusReason: result.outcome,
      attempts: attempt + 1,
    };
    const catchPolicy = task.policies.catch;
    if (catchPolicy && !this.stopping) {
      this.emit({ type: 'task-caught', task: task.ref, attempt, result, failure, var: catchPolicy.var, print: catchPolicy.printException });
      this.track(this.advance(task, failure, undefined));
      return;
    }
    this.emit({ type: 'task-failed', task: task.ref, attempt, result, failure });
    this.track(this.writeStatus(task));
    this.taskDone(task);
    this.stop('failed', failure.message);
  }

  private async retryLater(task: TaskState, attempt: number, delayMs: number): Promise<void> {
    if (delayMs > 0) await this.clock.sleep(delayMs, this.sleeps.signal);
    this.emit({ type: 'task-queued', task: this.queued(task), attempt });
    this.release(task, attempt);
  }

  private writeStatus(task: TaskState): Promise<void> {
    const rec = this.recorder.task(task.pathspec);
    return rec ? this.store.writeTaskStatus(task.ref, rec) : Promise.resolve();
  }

  // ---- moving on --------------------------------------------------------------------------------

  /** A task is finished (succeeded, caught or reused): start what comes after it. */
  private async advance(task: TaskState, failure: Failure | null, items: readonly unknown[] | undefined): Promise<void> {
    const catchVar = task.policies.catch?.var;
    if (catchVar) task.caughtAfter = setCaught(task.caught, catchVar, task.ref, failure);
    const status = task.outputsAt === taskPath(task.ref) ? this.writeStatus(task) : Promise.resolve();
    if (!this.stopping) {
      const kind = this.graph.kind.get(task.step.name)!;
      if (kind === 'foreach' && items) {
        const child = this.graph.steps.get(nextOf(task.step)[0])!;
        this.launch(
          child,
          items.map((_, index) => [...task.frames, { split: task.ref, index, count: items.length }]),
          [task],
        );
      } else if (kind === 'foreach') {
        // A caught foreach has nothing to fan out over: its join runs at once, with no inputs,
        // and sees the failure under the catch var.
        const join = this.graph.steps.get(this.joinOf.get(task.step.name)!)!;
        this.launch(join, [task.frames], [], task.caughtAfter);
      } else {
        for (const name of nextOf(task.step)) {
          const child = this.graph.steps.get(name)!;
          if (child.join) this.arrive(child, task);
          else this.launch(child, [task.frames], [task]);
        }
      }
    }
    await status;
    this.taskDone(task);
  }

  /** The items of a foreach step that just succeeded, from the outputs at `outputsKey`. */
  private async foreachItems(task: TaskState, outputsKey: string): Promise<readonly unknown[]> {
    const src = task.step.foreach!;
    let items: unknown;
    let what: string;
    if ('items' in src) {
      items = src.items;
      what = 'foreach.items';
    } else if ('param' in src) {
      items = this.options.parameters[src.param];
      what = `parameter "${src.param}"`;
    } else {
      let outputs: Record<string, unknown> | undefined;
      try {
        outputs = await this.store.readOutputs(outputsKey);
      } catch (err) {
        throw new UnusableItemsError(`foreach needs a list under "${src.output}" in outputs.json: ${(err as Error).message}`);
      }
      items = outputs?.[src.output];
      what = `"${src.output}" in outputs.json`;
      if (!Array.isArray(items)) {
        throw new UnusableItemsError(`foreach needs a list under "${src.output}" in outputs.json, got ${outputs ? (JSON.stringify(items) ?? 'nothing') : 'no outputs.json'}`);
      }
    }
    if (!Array.isArray(items)) throw new UnusableItemsError(`foreach needs a list in ${what}, got ${JSON.stringify(items) ?? 'nothing'}`);
    if (items.length === 0) throw new UnusableItemsError(`foreach has no items to fan out over (${what} is empty)`);
    return items;
  }

  /** The fan-out's items, where its children (on any layer) read them. */
  private async writeItems(task: TaskState, items: readonly unknown[]): Promise<void> {
    await Promise.all(foreachItemFiles(task.ref, items).map((f) => this.store.put(f.key, f.body)));
  }

  /** A task reached a join: launch the join once every input of its split has arrived. */
  private arrive(join: StepSpec, task: TaskState): void {
    const split = this.graph.closes.get(join.name)!;
    const isForeach = this.graph.kind.get(split) === 'foreach';
    const outer = isForeach ? task.frames.slice(0, -1) : task.frames;
    const slotKey = `${join.name}|${outer.map((f) => f.index).join('_')}`;
    const expected = isForeach ? task.frames[task.frames.length - 1].count : this.graph.inputs.get(join.name)!.length;
    const position = isForeach ? task.frames[task.frames.length - 1].index : this.graph.inputs.get(join.name)!.indexOf(task.step.name);
    let slot = this.joins.get(slotKey);
    if (!slot) {
      slot = { arrived: new Array<TaskState | undefined>(expected), count: 0 };
      this.joins.set(slotKey, slot);
    }
    slot.arrived[position] = task;
    if (++slot.count === expected) {
      this.joins.delete(slotKey);
      this.launch(join, [outer], slot.arrived as TaskState[]);
    }
  }
}

/** The run record's `team`, left out when there is none (records without teams stay as they were). */
function teamField(team: string | undefined): { team?: string } {
  return team ? { team } : {};
}

import { AttemptListener, AttemptResult, ComputeLayer, TaskSpec } from '../compute/types';
import { Datastore, Failure, LogSink, RunRecord, RunStatus, TaskRef } from '../datastore/types';
import { nextOf, StepSpec } from '../flow/model';
import { envValue, parameterEnvName } from '../flow/parameters';
import { FlowGraph } from '../flow/validate';
import { EffectivePolicies, effectivePolicies } from '../policy';
import { Clock, systemClock } from './clock';
import { pathspec, RunEvent, RunEventListener, TaskInfo } from './events';
import { RunRecorder } from './recorder';

export interface RunOptions {
  readonly graph: FlowGraph;
  readonly layer: ComputeLayer;
  readonly datastore: Datastore;
  /** Resolved parameter values (see resolveParameters). */
  readonly parameters: Record<string, unknown>;
  /** `--with retry`: the default retry policy for steps that have none. */
  readonly withRetry?: boolean;
  readonly clock?: Clock;
  readonly runId?: string;
  readonly flowFile?: string;
  /** Resume: reuse every task that succeeded in this run (and whose inputs were reused too). */
  readonly origin?: RunRecord;
  readonly onEvent?: RunEventListener;
  /** Abort to interrupt the run (Ctrl-C): everything is cancelled and the run is `interrupted`. */
  readonly signal?: AbortSignal;
  /** How often the run record is rewritten while the run goes on. Default 1000 ms. */
  readonly recordIntervalMs?: number;
}

/** Longer MF_INPUT_PATHS values are replaced by MF_INPUT_PATHS_FILE. */
export const MAX_INPUT_PATHS_ENV = 4096;

interface Frame {
  readonly split: string;
  readonly index: number;
  readonly count: number;
  readonly item: unknown;
}

interface Task {
  readonly step: StepSpec;
  readonly taskId: string;
  readonly key: string;
  readonly ref: TaskRef;
  readonly frames: readonly Frame[];
  readonly inputs: readonly Task[];
  readonly policies: EffectivePolicies;
  /** Caught failures visible to this task, by catch var. */
  readonly caught: Readonly<Record<string, Failure | null>>;
  env?: Record<string, string>;
  log?: LogSink;
}

interface JoinSlot {
  readonly arrived: (Task | undefined)[];
  count: number;
}

/** Run a validated flow to the end. Resolves with the final run record (never rejects for a task failure). */
export function runFlow(options: RunOptions): Promise<RunRecord> {
  return new Orchestrator(options).run();
}

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
  private readonly tasks = new Map<string, Task>();
  private readonly joins = new Map<string, JoinSlot>();
  private readonly background = new Set<Promise<unknown>>();
  private readonly sleeps = new AbortController();
  private readonly reusable: ReadonlySet<string>;
  private readonly baseEnv: Record<string, string>;
  private outstanding = 0;
  private stopping: { status: RunStatus; error?: string } | undefined;
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
    this.reusable = new Set(
      (options.origin?.tasks ?? []).filter((t) => t.status === 'succeeded' || t.status === 'reused').map((t) => pathspec(t)),
    );
    this.baseEnv = { MF_FLOW: this.flowName, MF_RUN_ID: this.runId, MF_DATASTORE_ROOT: this.store.root };
    for (const [name, value] of Object.entries(options.parameters)) this.baseEnv[parameterEnvName(name)] = envValue(value);
    this.recorder = new RunRecorder({
      flow: this.flowName,
      runId: this.runId,
      status: 'running',
      startedAt: new Date(this.clock.now()).toISOString(),
      flowFile: options.flowFile,
      parameters: options.parameters,
      withRetry: !!options.withRetry,
      compute: this.layer.name,
      originRunId: options.origin?.runId,
      tasks: [],
    });
    this.listeners = [this.recorder.onEvent, ...(options.onEvent ? [options.onEvent] : [])];
  }

  private emit(event: RunEvent): void {
    for (const l of this.listeners) l(event);
  }

  /** Keep track of async work that must finish before the run record is final. */
  private track(p: Promise<unknown>): void {
    const guarded = p.catch((err: unknown) => this.stop('failed', `internal error: ${(err as Error)?.message ?? String(err)}`));
    this.background.add(guarded);
    void guarded.finally(() => this.background.delete(guarded));
  }

  async run(): Promise<RunRecord> {
    const done = new Promise<void>((resolve) => (this.resolveDone = resolve));
    const onAbort = () => this.stop('interrupted');
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    this.emit({ type: 'run-started', flow: this.flowName, runId: this.runId, at: this.clock.now(), steps: [...this.graph.steps.keys()], originRunId: this.options.origin?.runId });
    await this.store.writeRun(this.recorder.record);
    this.recorder.takeDirty();
    const interval = setInterval(() => this.flushRecord(), this.options.recordIntervalMs ?? 1000);
    interval.unref();
    try {
      if (this.options.signal?.aborted) this.stop('interrupted');
      else this.launch(this.graph.steps.get('start')!, [[]], []);
      if (this.outstanding > 0) await done;
      while (this.background.size) await Promise.all([...this.background]);
    } finally {
      clearInterval(interval);
      this.options.signal?.removeEventListener('abort', onAbort);
    }
    const status = this.stopping?.status ?? 'succeeded';
    this.emit({ type: 'run-finished', status, at: this.clock.now(), error: this.stopping?.error });
    await this.store.writeRun(this.recorder.record);
    return this.recorder.record;
  }

  private flushRecord(): void {
    if (this.recorder.takeDirty()) this.track(this.store.writeRun(this.recorder.record));
  }

  /** Stop the run: nothing new starts, everything running is cancelled. */
  private stop(status: RunStatus, error?: string): void {
    if (this.stopping) return;
    this.stopping = { status, error };
    this.sleeps.abort();
    this.track(this.layer.cancelAll(error ?? status));
  }

  private taskDone(): void {
    if (--this.outstanding === 0) this.resolveDone();
  }

  // ---- creating tasks -------------------------------------------------------------------------

  private makeTask(step: StepSpec, frames: readonly Frame[], inputs: readonly Task[]): Task {
    const taskId = frames.length ? frames.map((f) => f.index).join('_') : '0';
    const key = `${step.name}/${taskId}`;
    const caught: Record<string, Failure | null> = {};
    for (const input of inputs) {
      for (const [v, failure] of Object.entries(input.caught)) if (!caught[v]) caught[v] = failure;
    }
    const task: Task = {
      step,
      taskId,
      key,
      ref: { flow: this.flowName, runId: this.runId, step: step.name, taskId },
      frames,
      inputs,
      policies: this.policies.get(step.name)!,
      caught,
    };
    this.tasks.set(key, task);
    this.outstanding++;
    return task;
  }

  private info(task: Task): TaskInfo {
    const frame = task.frames[task.frames.length - 1];
    const inForeach = frame && frame.split === this.graph.inputs.get(task.step.name)![0] ? frame.index : undefined;
    return { step: task.step.name, taskId: task.taskId, inputs: task.inputs.map((t) => t.key), foreachIndex: inForeach };
  }

  /** Create tasks for `step` (one per frame list) and hand the ones not reused to the layer at once. */
  private launch(step: StepSpec, framesList: readonly (readonly Frame[])[], inputs: readonly Task[]): void {
    if (this.stopping) return;
    const tasks = framesList.map((frames) => this.makeTask(step, frames, inputs));
    const origin = this.options.origin;
    const fresh: Task[] = [];
    for (const task of tasks) {
      if (origin && this.reusable.has(task.key) && task.inputs.every((i) => this.reused.has(i.key))) {
        this.track(this.reuse(task, origin));
      } else fresh.push(task);
    }
    if (fresh.length) this.track(this.submitFirst(fresh));
  }

  private readonly reused = new Set<string>();

  private async reuse(task: Task, origin: RunRecord): Promise<void> {
    try {
      await this.store.copyTask({ ...task.ref, runId: origin.runId }, task.ref);
    } catch {
      // The origin's files are gone (cleaned up by hand?): run the task again instead.
      return this.submitFirst([task]);
    }
    this.reused.add(task.key);
    this.emit({ type: 'task-reused', task: this.info(task), originRunId: origin.runId });
    await this.advance(task, null);
  }

  private async submitFirst(tasks: Task[]): Promise<void> {
    const outputDirs = await Promise.all(tasks.map((t) => this.store.prepareTask(t.ref)));
    const specs: TaskSpec[] = [];
    for (const [i, task] of tasks.entries()) {
      task.env = this.contractEnv(task, outputDirs[i]);
      if (task.env.MF_INPUT_PATHS.length > MAX_INPUT_PATHS_ENV) {
        // A wide join: the list goes in a file (env strings are limited; Batch overrides to 8 KiB).
        task.env.MF_INPUT_PATHS_FILE = await this.store.writeInputPaths(task.ref, task.inputs.map((t) => this.store.taskPath(t.ref)));
        delete task.env.MF_INPUT_PATHS;
      }
      this.emit({ type: 'task-queued', task: this.info(task), attempt: 0 });
      specs.push(this.spec(task, 0));
    }
    this.submit(specs);
  }

  private submit(specs: TaskSpec[]): void {
    if (this.stopping) {
      for (const s of specs) this.finished(s, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it started', finishedAt: this.clock.now() });
      return;
    }
    this.layer.submit(specs, this);
  }

  /** The task contract (README: "Task contract"), the same on every layer. */
  private contractEnv(task: Task, outputDir: string): Record<string, string> {
    const flow = this.graph.flow;
    const env: Record<string, string> = { ...flow.env, ...task.step.env, ...this.baseEnv };
    env.MF_STEP = task.step.name;
    env.MF_TASK_ID = task.taskId;
    env.MF_OUTPUT_DIR = outputDir;
    env.MF_INPUT_PATHS = task.inputs.map((t) => this.store.taskPath(t.ref)).join(',');
    // In a foreach body (the fan-out's child and the steps after it), the innermost foreach's
    // index and item.
    const frame = task.frames[task.frames.length - 1];
    if (frame) {
      env.MF_FOREACH_INDEX = String(frame.index);
      env.MF_FOREACH_COUNT = String(frame.count);
      env.MF_FOREACH_ITEM = envValue(frame.item);
    }
    const caughtNames = Object.keys(task.caught);
    if (caughtNames.length) {
      env.MF_CAUGHT = JSON.stringify(task.caught);
      for (const v of caughtNames) env[`MF_CATCH_${v}`] = JSON.stringify(task.caught[v]);
    }
    return env;
  }

  private spec(task: Task, attempt: number): TaskSpec {
    return {
      key: `${task.key}#${attempt}`,
      flow: this.flowName,
      runId: this.runId,
      step: task.step.name,
      taskId: task.taskId,
      attempt,
      image: task.step.image ?? this.graph.flow.image,
      command: task.step.command,
      env: { ...task.env, MF_RETRY_COUNT: String(attempt) },
      policies: task.policies,
    };
  }

  // ---- what the layer reports -----------------------------------------------------------------

  started(spec: TaskSpec, at: number): void {
    this.emit({ type: 'task-started', task: spec, attempt: spec.attempt, at });
  }

  log(spec: TaskSpec, stream: 'stdout' | 'stderr', line: string): void {
    const task = this.tasks.get(`${spec.step}/${spec.taskId}`)!;
    task.log ??= this.store.openLog(task.ref, spec.attempt);
    task.log.write(stream, line);
    this.emit({ type: 'task-log', task: spec, attempt: spec.attempt, stream, line });
  }

  finished(spec: TaskSpec, result: AttemptResult): void {
    const task = this.tasks.get(`${spec.step}/${spec.taskId}`)!;
    if (task.log) {
      this.track(task.log.close());
      task.log = undefined;
    }
    const attempt = spec.attempt;
    if (result.outcome === 'succeeded') {
      this.emit({ type: 'task-succeeded', task: spec, attempt, result });
      this.track(this.advance(task, null));
      return;
    }
    if (result.outcome === 'cancelled') {
      this.emit({ type: 'task-cancelled', task: spec, attempt, result });
      this.track(this.writeStatus(task));
      this.taskDone();
      return;
    }
    if (attempt < task.policies.retries && !this.stopping) {
      const delayMs = task.policies.retryDelayMs;
      this.emit({ type: 'task-retrying', task: spec, attempt, result, delayMs });
      this.track(this.retryLater(task, attempt + 1, delayMs));
      return;
    }
    const failure: Failure = {
      step: task.step.name,
      taskId: task.taskId,
      message: `step ${task.key} failed: ${result.reason}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`,
      exitCode: result.exitCode,
      statusReason: result.outcome,
      attempts: attempt + 1,
    };
    const catchPolicy = task.policies.catch;
    if (catchPolicy && !this.stopping) {
      this.emit({ type: 'task-caught', task: spec, attempt, result, failure, var: catchPolicy.var, print: catchPolicy.printException });
      this.track(this.advance(task, failure));
      return;
    }
    this.emit({ type: 'task-failed', task: spec, attempt, result, failure });
    this.track(this.writeStatus(task));
    this.taskDone();
    this.stop('failed', failure.message);
  }

  private async retryLater(task: Task, attempt: number, delayMs: number): Promise<void> {
    if (delayMs > 0) await this.clock.sleep(delayMs, this.sleeps.signal);
    this.emit({ type: 'task-queued', task: this.info(task), attempt });
    this.submit([this.spec(task, attempt)]);
  }

  private writeStatus(task: Task): Promise<void> {
    const rec = this.recorder.task(task.key);
    return rec ? this.store.writeTaskStatus(task.ref, rec) : Promise.resolve();
  }

  // ---- moving on --------------------------------------------------------------------------------

  /** A task is finished (succeeded, caught or reused): start what comes after it. */
  private async advance(task: Task, failure: Failure | null): Promise<void> {
    const catchVar = task.policies.catch?.var;
    if (catchVar) (task.caught as Record<string, Failure | null>)[catchVar] = failure;
    const status = this.reused.has(task.key) ? Promise.resolve() : this.writeStatus(task);
    try {
      const kind = this.graph.kind.get(task.step.name)!;
      if (kind === 'foreach' && !this.stopping) {
        const items = await this.foreachItems(task, failure);
        const child = this.graph.steps.get(nextOf(task.step)[0])!;
        this.launch(
          child,
          items.map((item, index) => [...task.frames, { split: task.step.name, index, count: items.length, item }]),
          [task],
        );
      } else {
        for (const name of nextOf(task.step)) {
          const child = this.graph.steps.get(name)!;
          if (child.join) this.arrive(child, task);
          else this.launch(child, [task.frames], [task]);
        }
      }
    } catch (err) {
      this.stop('failed', (err as Error).message);
    }
    await status;
    this.taskDone();
  }

  private async foreachItems(task: Task, failure: Failure | null): Promise<readonly unknown[]> {
    const src = task.step.foreach!;
    let items: unknown;
    if ('items' in src) items = src.items;
    else if ('param' in src) items = this.options.parameters[src.param];
    else {
      if (failure) throw new Error(`step ${task.key} failed (caught) and produced no "${src.output}" to fan out over`);
      const outputs = await this.store.readOutputs(task.ref);
      items = outputs?.[src.output];
      if (!Array.isArray(items)) {
        throw new Error(
          `step ${task.key}: foreach needs a list under "${src.output}" in outputs.json, got ${outputs ? JSON.stringify(items) ?? 'nothing' : 'no outputs.json'}`,
        );
      }
    }
    if (!Array.isArray(items) || items.length === 0) throw new Error(`step ${task.key}: foreach has no items to fan out over`);
    return items;
  }

  /** A task reached a join: launch the join once every input of its split has arrived. */
  private arrive(join: StepSpec, task: Task): void {
    const split = this.graph.closes.get(join.name)!;
    const isForeach = this.graph.kind.get(split) === 'foreach';
    const outer = isForeach ? task.frames.slice(0, -1) : task.frames;
    const slotKey = `${join.name}|${outer.map((f) => f.index).join('_')}`;
    const expected = isForeach ? task.frames[task.frames.length - 1].count : this.graph.inputs.get(join.name)!.length;
    const position = isForeach ? task.frames[task.frames.length - 1].index : this.graph.inputs.get(join.name)!.indexOf(task.step.name);
    let slot = this.joins.get(slotKey);
    if (!slot) {
      slot = { arrived: new Array<Task | undefined>(expected), count: 0 };
      this.joins.set(slotKey, slot);
    }
    slot.arrived[position] = task;
    if (++slot.count === expected) {
      this.joins.delete(slotKey);
      this.launch(join, [outer], slot.arrived as Task[]);
    }
  }
}

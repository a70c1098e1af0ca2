/**
 * Registers one run with a Metaflow metadata service the way Metaflow's own runtime does, so the
 * Metaflow UI and Python client show it: flow, run, steps, tasks, attempt metadata, heartbeats,
 * the `_parameters` task with `_graph_info`, outputs as artifacts, MFLOG logs.
 *
 * It hears the orchestrator's RunEvents (`onEvent`) and never blocks them: what an event teaches
 * is written into the task's facts and the task is marked dirty; a flusher registers dirty tasks
 * in the background, a few at a time, so a task that starts and ends between two flushes costs
 * one metadata call instead of two. Registration is idempotent by run id and task path: creates
 * are answered 409 when the object exists, and what was sent of each task is tracked, so a retry,
 * the final drain or `metaflow-cdk register` never duplicates anything.
 *
 * The service is never a single point of failure: transient errors are retried with backoff; a
 * service that stays down costs one warning line, the run goes on, tasks stay dirty and are
 * registered at the next contact (probes back off up to `maxProbeMs`), and what is still dirty
 * when the run's drain times out is reported with the command that registers it later.
 *
 * The registrar needs only the events and a datastore, not the compute layer: the local layer and
 * the Batch layer (runner process alive) share it; `registerRecord` registers a finished run from
 * its run record alone (the recovery command).
 */
import { failedMessage, retriedAttemptMessage } from '../contract/caught';
import { AttemptRef, TaskRef } from '../contract/names';
import type { AttemptRecord, Datastore, Failure, RunRecord, TaskRecord } from '../datastore/types';
import type { FlowGraph } from '../flow/validate';
import type { RunEvent } from '../orchestrator/events';
import { ARTIFACT_CONTENT_TYPE, artifactBlob, BlobWriter } from './blobs';
import { MetadataServiceClient, ServiceConfigError, ServiceUnavailableError } from './client';
import { catchVarsOf, graphInfo } from './graph-info';
import type { AttemptMetadata } from './layer-metadata';
import { mflogFileName, mflogLine } from './mflog';
import { MetaflowExceptionWrapper, pythonTypeName } from './pickle';

/**
 * The Metaflow version our registrations claim in the `metaflow_version:` system tag: the client
 * version whose formats they follow (tests read them with it). The service treats a run as
 * heartbeat-capable only with a version ≥ 2.2.12 (metaflow-service services/utils
 * has_heartbeat_capable_version_tag).
 */
export const METAFLOW_FORMAT_VERSION = '2.19.38';

/** The step Metaflow keeps the run's parameters and `_graph_info` in. */
export const PARAMETERS_STEP = '_parameters';

/**
 * The service's task id for one of ours. The service refuses numeric task ids (a 400: it assigns
 * those itself), and ours are `0`, `3`, `3_1`; a fixed prefix keeps them readable and makes the
 * mapping a function, so a retry or a later registration finds the same task.
 */
export const serviceTaskId = (taskId: string): string => `t-${taskId}`;

interface AttemptFacts {
  readonly attempt: number;
  readonly startedAt: number;
  endedAt?: number;
  ok?: boolean;
  lines: { stream: 'stdout' | 'stderr'; text: string; at: number }[];
  /**
   * The attempt's last stderr lines (its last log lines when registered from a record, whose log
   * is one stream), kept after the log is written: a failed task's `_exception` shows them.
   */
  logTail?: string[];
  /** The attempt failed and the task was tried again: why (its own artifacts say so). */
  retried?: { reason: string; exitCode: number | null };
  retriedArtifactsSent?: boolean;
  /** When this running attempt's log lines were last written (the live log; see LIVE_LOG_MS). */
  liveLogAt?: number;
  /** Log text read back from the datastore (registerRecord), written as stdout. */
  logText?: string;
  logsWritten?: boolean;
  /** The log files written: lines still to write are appended to them. */
  logsAppend?: Set<'stdout' | 'stderr'>;
  startSent?: boolean;
  endSent?: boolean;
  /** What the layer said of the attempt (job id, log stream, host-loss retries). */
  layer?: { externalId?: string; logRef?: string; infrastructureRetries?: number };
  /** Layer metadata fields already sent (or found in the service) for this attempt. */
  layerSent?: Set<string>;
}

interface TaskFacts {
  readonly step: string;
  readonly taskId: string;
  readonly attempts: Map<number, AttemptFacts>;
  outcome?: 'succeeded' | 'failed' | 'caught' | 'cancelled' | 'reused';
  /** Task path of its outputs when not its own (reused). */
  outputsAt?: string;
  originRunId?: string;
  caught?: { var?: string; failure: Failure };
  /** Why the task failed (outcome `failed`): its `_exception` artifact. */
  failure?: Failure;
  /** Artifacts that do not come from outputs.json (the `_parameters` task). */
  extra?: Record<string, unknown>;
  created?: boolean;
  artifactsSent?: boolean;
  /** The service refused this task for good (a 400): not retried. */
  refused?: boolean;
  /**
   * A metadata POST of this task got no answer: the service may have stored some of it (it
   * inserts item by item). The next try reads back what it has and sends only the rest.
   */
  unsure?: boolean;
}

/** What a registrar needs. */
export interface RegistrarOptions {
  readonly client: MetadataServiceClient;
  /** Where artifacts and logs are written (the run's datastore). */
  readonly blobs: BlobWriter;
  /** The run's datastore: outputs.json of each task are read from it. */
  readonly datastore: Datastore;
  /**
   * The validated flow: `_graph_info` is drawn from it, and a step's `catch.var`.
   * @default - none: `graphInfo` is the DAG (a Step Functions run, whose code package holds it)
   */
  readonly graph?: FlowGraph;
  /**
   * `_graph_info` as it is (a Step Functions run: `_mfcdk/graph-info.json` of its code package),
   * instead of drawing it from `graph`. @default - drawn from `graph`; none without a graph
   */
  readonly graphInfo?: Record<string, unknown>;
  /**
   * Each step's `catch.var` when there is no `graph` (a Step Functions run: `_mfcdk/graph-info.json`
   * of its code package): a caught task's failure is registered under it. @default - from `graph`; none without one
   */
  readonly catchVars?: Readonly<Record<string, string>>;
  /** The flow file, named in `_graph_info`. @default - none */
  readonly flowFile?: string;
  /** Resolved parameter values, registered as `_parameters` artifacts. @default - none */
  readonly parameters?: Record<string, unknown>;
  /** User tags of the run. @default - none */
  readonly tags?: readonly string[];
  /**
   * The compute layer's metadata of each attempt (Batch: job id, log group and stream, Batch's
   * attempt number), as Metaflow's decorator for that layer records it. @default - none (local)
   */
  readonly attemptMetadata?: AttemptMetadata;
  /** One line for people (a warning); printed at most once per kind of trouble. */
  readonly warn: (line: string) => void;
  /** How often dirty tasks are registered, in ms. @default 250 */
  readonly flushMs?: number;
  /** How often run and running tasks' heartbeats are sent, in ms (Metaflow: 10 s). @default 10000 */
  readonly heartbeatMs?: number;
  /** Registrations under way at once. @default 8 */
  readonly concurrency?: number;
  /** The longest wait between two probes of a service that is down, in ms. @default 15000 */
  readonly maxProbeMs?: number;
}

/** How registration of a run ended. */
export interface RegistrationSummary {
  /** Tasks of the run (the `_parameters` task included). */
  readonly tasks: number;
  /** Tasks fully registered. */
  readonly registered: number;
  /** Requests made to the service, by kind. */
  readonly calls: Record<string, number>;
  /** Why registration stopped early, when it did (a configuration error). */
  readonly stopped?: string;
}

export class RunRegistrar {
  private flow = '';
  private runId = '';
  private originRunId?: string;
  private readonly tasks = new Map<string, TaskFacts>();
  private readonly dirty = new Set<string>();
  private runReady?: Promise<void>;
  private readonly stepsReady = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private down = false;
  private nextProbeAt = 0;
  private probeMs = 1000;
  private stopped?: string;
  /** Registering a recorded run (registerRecord): no run goes on beside it. */
  private recorded = false;
  private readonly warned = new Set<string>();
  private readonly flushMs: number;
  private readonly heartbeatMs: number;
  private readonly concurrency: number;
  private readonly maxProbeMs: number;
  private readonly systemTags: string[];
  /** Each step's catch var: from the flow, else as the run's code package holds them (a Step Functions run). */
  private readonly catchVars: Readonly<Record<string, string>>;

  constructor(private readonly options: RegistrarOptions) {
    this.flushMs = options.flushMs ?? 250;
    this.heartbeatMs = options.heartbeatMs ?? 10_000;
    this.concurrency = options.concurrency ?? 8;
    this.maxProbeMs = options.maxProbeMs ?? 15_000;
    this.catchVars = options.graph ? catchVarsOf(options.graph) : (options.catchVars ?? {});
    const user = options.client.settings.user;
    // Metaflow puts these in system tags (sticky_sys_tags); the client's namespace `user:<name>` matches either kind.
    this.systemTags = [`user:${user}`, 'runtime:metaflow-cdk', `metaflow_version:${METAFLOW_FORMAT_VERSION}`];
  }

  /** The orchestrator's listener: synchronous, never throws, never waits for the service. */
  readonly onEvent = (e: RunEvent): void => {
    try {
      this.learn(e);
    } catch (err) {
      this.warnOnce('internal', `metadata service registration: ${(err as Error).message}`);
    }
  };

  /**
   * The first contact, before the run starts: registers the flow. A configuration error (403,
   * HTML) throws ServiceConfigError; a service that does not answer is a warning and the run goes
   * on (it is registered once the service answers).
   */
  async preflight(flow: string): Promise<void> {
    try {
      await this.options.client.create(`/flows/${enc(flow)}`, { user_name: this.user, tags: [], system_tags: this.systemTags }, { attempts: 2 });
    } catch (err) {
      if (err instanceof ServiceUnavailableError) this.markDown(err);
      else throw err;
    }
  }

  /** Start the background flusher and heartbeats (learn() starts them at run-started). */
  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.flushMs);
    this.heartbeat = setInterval(() => void this.beat(), this.heartbeatMs);
    this.timer.unref();
    this.heartbeat.unref();
  }

  /**
   * After the run ended: stop the heartbeats and register whatever is left, waiting at most
   * `timeoutMs` for a service that is down. Prints one line when something is left unregistered.
   */
  async finish(timeoutMs = 30_000): Promise<RegistrationSummary> {
    clearInterval(this.heartbeat);
    clearInterval(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.dirty.size && !this.stopped && Date.now() < deadline) {
      await this.flush();
      if (this.dirty.size && this.down) await sleep(Math.max(0, Math.min(this.nextProbeAt, deadline) - Date.now()));
    }
    await this.flushing;
    const left = [...this.dirty].length;
    if (left && !this.stopped) {
      this.options.warn(
        `${left} of ${this.tasks.size} tasks of ${this.flow} run ${this.runId} are not registered with the metadata service at ` +
          `${this.options.client.settings.url}; \`metaflow-cdk register ${this.runId}\` registers them once it answers`,
      );
    }
    return this.summary();
  }

  summary(): RegistrationSummary {
    const registered = [...this.tasks.entries()].filter(([k, t]) => !this.dirty.has(k) && t.created && !t.refused).length;
    return { tasks: this.tasks.size, registered, calls: { ...this.options.client.calls }, ...(this.stopped ? { stopped: this.stopped } : {}) };
  }

  /**
   * Register a run from its record (a run whose registration was cut short): what the service
   * already has is read first (tasks, and per attempt the `attempt` and `attempt_ok` metadata), so
   * nothing is sent twice. Logs come from the datastore's attempt logs (as stdout).
   */
  async registerRecord(record: RunRecord, timeoutMs = 30_000): Promise<RegistrationSummary> {
    this.recorded = true;
    this.flow = record.flow;
    this.runId = record.runId;
    this.originRunId = record.originRunId;
    this.addParametersTask(Date.parse(record.startedAt));
    for (const t of record.tasks) {
      const facts = this.task(t);
      facts.outcome = t.status === 'queued' || t.status === 'running' ? undefined : t.status;
      if (t.status === 'reused') {
        facts.originRunId = t.reusedFrom;
        facts.outputsAt = t.outputsAt;
        const at = Date.parse(record.startedAt);
        facts.attempts.set(0, { attempt: 0, startedAt: at, endedAt: at, ok: true, lines: [] });
      }
      if (t.caught) facts.caught = { failure: t.caught, var: this.catchVars[t.step] };
      if (t.status === 'failed') facts.failure = failureOfRecord(t);
      for (const a of t.attempts) {
        if (!a.startedAt) continue;
        const ref: AttemptRef = { flow: record.flow, runId: record.runId, step: t.step, taskId: t.taskId, attempt: a.attempt };
        const logText = await this.options.datastore.readLog(ref).catch(() => undefined);
        facts.attempts.set(a.attempt, {
          attempt: a.attempt,
          startedAt: Date.parse(a.startedAt),
          ...(a.finishedAt ? { endedAt: Date.parse(a.finishedAt), ok: a.status === 'succeeded' } : {}),
          lines: [],
          layer: { externalId: a.externalId, logRef: a.logRef, infrastructureRetries: a.infrastructureRetries },
          logText,
          ...(logText ? { logTail: logText.split('\n').filter(Boolean).slice(-EXCEPTION_LOG_LINES) } : {}),
          ...(a !== t.attempts[t.attempts.length - 1] && a.status !== 'succeeded' && a.finishedAt
            ? { retried: { reason: attemptReason(a), exitCode: a.exitCode } }
            : {}),
        });
      }
    }
    try {
      await this.readBack();
    } catch (err) {
      if (err instanceof ServiceConfigError) throw err;
      this.markDown(err as Error);
    }
    for (const [key, facts] of this.tasks) {
      if (facts.attempts.size) this.dirty.add(key);
      else this.tasks.delete(key); // never started: Metaflow would not know it either
    }
    return this.finish(timeoutMs);
  }

  private get user(): string {
    return this.options.client.settings.user;
  }

  private warnOnce(kind: string, line: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.options.warn(line);
  }

  private markDown(err: Error): void {
    if (!this.down) {
      this.down = true;
      this.probeMs = 1000;
    } else this.probeMs = Math.min(this.probeMs * 2, this.maxProbeMs);
    this.nextProbeAt = Date.now() + this.probeMs;
    this.warnOnce('down', this.recorded ? err.message : `${err.message}; the run goes on and is registered once the service answers`);
  }

  private task(ref: { step: string; taskId: string }): TaskFacts {
    const key = `${ref.step}/${ref.taskId}`;
    let facts = this.tasks.get(key);
    if (!facts) {
      facts = { step: ref.step, taskId: ref.taskId, attempts: new Map() };
      this.tasks.set(key, facts);
    }
    return facts;
  }

  private touch(ref: { step: string; taskId: string }): void {
    this.dirty.add(`${ref.step}/${ref.taskId}`);
  }

  private addParametersTask(at: number): void {
    const facts = this.task({ step: PARAMETERS_STEP, taskId: '0' });
    facts.outcome = 'succeeded';
    facts.attempts.set(0, { attempt: 0, startedAt: at, endedAt: at, ok: true, lines: [] });
    const { graph, flowFile } = this.options;
    const info = this.options.graphInfo ?? (graph ? graphInfo(graph, flowFile) : undefined);
    facts.extra = { ...(info ? { _graph_info: info } : {}), ...(this.options.parameters ?? {}) };
    this.touch(facts);
  }

  private learn(e: RunEvent): void {
    switch (e.type) {
      case 'run-started':
        this.flow = e.flow;
        this.runId = e.runId;
        this.originRunId = e.originRunId;
        this.addParametersTask(e.at);
        this.start();
        return;
      case 'task-started':
        this.task(e.task).attempts.set(e.attempt, {
          attempt: e.attempt,
          startedAt: e.at,
          lines: [],
          layer: { externalId: e.start.externalId, logRef: e.start.logRef },
        });
        this.touch(e.task);
        return;
      case 'task-log': {
        const attempt = this.task(e.task).attempts.get(e.attempt);
        if (!attempt) return;
        attempt.lines.push({ stream: e.stream, text: e.line, at: Date.now() });
        if (e.stream === 'stderr') {
          attempt.logTail ??= [];
          attempt.logTail.push(e.line);
          if (attempt.logTail.length > EXCEPTION_LOG_LINES) attempt.logTail.shift();
        }
        // A line that came after the attempt's log was written (CloudWatch delivers late): appended at the next flush.
        if (attempt.logsWritten) {
          attempt.logsWritten = false;
          this.touch(e.task);
        }
        return;
      }
      case 'task-retrying':
      case 'task-succeeded':
      case 'task-failed':
      case 'task-caught':
      case 'task-cancelled': {
        const facts = this.task(e.task);
        const attempt = facts.attempts.get(e.attempt);
        if (attempt) {
          attempt.endedAt = e.result.finishedAt;
          attempt.ok = e.type === 'task-succeeded';
          const { externalId, logRef, infrastructureRetries } = e.result;
          attempt.layer = { ...attempt.layer, ...defined({ externalId, logRef, infrastructureRetries }) };
        }
        if (e.type !== 'task-retrying') facts.outcome = e.type.slice('task-'.length) as TaskFacts['outcome'];
        else if (attempt) attempt.retried = { reason: e.result.reason, exitCode: e.result.exitCode };
        if (e.type === 'task-caught') facts.caught = { failure: e.failure, ...(e.var !== undefined ? { var: e.var } : {}) };
        if (e.type === 'task-failed') facts.failure = e.failure;
        // A task cancelled before it started never reached the service.
        if (facts.attempts.size) this.touch(e.task);
        return;
      }
      case 'task-reused': {
        const facts = this.task(e.task);
        facts.outcome = 'reused';
        facts.originRunId = e.originRunId;
        facts.outputsAt = e.outputsAt;
        const now = Date.now();
        facts.attempts.set(0, { attempt: 0, startedAt: now, endedAt: now, ok: true, lines: [] });
        this.touch(e.task);
        return;
      }
      case 'run-heartbeat':
        // The live log: a running attempt's new lines go to its log files every LIVE_LOG_MS.
        for (const facts of this.tasks.values()) {
          for (const a of facts.attempts.values()) if (this.liveLogDue(a, e.at)) this.touch(facts);
        }
        return;
      case 'task-queued':
      case 'run-finished':
        return;
    }
  }

  /** Register dirty tasks, `concurrency` at a time; one flush at a time. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.flushOnce().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    if (this.stopped || !this.dirty.size || !this.runId) return;
    if (this.down) {
      if (Date.now() < this.nextProbeAt) return;
      // One probe, one try: the run itself (or the first dirty task) tells whether the service is back.
      const key = this.dirty.values().next().value as string;
      if (!(await this.syncKey(key, 1))) return;
      this.down = false;
      this.runReady = undefined;
    }
    const keys = [...this.dirty];
    let next = 0;
    const lane = async () => {
      while (next < keys.length && !this.down && !this.stopped) await this.syncKey(keys[next++]);
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, keys.length) }, lane));
  }

  /** Register what is missing of one task; false when the service did not answer. */
  private async syncKey(key: string, attempts?: number): Promise<boolean> {
    const facts = this.tasks.get(key);
    if (!facts || !this.dirty.has(key)) return true;
    this.dirty.delete(key);
    try {
      await this.sync(facts, attempts);
      return true;
    } catch (err) {
      if (err instanceof ServiceConfigError) {
        this.stopped = err.message;
        this.options.warn(`${err.message}; the run goes on without registration`);
        return false;
      }
      if (err instanceof ServiceUnavailableError) {
        this.dirty.add(key);
        this.markDown(err);
        return false;
      }
      facts.refused = true;
      this.warnOnce('refused', `${(err as Error).message} (${this.flow}/${this.runId}/${key}; further refusals are not reported)`);
      return true;
    }
  }

  private runPath(): string {
    return `/flows/${enc(this.flow)}/runs/${enc(this.runId)}`;
  }

  private ensureRun(attempts?: number): Promise<void> {
    if (!this.runReady) {
      const { client } = this.options;
      const body = { user_name: this.user, tags: [...(this.options.tags ?? [])], system_tags: this.systemTags };
      this.runReady = (async () => {
        await client.create(`/flows/${enc(this.flow)}`, body, { attempts });
        await client.create(`/flows/${enc(this.flow)}/run`, { ...body, run_number: this.runId }, { attempts });
      })();
      this.runReady.catch(() => (this.runReady = undefined));
    }
    return this.runReady;
  }

  private ensureStep(step: string, attempts?: number): Promise<void> {
    let ready = this.stepsReady.get(step);
    if (!ready) {
      const body = { user_name: this.user, tags: [...(this.options.tags ?? [])], system_tags: this.systemTags, step_name: step };
      ready = this.options.client.create(`${this.runPath()}/steps/${enc(step)}/step`, body, { attempts }).then(() => undefined);
      ready.catch(() => this.stepsReady.delete(step));
      this.stepsReady.set(step, ready);
    }
    return ready;
  }

  private async sync(facts: TaskFacts, attempts?: number): Promise<void> {
    const { client } = this.options;
    const id = serviceTaskId(facts.taskId);
    const taskPath = `${this.runPath()}/steps/${enc(facts.step)}/tasks/${enc(id)}`;
    await this.ensureRun(attempts);
    await this.ensureStep(facts.step, attempts);
    if (!facts.created) {
      const body = { user_name: this.user, tags: [...(this.options.tags ?? [])], system_tags: this.systemTags, task_id: id };
      await client.create(`${this.runPath()}/steps/${enc(facts.step)}/task`, body, { attempts });
      facts.created = true;
    }
    await this.writeLogs(facts, id);
    const items: Record<string, unknown>[] = [];
    const sent: (() => void)[] = [];
    for (const a of facts.attempts.values()) {
      if (!a.startSent) {
        items.push(...this.startMetadata(facts, a));
        sent.push(() => (a.startSent = true));
      }
      if (a.endedAt !== undefined && !a.endSent) {
        items.push(...this.endMetadata(facts, a));
        sent.push(() => (a.endSent = true));
      }
      const layer = this.layerMetadata(facts, a);
      if (layer.length) {
        items.push(...layer);
        sent.push(() => layer.forEach((i) => (a.layerSent ??= new Set()).add(i.field_name as string)));
      }
    }
    if (items.length && facts.unsure) {
      const have = await this.metadataKeys(taskPath, attempts);
      const rest = items.filter((i) => !have.has(metadataKey(i.field_name as string, i.tags as string[])));
      items.splice(0, items.length, ...rest);
      facts.unsure = false;
    }
    if (items.length) {
      try {
        await client.post(`${taskPath}/metadata`, items, { attempts });
      } catch (err) {
        if (err instanceof ServiceUnavailableError) facts.unsure = true;
        throw err;
      }
    }
    sent.forEach((mark) => mark());
    for (const a of facts.attempts.values()) {
      if (!a.retried || a.retriedArtifactsSent) continue;
      const artifacts = await this.retriedArtifacts(facts, id, a);
      if (artifacts.length) await client.post(`${taskPath}/artifact`, artifacts, { attempts });
      a.retriedArtifactsSent = true;
    }
    if (facts.outcome && facts.outcome !== 'cancelled' && !facts.artifactsSent) {
      const artifacts = await this.artifacts(facts, id);
      if (artifacts.length) await client.post(`${taskPath}/artifact`, artifacts, { attempts });
      facts.artifactsSent = true;
    }
  }

  private datum(field: string, value: string, attempt: number, type = field): Record<string, unknown> {
    return { field_name: field, value, type, user_name: this.user, tags: [`attempt_id:${attempt}`] };
  }

  private startMetadata(facts: TaskFacts, a: AttemptFacts): Record<string, unknown>[] {
    const { dsType, dsRoot } = this.options.blobs;
    const n = a.attempt;
    // What the client and the UI read (attempt, datastore); Metaflow's system-info items (runtime,
    // user, version) are in the run's system tags already: each item is one insert in the service.
    const items = [this.datum('attempt', String(n), n), this.datum('ds-type', dsType, n), this.datum('ds-root', dsRoot, n)];
    const origin = facts.originRunId ?? this.originRunId;
    if (origin) items.push(this.datum('origin-run-id', origin, n));
    return items;
  }

  /** The layer's metadata of an attempt not sent yet (attemptMetadata). */
  private layerMetadata(facts: TaskFacts, a: AttemptFacts): Record<string, unknown>[] {
    const fields = this.options.attemptMetadata?.(facts.step, { ...a.layer, ended: a.endedAt !== undefined }) ?? {};
    return Object.entries(fields)
      .filter(([field]) => !a.layerSent?.has(field))
      .map(([field, value]) => this.datum(field, value, a.attempt));
  }

  private endMetadata(facts: TaskFacts, a: AttemptFacts): Record<string, unknown>[] {
    const n = a.attempt;
    const out = [this.datum('attempt-done', String(n), n), this.datum('attempt_ok', a.ok ? 'True' : 'False', n, 'internal_attempt_status')];
    if (facts.caught && facts.outcome === 'caught') out.push(this.datum('caught', facts.caught.failure.message, n));
    return out;
  }

  /** The task's folder in the datastore, where Metaflow's client reads its logs and task metadata. */
  private taskDir(facts: TaskFacts, id: string): string {
    return `${this.flow}/${this.runId}/${facts.step}/${id}`;
  }

  /**
   * Has a running attempt log lines to write now? As Metaflow's Batch tasks upload their logs while
   * they run (mflog save_logs_periodically.py, every 0.25 s at first, every 30 s after ~20 min), so
   * the UI and `task.stdout` show a running task's output; ours every LIVE_LOG_MS.
   */
  private liveLogDue(a: AttemptFacts, now: number): boolean {
    return a.endedAt === undefined && a.lines.length > 0 && now - (a.liveLogAt ?? a.startedAt) >= LIVE_LOG_MS;
  }

  private async writeLogs(facts: TaskFacts, id: string): Promise<void> {
    for (const a of facts.attempts.values()) {
      if (a.endedAt === undefined) {
        if (!this.liveLogDue(a, Date.now())) continue;
        a.liveLogAt = Date.now();
      } else if (a.logsWritten) continue;
      const dir = this.taskDir(facts, id);
      // Lines that come while these are written go to a fresh list, for the next flush.
      const pending = a.lines;
      a.lines = [];
      const byStream = { stdout: [] as string[], stderr: [] as string[] };
      for (const l of pending) byStream[l.stream].push(mflogLine('task', l.text, l.at));
      if (a.logText && a.endedAt !== undefined) for (const line of a.logText.split('\n').filter(Boolean)) byStream.stdout.push(mflogLine('task', line, a.endedAt));
      const written = new Set<string>();
      try {
        for (const stream of ['stdout', 'stderr'] as const) {
          if (!byStream[stream].length) continue;
          const key = `${dir}/${mflogFileName(a.attempt, 'task', stream)}`;
          const text = byStream[stream].join('\n') + '\n';
          // Late lines (CloudWatch) go at the end of the file already written; nothing is written twice.
          if (a.logsAppend?.has(stream)) await this.options.blobs.append(key, text);
          else await this.options.blobs.putOnce(key, text);
          written.add(stream);
          (a.logsAppend ??= new Set()).add(stream);
          if (stream === 'stdout') a.logText = undefined;
        }
      } catch (err) {
        a.lines = [...pending.filter((l) => !written.has(l.stream)), ...a.lines];
        throw err;
      }
      if (a.endedAt === undefined) continue; // running: the rest at the next LIVE_LOG_MS, or at its end
      a.logsWritten = a.lines.length === 0;
      if (!a.logsWritten) this.touch(facts);
    }
  }

  private async artifacts(facts: TaskFacts, id: string): Promise<Record<string, unknown>[]> {
    // `name` (the flow's name) is in every attempt of a Metaflow task: the service finds a task's latest attempt by it
    // (metaflow-service postgres_async_db.py get_artifact); without it `task['_success']` after a retry asks attempt 0.
    // An output or parameter called `name` takes its place (it is registered with the attempt all the same).
    const values: Record<string, unknown> = { name: this.flow, ...(facts.extra ?? {}) };
    if (facts.outcome === 'succeeded' || facts.outcome === 'reused') {
      if (facts.step !== PARAMETERS_STEP) {
        const at = facts.outputsAt ?? `${this.flow}/${this.runId}/${facts.step}/${facts.taskId}`;
        const outputs = await this.options.datastore.readOutputs(at).catch(() => undefined);
        Object.assign(values, outputs ?? {});
      }
    }
    if (facts.caught?.var) values[facts.caught.var] = facts.caught.failure;
    if (facts.outcome === 'failed' && facts.failure) {
      const last = facts.attempts.get(Math.max(0, ...facts.attempts.keys()));
      values._exception = taskException(facts.failure, last?.logTail ?? []);
    }
    const ok = facts.outcome === 'succeeded' || facts.outcome === 'reused';
    // Metaflow's Task.successful / Run.successful read these (the end task's for a run).
    values._task_ok = ok;
    values._success = ok;
    return this.artifactRows(facts, id, Math.max(0, ...facts.attempts.keys()), values);
  }

  /**
   * A retried attempt's own artifacts, as Metaflow persists them for each attempt (`name`,
   * `_task_ok` False, `_exception`): `Task(pathspec, attempt=n).exception` says why it failed.
   */
  private async retriedArtifacts(facts: TaskFacts, id: string, a: AttemptFacts): Promise<Record<string, unknown>[]> {
    const failure: Failure = {
      step: facts.step, taskId: facts.taskId, message: retriedAttemptMessage(facts, a.attempt, a.retried!.reason),
      exitCode: a.retried!.exitCode, statusReason: 'failed', attempts: a.attempt + 1,
    };
    return this.artifactRows(facts, id, a.attempt, { name: this.flow, _task_ok: false, _success: false, _exception: taskException(failure, a.logTail ?? []) });
  }

  /** Store each value as a content-addressed blob and describe it for the service, as attempt `attempt`'s artifacts. */
  private async artifactRows(facts: TaskFacts, id: string, attempt: number, values: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const { blobs } = this.options;
    const out: Record<string, unknown>[] = [];
    // The task datastore's index of the attempt (Metaflow's TaskDataStore `data.json`): the UI reads an artifact's size and type there.
    const objects: Record<string, string> = {};
    const info: Record<string, { size: number; type: string; encoding: string }> = {};
    for (const [name, value] of Object.entries(values)) {
      let blob;
      try {
        blob = artifactBlob(value);
      } catch (err) {
        this.warnOnce(`artifact:${name}`, `output ${name} of ${this.flow}/${this.runId}/${facts.step}/${facts.taskId} is not registered as an artifact: ${(err as Error).message}`);
        continue;
      }
      await blobs.putOnce(`${this.flow}/data/${blob.sha.slice(0, 2)}/${blob.sha}`, blob.gzip);
      objects[name] = blob.sha;
      info[name] = { size: blob.size, type: pythonTypeName(value), encoding: ARTIFACT_CONTENT_TYPE };
      out.push({
        flow_id: this.flow,
        run_number: this.runId,
        step_name: facts.step,
        task_id: id,
        attempt_id: attempt,
        name,
        content_type: ARTIFACT_CONTENT_TYPE,
        type: 'metaflow.artifact',
        sha: blob.sha,
        ds_type: blobs.dsType,
        location: `:root:${blobs.dsRoot}`,
        user_name: this.user,
        tags: [...(this.options.tags ?? [])],
        system_tags: this.systemTags,
      });
    }
    await this.writeTaskDatastore(facts, id, attempt, objects, info);
    return out;
  }

  /**
   * The attempt's files in the task's folder as Metaflow's TaskDataStore writes them
   * (metaflow/datastore/task_datastore.py: `<n>.attempt.json`, `<n>.data.json`, `<n>.DONE.lock`,
   * JSON each): the UI backend opens an artifact's value through them.
   */
  private async writeTaskDatastore(facts: TaskFacts, id: string, attempt: number, objects: Record<string, string>, info: Record<string, unknown>): Promise<void> {
    const dir = this.taskDir(facts, id);
    const { blobs } = this.options;
    const startedAt = facts.attempts.get(attempt)?.startedAt ?? Date.now();
    await blobs.putOnce(`${dir}/${attempt}.attempt.json`, JSON.stringify({ time: startedAt / 1000 }));
    await blobs.putOnce(`${dir}/${attempt}.data.json`, JSON.stringify({ datastore: blobs.dsType, version: '1.0', attempt, objects, info }));
    await blobs.putOnce(`${dir}/${attempt}.DONE.lock`, JSON.stringify(''));
  }

  /** Heartbeats of the run and of its running tasks (a 404 inside 10 s of the last one is by design). */
  private async beat(): Promise<void> {
    if (this.down || this.stopped || !this.runId || !this.runReady) return;
    const { client } = this.options;
    try {
      await client.post(`${this.runPath()}/heartbeat`, {}, { attempts: 1, allow: [404] });
      for (const t of this.tasks.values()) {
        const running = t.created && [...t.attempts.values()].some((a) => a.endedAt === undefined);
        if (running) await client.post(`${this.runPath()}/steps/${enc(t.step)}/tasks/${enc(serviceTaskId(t.taskId))}/heartbeat`, {}, { attempts: 1, allow: [404] });
      }
    } catch {
      // A missed heartbeat is not worth a line: the next flush finds out whether the service is down.
    }
  }

  /** `field@attempt_id:n` of each metadata item the service has for a task. */
  private async metadataKeys(taskPath: string, attempts?: number): Promise<Set<string>> {
    const meta = ((await this.options.client.get(`${taskPath}/metadata`, { attempts })) ?? []) as { field_name: string; tags?: string[] }[];
    return new Set(meta.map((m) => metadataKey(m.field_name, m.tags ?? [])));
  }

  /** What the service already has of this run: tasks, which attempts' metadata were sent, whether the artifacts were. */
  private async readBack(): Promise<void> {
    const { client } = this.options;
    const steps = new Set([...this.tasks.values()].map((t) => t.step));
    const run = await client.get(this.runPath());
    if (run === undefined) return;
    this.runReady = Promise.resolve();
    for (const step of steps) {
      const listed = (await client.get(`${this.runPath()}/steps/${enc(step)}/tasks`)) as { task_id: string }[] | undefined;
      if (listed === undefined) continue;
      this.stepsReady.set(step, Promise.resolve());
      const have = new Set(listed.map((t) => String(t.task_id)));
      for (const facts of this.tasks.values()) {
        if (facts.step !== step || !have.has(serviceTaskId(facts.taskId))) continue;
        facts.created = true;
        const meta = ((await client.get(`${this.runPath()}/steps/${enc(step)}/tasks/${enc(serviceTaskId(facts.taskId))}/metadata`)) ?? []) as {
          field_name: string;
          tags?: string[];
        }[];
        for (const m of meta) {
          const n = Number((m.tags ?? []).find((t) => t.startsWith('attempt_id:'))?.slice('attempt_id:'.length));
          const a = facts.attempts.get(n);
          if (!a) continue;
          if (m.field_name === 'attempt') a.startSent = true;
          if (m.field_name === 'attempt_ok') a.endSent = true;
          (a.layerSent ??= new Set()).add(m.field_name);
        }
        // Artifacts are registered with the task's last attempt (by this registrar, or by a Step Functions job's runtime).
        if (facts.outcome && facts.outcome !== 'cancelled' && facts.attempts.size) {
          const last = Math.max(...facts.attempts.keys());
          const artifacts = await client.get(`${this.runPath()}/steps/${enc(step)}/tasks/${enc(serviceTaskId(facts.taskId))}/attempt/${last}/artifacts`);
          if (Array.isArray(artifacts) && artifacts.length) facts.artifactsSent = true;
        }
        for (const a of facts.attempts.values()) {
          if (!a.retried) continue;
          const artifacts = await client.get(`${this.runPath()}/steps/${enc(step)}/tasks/${enc(serviceTaskId(facts.taskId))}/attempt/${a.attempt}/artifacts`);
          if (Array.isArray(artifacts) && artifacts.length) a.retriedArtifactsSent = true;
        }
      }
    }
  }
}

/** A metadata item's identity: its field and attempt (each is sent once per attempt). */
const metadataKey = (field: string, tags: readonly string[]): string => `${field}@${tags.find((t) => t.startsWith('attempt_id:')) ?? ''}`;

/** How often a running attempt's new log lines are written to its log files (the run heartbeat checks). */
export const LIVE_LOG_MS = 5_000;

/** How many of a failed attempt's last log lines its `_exception` shows (a Python traceback's worth). */
const EXCEPTION_LOG_LINES = 30;

/**
 * A failed task's `_exception`, as Metaflow registers one for a step that raised: the client's
 * `Task.exception`. Our steps are commands, so the "stacktrace" is the end of what the last attempt
 * wrote to stderr (a Python step's traceback is there), then the failure's own line.
 */
export function taskException(failure: Failure, logTail: readonly string[]): MetaflowExceptionWrapper {
  const type = 'metaflow_cdk.TaskFailed';
  const stacktrace = logTail.length ? `${logTail.join('\n')}\n${type}: ${failure.message}\n` : null;
  return new MetaflowExceptionWrapper(type, failure.message, stacktrace);
}

/** Why a recorded attempt ended as it did: its reason, else its exit code or status. */
const attemptReason = (a: AttemptRecord): string => a.reason ?? (a.exitCode !== null ? `exit code ${a.exitCode}` : a.status);

/** A failed task's record as the runner's Failure (what `register` knows of it). */
function failureOfRecord(t: TaskRecord): Failure {
  const last = t.attempts[t.attempts.length - 1];
  const reason = last ? attemptReason(last) : 'it never started';
  return {
    step: t.step,
    taskId: t.taskId,
    message: failedMessage(t, reason, t.attempts.length),
    exitCode: last?.exitCode ?? null,
    statusReason: last?.status ?? 'error',
    attempts: t.attempts.length,
  };
}

const enc = encodeURIComponent;

/** The keys of `o` whose value is not undefined. */
const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type { TaskRef };

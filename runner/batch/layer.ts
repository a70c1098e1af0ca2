/**
 * The AWS Batch compute layer: the runner's ComputeLayer over the Batch building blocks of this
 * folder — glue, no new mechanism.
 *
 * - `lookUp` + `check`: every step's queue (its own, else the GPU queue for GPU steps, else the
 *   default) looked up once (QueueInspector), then the Batch rules per step on the platform of
 *   its queue (checkBatchFlow).
 * - `submit`: a group of one → one job; a foreach group whose children all come at once → one
 *   array job per ≤10,000 children (BatchSubmitter.submitGroup); a later step of the same body
 *   (`follows`) → its whole array at its first submit, `N_TO_N` on the followed group's array,
 *   each child's result held until the orchestrator releases that child; a retried child (attempt
 *   > 0), or a child whose predecessor did not succeed inside the array → a plain job for its
 *   index. Job definitions come from the step (runner/policy/batch.ts) through the registry.
 * - Every job has the one-container shape of runner/batch/job-shape.ts: the task runtime in the
 *   container mirrors the keys the task's contract names (inputs' committed outputs, items,
 *   input-path lists, caught file) from the S3 datastore under MF_DATASTORE_ROOT, runs the step
 *   in the flow's code package and uploads MF_OUTPUT_DIR to the attempt's key. The datastore
 *   must be S3 and the run's code package uploaded (`codePackageUrl`).
 * - One watcher loop per run (BatchWatcher) turns job states into `started` / `finished`; logs
 *   are tailed from CloudWatch (`all`), or only the last lines after a failure (`failed`).
 * - `cancelAll` / `forceStop` terminate every job of the run not known to be finished.
 */
import type { BatchClient } from '@aws-sdk/client-batch';
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { AttemptRef, attemptName, cachedChildReads, ChildReads, childEnvironment, childTaskId, contractKeys, TASK_ID_PLACEHOLDER, TaskTemplate } from '../contract';
import { layout } from '../datastore/layout';
import { Datastore } from '../datastore/types';
import { FlowGraph } from '../flow/validate';
import { BatchStepOptions, effectivePolicies } from '../policy';
import { AttemptListener, AttemptResult, ChildAttempt, ComputeLayer, LayerContext, TaskGroup } from '../compute/types';
import { ApiCallCounter, apiCallsLine } from './api-calls';
import { attemptResultOf } from './attempt-result';
import { BatchCheckStep, checkBatchFlow } from './check';
import { emptyArgumentProblems, FOREACH_ITEMS_FILE_ENV, TASK_ID_PREFIX_ENV, TaskCode, TaskIo, taskJobDefinition } from './job-shape';
import { REAL_CLOCK } from './clock';
import { JobDefinitionRegistry } from './job-definitions';
import { BATCH_LOG_GROUP, LogTailer } from './log-tailer';
import { QueueInfo, QueueInspector } from './queues';
import { fairShareWithoutTeamProblem } from '../../core/teams';
import { BatchSettings, queueForStep } from './settings';
import { BatchSubmitter, JobTemplate, SubmittedJob } from './submitter';
import { terminateJobs, TerminateResult } from './terminator';
import { BatchWatcher, TaskOutcome, WatchEvent, WatcherOptions } from './watcher';
import { BatchUsageContext, batchStartUsage } from '../usage/batch';

/** `--logs`: follow every task's log, show the last lines of failed tasks only, or nothing. */
export type BatchLogMode = 'all' | 'failed' | 'none';
export const BATCH_LOG_MODES: readonly BatchLogMode[] = ['all', 'failed', 'none'];

export interface BatchComputeLayerOptions {
  readonly settings: BatchSettings;
  readonly batch: BatchClient;
  readonly logs: CloudWatchLogsClient;
  /** Who starts the run: the `metaflow.user` tag of its jobs. @default - no such tag */
  readonly user?: string;
  /** @default 'all' */
  readonly logMode?: BatchLogMode;
  /** CloudWatch streams followed at once (wide foreach steps). @default 20 */
  readonly maxLogStreams?: number;
  /** Between two log polls. @default 5000 */
  readonly logPollMs?: number;
  /**
   * Polls a finished job's stream is read again for lines CloudWatch gets late (log-tailer.ts);
   * the run's end waits for them, at most `drainLogPolls` polls. @default 2
   */
  readonly lateLogPolls?: number;
  /** Polls the run's end waits at most for the last lines of finished jobs. @default 12 */
  readonly drainLogPolls?: number;
  /** Log lines shown after a failure. @default 20 */
  readonly failureLogLines?: number;
  /** Watcher settings (intervals, stuck-RUNNABLE threshold, clock). */
  readonly watcher?: Omit<WatcherOptions, 'calls' | 'queueInfo'>;
  /** Where lines for people go (stuck jobs, spot reclaims, terminations). @default dropped */
  readonly notice?: (line: string) => void;
  /**
   * The run's code package on S3 (runner/package), which every job's loader downloads; required
   * before the first submit.
   * @default - none: submitting fails with a message
   */
  readonly codePackageUrl?: string;
  /**
   * The datastore bucket's region, for the runtime's signed S3 requests.
   * @default - the job's own region
   */
  readonly s3Region?: string;
}

/** How long fetch waits for an input's status.json the runner writes right after committing it. */
export const COMMITTED_INPUT_WAIT_SECONDS = 120;
/** Above this many characters of input prefixes, fetch reads the input-path list from the datastore instead. */
const INLINE_FETCH_KEYS_CHARS = 1024;

/** Which job an event is about: the group, the attempt, and whether it is an array parent. */
interface JobHandle {
  readonly groupId: string;
  readonly attempt: number;
  readonly array: boolean;
}

/** What the layer knows about one group of the orchestrator. */
interface GroupState {
  readonly template: TaskTemplate;
  readonly follows?: string;
  /** The array jobs holding every child at attempt 0, when the group was submitted as one. */
  array?: SubmittedJob[];
  /** Children run outside the array (retries, or their predecessor was not in the array). */
  readonly outside: Set<number>;
  /** Children the orchestrator released at attempt 0 that the array serves. */
  readonly released: Set<number>;
  /** Array children's reports that came before the orchestrator released the child. */
  readonly held: Map<number, { started?: { at: number; externalId: string; logRef?: string }; finished?: { outcome: TaskOutcome; externalId: string } }>;
}

const attemptKey = (groupId: string, index: number, attempt: number) => `${groupId}|${index}|${attempt}`;

export class BatchComputeLayer implements ComputeLayer {
  readonly name = 'batch';
  readonly calls = new ApiCallCounter();
  private readonly settings: BatchSettings;
  private readonly batch: BatchClient;
  private readonly queues: QueueInspector;
  private readonly registry: JobDefinitionRegistry;
  private readonly submitter: BatchSubmitter;
  private readonly watcher: BatchWatcher;
  private readonly tailer: LogTailer;
  private readonly logMode: BatchLogMode;
  private readonly notice: (line: string) => void;
  private readonly stepOptions = new Map<string, BatchStepOptions | undefined>();
  private readonly queueInfo = new Map<string, QueueInfo>();
  /** The run's team: --team / METAFLOW_TEAM, else the flow's (set by check). */
  private team?: string;
  private readonly groups = new Map<string, GroupState>();
  /** Fan-outs (step + task-id prefix + split) that already have their array. */
  private readonly fanOutsWithArray = new Set<string>();
  /** Attempts handed over and not finished yet. */
  private readonly inFlight = new Map<string, AttemptRef>();
  private prepared = false;
  private datastore?: Datastore;
  private listener?: AttemptListener;
  private reads?: ChildReads;
  private submissions: Promise<void> = Promise.resolve();
  private watching?: Promise<void>;
  private tailing?: Promise<void>;
  /** Set by drainLogs: the polls the tail loop has left before the run ends. */
  private drainPollsLeft?: number;
  private cancelled = false;
  private forced = false;
  /** What `cancelAll` terminated (for the CLI and the tests). */
  termination?: TerminateResult;

  constructor(private readonly options: BatchComputeLayerOptions) {
    this.settings = options.settings;
    this.batch = options.batch;
    this.logMode = options.logMode ?? 'all';
    this.notice = options.notice ?? (() => undefined);
    this.queues = new QueueInspector(this.batch, this.calls);
    this.registry = new JobDefinitionRegistry(this.batch, this.calls);
    this.submitter = new BatchSubmitter(this.batch, this.calls);
    this.watcher = new BatchWatcher(this.batch, (e) => this.onWatch(e), {
      ...options.watcher,
      // Running array children are described for their log streams only when logs are followed live.
      childLogStreams: this.logMode === 'all',
      calls: this.calls,
      queueInfo: (q) => this.queues.inspect(q),
    });
    this.tailer = new LogTailer(options.logs, (key, line) => this.onLogLine(key, line), { maxStreams: options.maxLogStreams, latePolls: options.lateLogPolls, calls: this.calls });
  }

  get description(): string {
    const queues = new Set([this.settings.queue, ...[...this.queueInfo.keys()].sort()]);
    return `AWS Batch, queue${queues.size > 1 ? 's' : ''} ${[...queues].join(', ')}`;
  }

  /** Where the jobs log: the metadata service records it per task (runner/metadata). */
  get jobLogs(): { readonly logGroup: string; readonly region?: string } {
    return { logGroup: this.settings.jobLogGroup ?? BATCH_LOG_GROUP, ...(this.settings.region ? { region: this.settings.region } : {}) };
  }

  /** The run's team (recorded in the run record): --team / METAFLOW_TEAM, else the flow's. */
  teamOf(graph: FlowGraph): string | undefined {
    return this.settings.team ?? graph.flow.team;
  }

  /** Each step's queue, looked up once per queue (DescribeJobQueues + DescribeComputeEnvironments). */
  async lookUp(graph: FlowGraph): Promise<void> {
    const wanted = new Set<string>();
    for (const [name, step] of graph.steps) {
      this.stepOptions.set(name, step.batch);
      wanted.add(this.queueOf(graph, name));
    }
    await Promise.all([...wanted].map(async (q) => this.queueInfo.set(q, await this.queues.inspect(q))));
    this.prepared = true;
  }

  private queueOf(graph: FlowGraph, step: string): string {
    const spec = graph.steps.get(step)!;
    const policies = effectivePolicies(spec, { flowDefaults: graph.flow.defaults });
    return queueForStep(this.settings, { queue: spec.batch?.queue, gpu: policies.resources.gpu });
  }

  check(graph: FlowGraph): string[] {
    if (!this.prepared) return ['the Batch layer looks its queues up first (call lookUp(graph) before check)'];
    this.team = this.settings.team ?? graph.flow.team;
    const fairShare = [...this.queueInfo.values()].filter((q) => q.schedulingPolicyArn !== undefined);
    if (fairShare.length > 0 && this.team === undefined) {
      // A fair-share queue refuses a job without a share identifier (HTTP 400): say so before submitting anything.
      return [fairShareWithoutTeamProblem(fairShare.map((q) => q.queue))];
    }
    const steps: BatchCheckStep[] = [];
    for (const [name, step] of graph.steps) {
      steps.push({
        queue: this.queueOf(graph, name),
        input: {
          flow: graph.flow.name,
          step: name,
          image: step.image ?? graph.flow.image ?? '',
          policies: effectivePolicies(step, { flowDefaults: graph.flow.defaults }),
          jobRoleArn: this.settings.jobRoleArn,
          executionRoleArn: this.settings.executionRoleArn,
          assignPublicIp: this.settings.assignPublicIp,
          options: step.batch,
        },
      });
    }
    // Batch refuses an empty command argument (the argv is in the job definition's command).
    const empty = [...graph.steps].flatMap(([name, step]) => emptyArgumentProblems(`step "${name}"`, step.command));
    return [...checkBatchFlow(steps, this.queueInfo), ...empty];
  }

  open(context: LayerContext): void {
    if (!context.datastore.root.startsWith('s3://')) {
      throw new Error(`AWS Batch containers cannot reach the datastore ${context.datastore.root}: run on Batch with an S3 datastore (--datastore s3)`);
    }
    this.datastore = context.datastore;
    this.listener = context.listener;
    this.reads = cachedChildReads((key) => context.datastore.get(key));
  }

  apiCalls(): Record<string, number> {
    return this.calls.snapshot();
  }

  summary(): string[] {
    const lines = [apiCallsLine(this.calls.snapshot())];
    if (this.termination) lines.push(...terminationLines(this.termination));
    return lines;
  }

  // ---- submitting --------------------------------------------------------------------------------

  submit(group: TaskGroup): void {
    if (!this.listener) throw new Error('BatchComputeLayer.submit before open');
    for (const c of group.children) this.inFlight.set(attemptKey(group.template.groupId, c.index, c.attempt), this.ref(group.template, c.index, c.attempt));
    // One submission at a time, in order: a follower's array needs its predecessor's job ids.
    this.submissions = this.submissions.then(() =>
      this.submitNow(group).catch((err: unknown) => {
        for (const c of group.children) this.finish(group.template, c.index, c.attempt, { outcome: 'error', exitCode: null, reason: `could not submit to AWS Batch: ${(err as Error).message}`, finishedAt: Date.now() });
      }),
    );
  }

  private ref(t: TaskTemplate, index: number, attempt: number): AttemptRef {
    return { flow: t.flow, runId: t.runId, step: t.step, taskId: childTaskId(t, index), attempt };
  }

  private groupState(group: TaskGroup): GroupState {
    let gs = this.groups.get(group.template.groupId);
    if (!gs) {
      gs = { template: group.template, follows: group.follows, outside: new Set(), released: new Set(), held: new Map() };
      this.groups.set(group.template.groupId, gs);
    }
    return gs;
  }

  private async submitNow(group: TaskGroup): Promise<void> {
    const t = group.template;
    if (this.cancelled) {
      for (const c of group.children) this.finish(t, c.index, c.attempt, { outcome: 'cancelled', exitCode: null, reason: 'cancelled before it was submitted', finishedAt: Date.now() });
      return;
    }
    const gs = this.groupState(group);
    const base = await this.jobTemplate(t);
    if (t.foreach && !gs.array) await this.maybeSubmitArray(gs, group, base);
    for (const c of group.children) {
      if (gs.array && c.attempt === 0 && !gs.outside.has(c.index) && this.predecessorInArray(gs, c.index)) this.releaseArrayChild(gs, c);
      else await this.submitPlain(gs, base, c);
    }
  }

  /** The group's array, when its children can run as one: all at once, or after an array. */
  private async maybeSubmitArray(gs: GroupState, group: TaskGroup, base: Omit<JobTemplate, 'attempt' | 'env' | 'io'>): Promise<void> {
    const t = group.template;
    const fanOut = `${t.step}|${t.foreach!.taskIdPrefix}|${t.foreach!.split.step}/${t.foreach!.split.taskId}`;
    if (this.fanOutsWithArray.has(fanOut) || group.children.some((c) => c.attempt !== 0)) return;
    const followed = gs.follows ? this.groups.get(gs.follows) : undefined;
    const allAtOnce = !gs.follows && group.children.length === t.foreach!.count;
    if (!allAtOnce && !followed?.array) return;
    this.fanOutsWithArray.add(fanOut);
    const env = await this.arrayEnvironment(t);
    const io = await this.arrayIo(t, env, !!followed);
    gs.array = await this.submitter.submitGroup({ ...base, attempt: 0, env, io }, t.foreach!.count, followed?.array);
    for (const job of gs.array) this.watch({ jobId: job.jobId, size: job.size, firstIndex: job.firstIndex, queue: job.queue, ref: { groupId: t.groupId, attempt: 0, array: true } satisfies JobHandle });
  }

  /** Child i of a follower may use its array child only if child i of every group before it did. */
  private predecessorInArray(gs: GroupState, index: number): boolean {
    if (!gs.follows) return true;
    const prev = this.groups.get(gs.follows);
    return !!prev?.array && !prev.outside.has(index) && this.predecessorInArray(prev, index);
  }

  private releaseArrayChild(gs: GroupState, c: ChildAttempt): void {
    gs.released.add(c.index);
    const held = gs.held.get(c.index);
    if (!held) return;
    gs.held.delete(c.index);
    if (held.started) this.reportStarted(gs.template, c.index, 0, held.started.at, held.started.externalId, held.started.logRef);
    if (held.finished) void this.reportFinished(gs.template, c.index, 0, held.finished.outcome, held.finished.externalId);
  }

  private async submitPlain(gs: GroupState, base: Omit<JobTemplate, 'attempt' | 'env' | 'io'>, c: ChildAttempt): Promise<void> {
    const t = gs.template;
    gs.outside.add(c.index);
    const ref = this.ref(t, c.index, c.attempt);
    const env = await childEnvironment(t, c.index, c.attempt, this.reads!);
    const io = await this.plainIo(ref, env);
    const template: JobTemplate = { ...base, attempt: c.attempt, env, io };
    const job = t.foreach ? await this.submitter.resubmitChild(template, c.index, childTaskId(t, c.index)) : await this.submitter.submitTask(template, childTaskId(t, c.index));
    this.watch({ jobId: job.jobId, size: 1, firstIndex: c.index, queue: job.queue, ref: { groupId: t.groupId, attempt: c.attempt, array: false } satisfies JobHandle });
  }

  /** The S3 datastore root (open() refuses any other). */
  private get s3Root(): string {
    return this.datastore!.root;
  }

  /**
   * What one task's helpers move: each input's committed outputs (once its status.json exists —
   * the runner writes it right after the commit), the contract's files its environment names,
   * and its output to the attempt's key. A long input list goes to fetch as the list's key.
   */
  private async plainIo(ref: AttemptRef, env: Readonly<Record<string, string>>): Promise<TaskIo> {
    let fetchLists: string[] = [];
    let inputs: string[] = [];
    if (env.MF_INPUT_PATHS_FILE) fetchLists = [env.MF_INPUT_PATHS_FILE];
    else inputs = (env.MF_INPUT_PATHS ?? '').split(',').filter(Boolean);
    if (inputs.join('/ ').length > INLINE_FETCH_KEYS_CHARS) {
      const key = contractKeys.inputPaths(ref);
      await this.datastore!.put(key, inputs.join('\n') + '\n');
      fetchLists = [key];
      inputs = [];
    }
    const files = [env.MF_FOREACH_ITEM_FILE, env.MF_CAUGHT_FILE].filter((k): k is string => !!k);
    return {
      datastoreUrl: this.s3Root!,
      fetchKeys: [...files, ...inputs.map((p) => `${p}/`)],
      ...(fetchLists.length ? { fetchLists } : {}),
      waitKeys: inputs.map((p) => layout.taskStatus(p)),
      waitSeconds: COMMITTED_INPUT_WAIT_SECONDS,
      outputKey: this.datastore!.attemptOutputs(ref),
    };
  }

  /**
   * What every child of an array moves (`{taskId}` resolved by the helpers): the items file, the
   * inputs (a later body step started by N_TO_N waits as long as the predecessor may run), the
   * caught file, and the output to the child's attempt-0 key.
   */
  private async arrayIo(t: TaskTemplate, env: Readonly<Record<string, string>>, follows: boolean): Promise<TaskIo> {
    const inputs = t.inputPathsFile !== undefined ? [] : (t.inputPaths ?? []);
    const files = [env[FOREACH_ITEMS_FILE_ENV], env.MF_CAUGHT_FILE].filter((k): k is string => !!k);
    return {
      datastoreUrl: this.s3Root!,
      fetchKeys: [...files, ...inputs.map((p) => `${p}/`)],
      ...(t.inputPathsFile !== undefined ? { fetchLists: [t.inputPathsFile] } : {}),
      waitKeys: inputs.map((p) => layout.taskStatus(p)),
      ...(follows ? {} : { waitSeconds: COMMITTED_INPUT_WAIT_SECONDS }),
      outputKey: this.datastore!.attemptOutputs({ flow: t.flow, runId: t.runId, step: t.step, taskId: TASK_ID_PLACEHOLDER, attempt: 0 }),
    };
  }

  /** The overrides every child of an array shares; child values derive in the container (the task runtime). */
  private async arrayEnvironment(t: TaskTemplate): Promise<Record<string, string>> {
    return {
      ...t.env,
      MF_RETRY_COUNT: '0',
      [TASK_ID_PREFIX_ENV]: t.foreach!.taskIdPrefix,
      [FOREACH_ITEMS_FILE_ENV]: contractKeys.foreachItems(t.foreach!.split),
      ...(t.inputPathsFile !== undefined ? { MF_INPUT_PATHS_FILE: t.inputPathsFile } : { MF_INPUT_PATHS: (t.inputPaths ?? []).join(',') }),
    };
  }

  private async jobTemplate(t: TaskTemplate): Promise<Omit<JobTemplate, 'attempt' | 'env' | 'io'>> {
    const options = this.stepOptions.get(t.step);
    const queue = queueForStep(this.settings, { queue: options?.queue, gpu: t.policies.resources.gpu });
    const info = this.queueInfo.get(queue) ?? (await this.queues.inspect(queue));
    const input = {
      flow: t.flow,
      step: t.step,
      image: t.image ?? '',
      policies: t.policies,
      platform: info.platform ?? 'EC2',
      jobRoleArn: this.settings.jobRoleArn,
      executionRoleArn: this.settings.executionRoleArn,
      assignPublicIp: this.settings.assignPublicIp,
      options,
      logGroup: this.settings.jobLogGroup,
    };
    const definition = taskJobDefinition(input, t.command);
    return {
      flow: t.flow,
      runId: t.runId,
      step: t.step,
      queue: info.arn ?? queue,
      jobDefinition: await this.registry.ensure(definition),
      definition,
      code: this.code(),
      tags: options?.tags,
      owner: { team: this.team, user: this.options.user },
      ...(info.schedulingPolicyArn && this.team ? { share: { identifier: this.team, priority: options?.schedulingPriority ?? 0 } } : {}),
    };
  }

  private code(): TaskCode {
    if (!this.options.codePackageUrl) throw new Error('no code package for the run: the Batch layer needs BatchComputeLayerOptions.codePackageUrl (the CLI uploads one per run)');
    return { codeUrl: this.options.codePackageUrl, ...(this.options.s3Region ? { region: this.options.s3Region } : {}) };
  }

  // ---- watching ----------------------------------------------------------------------------------

  private watch(job: Parameters<BatchWatcher['add']>[0]): void {
    this.watcher.add(job);
    this.watching ??= this.watchLoop().finally(() => (this.watching = undefined));
  }

  private async watchLoop(): Promise<void> {
    const clock = this.options.watcher?.clock ?? REAL_CLOCK;
    while (!this.cancelled && this.watcher.watching.length > 0) {
      try {
        await this.watcher.run();
      } catch (err) {
        // Throttling is absorbed by the SDK's retry strategy; anything else is said and retried.
        this.notice(`AWS Batch: DescribeJobs failed (${(err as Error).message}); trying again`);
        await clock.sleep(this.options.watcher?.minIntervalMs ?? 5000);
      }
    }
  }

  private onWatch(e: WatchEvent): void {
    if (this.forced) return; // the process is quitting: nothing more is reported
    const handle = e.job.ref as JobHandle;
    const gs = this.groups.get(handle.groupId);
    if (!gs) return;
    if (e.type === 'stuck') {
      this.notice(`[${gs.template.step}] job ${e.job.jobId} has been RUNNABLE since ${new Date(e.since).toISOString()}: ${e.explanation}`);
      return;
    }
    if (e.type === 'progress') return;
    const index = e.childIndex ?? 0;
    // an array child is `<parent>:<child>`; a chunk of one child is a plain job
    const externalId = e.job.size > 1 ? `${e.job.jobId}:${index - (e.job.firstIndex ?? 0)}` : e.job.jobId;
    const servedNow = !handle.array || gs.released.has(index);
    if (e.type === 'started') {
      if (servedNow) this.reportStarted(gs.template, index, handle.attempt, e.at, externalId, e.logStreamName);
      else {
        const held = gs.held.get(index) ?? {};
        gs.held.set(index, { ...held, started: { at: e.at, externalId, logRef: e.logStreamName } });
      }
      return;
    }
    if (handle.array && gs.outside.has(index)) return; // the child runs as its own job
    if (servedNow) void this.reportFinished(gs.template, index, handle.attempt, e.outcome, externalId);
    else gs.held.set(index, { ...gs.held.get(index), finished: { outcome: e.outcome, externalId } });
  }

  private reportStarted(t: TaskTemplate, index: number, attempt: number, at: number, externalId: string, logRef?: string): void {
    const ref = this.ref(t, index, attempt);
    this.listener!.started(ref, { at, externalId, logRef, usage: batchStartUsage(t.policies.resources, this.queueInfoOf(t)) });
    if (this.logMode === 'all' && logRef) this.follow(attemptKey(t.groupId, index, attempt), logRef);
  }

  private async reportFinished(t: TaskTemplate, index: number, attempt: number, outcome: TaskOutcome, externalId: string): Promise<void> {
    const key = attemptKey(t.groupId, index, attempt);
    const ref = this.ref(t, index, attempt);
    // Started late or never seen running (an array child, a job that failed fast): say so first.
    if (outcome.startedAt !== undefined) this.listener!.started(ref, { at: outcome.startedAt, externalId, logRef: outcome.logStreamName, usage: batchStartUsage(t.policies.resources, this.queueInfoOf(t)) });
    const followed = this.logMode === 'all' && outcome.logStreamName !== undefined;
    if (followed) this.follow(key, outcome.logStreamName!);
    const result = this.attemptResult(ref, outcome, externalId, { queue: this.queueInfoOf(t), requested: t.policies.resources });
    if (outcome.status === 'FAILED' && outcome.logStreamName && this.logMode === 'failed') {
      try {
        for (const line of await this.tailer.lastLines({ group: this.settings.jobLogGroup, stream: outcome.logStreamName }, this.options.failureLogLines ?? 20)) this.listener!.log(ref, 'stderr', line);
      } catch (err) {
        this.notice(`[${attemptName(ref)}] could not read the end of its log ${outcome.logStreamName}: ${(err as Error).message}`);
      }
    }
    this.finish(t, index, attempt, result);
    if (followed) this.tailer.finish(key); // drained at the next poll: late lines keep their attempt
  }

  /** The queue a task's jobs go to, as looked up for the run (for the usage's compute environment). */
  private queueInfoOf(t: TaskTemplate): QueueInfo | undefined {
    return this.queueInfo.get(queueForStep(this.settings, { queue: this.stepOptions.get(t.step)?.queue, gpu: t.policies.resources.gpu }));
  }

  private attemptResult(ref: AttemptRef, o: TaskOutcome, externalId: string, usage: BatchUsageContext): AttemptResult {
    const retries = o.infrastructureRetries;
    if (retries.length > 0) {
      this.notice(`[${attemptName(ref)}] info: AWS Batch ran it again after losing its host (spot reclaim or host loss): ${retries.map((r) => r.statusReason).join('; ')}`);
    }
    return attemptResultOf(o, externalId, this.cancelled, usage);
  }

  private finish(t: TaskTemplate, index: number, attempt: number, result: AttemptResult): void {
    const key = attemptKey(t.groupId, index, attempt);
    const ref = this.inFlight.get(key) ?? this.ref(t, index, attempt);
    this.inFlight.delete(key);
    this.listener!.finished(ref, result);
  }

  // ---- logs --------------------------------------------------------------------------------------

  private follow(key: string, stream: string): void {
    this.tailer.follow(key, { group: this.settings.jobLogGroup, stream });
    this.tailing ??= this.tailLoop().finally(() => (this.tailing = undefined));
  }

  private async tailLoop(): Promise<void> {
    const clock = this.options.watcher?.clock ?? REAL_CLOCK;
    const { active, waiting } = this.tailer.following;
    let busy = active.length + waiting.length > 0;
    while (busy) {
      try {
        await this.tailer.poll();
      } catch (err) {
        this.notice(`CloudWatch Logs: ${(err as Error).message}; trying again`);
      }
      if (this.drainPollsLeft !== undefined) this.drainPollsLeft--;
      const now = this.tailer.following;
      busy = !this.cancelled && now.active.length + now.waiting.length > 0 && (this.drainPollsLeft === undefined || this.drainPollsLeft > 0);
      if (busy) await clock.sleep(this.options.logPollMs ?? 5000);
    }
  }

  /**
   * The run's end: every job finished, their streams are read to the end and again for late
   * lines (at most `drainLogPolls` polls); what is still unread then is one notice.
   */
  async drainLogs(): Promise<void> {
    if (!this.tailing) return;
    this.drainPollsLeft = this.options.drainLogPolls ?? 12;
    await this.tailing;
    const { active, waiting } = this.tailer.following;
    const left = active.length + waiting.length;
    if (left && !this.cancelled) {
      this.notice(`CloudWatch Logs: the last lines of ${left} job${left === 1 ? '' : 's'} were not read before the run ended: their copies in the datastore may lack them (CloudWatch Logs group ${this.settings.jobLogGroup ?? BATCH_LOG_GROUP} has them)`);
    }
  }

  private onLogLine(key: string, line: string): void {
    const [groupId, index, attempt] = key.split('|');
    const gs = this.groups.get(groupId);
    if (gs) this.listener!.log(this.ref(gs.template, Number(index), Number(attempt)), 'stdout', line);
  }

  // ---- stopping ----------------------------------------------------------------------------------

  /** Jobs of the run not known to be finished. */
  jobsLeft(): string[] {
    return this.watcher.states.filter((s) => s.status !== 'SUCCEEDED' && s.status !== 'FAILED').map((s) => s.jobId);
  }

  async cancelAll(reason: string): Promise<void> {
    this.cancelled = true;
    // Submissions in flight finish first, so the jobs they create are terminated too.
    await this.submissions;
    const jobs = this.watcher.states;
    this.termination = await terminateJobs(this.batch, jobs, `metaflow-cdk: ${reason}`.slice(0, 1024), this.calls);
    for (const line of terminationLines(this.termination)) this.notice(line);
    for (const job of jobs) this.watcher.remove(job.jobId);
    this.watcher.stop();
    for (const [key, ref] of [...this.inFlight]) {
      this.inFlight.delete(key);
      this.listener!.finished(ref, { outcome: 'cancelled', exitCode: null, reason: `cancelled: ${reason}`, finishedAt: Date.now() });
    }
  }

  forceStop(): void {
    this.cancelled = true;
    this.forced = true;
    this.watcher.stop();
    const left = this.jobsLeft();
    if (left.length === 0) return;
    this.notice(`quitting at once; TerminateJob sent but not confirmed for ${left.length} job${left.length > 1 ? 's' : ''}: ${left.join(', ')}`);
    for (const jobId of left) void terminateJobs(this.batch, [{ jobId }], 'metaflow-cdk: forced quit', this.calls).catch(() => undefined);
  }
}

/** What a termination did, for people. */
export function terminationLines(r: TerminateResult): string[] {
  const lines = [`terminated ${r.terminated.length} AWS Batch job${r.terminated.length === 1 ? '' : 's'}${r.terminated.length ? `: ${r.terminated.join(', ')}` : ''}`];
  if (r.alreadyFinished.length) lines.push(`already finished: ${r.alreadyFinished.length}`);
  for (const f of r.failed) lines.push(`could not terminate ${f.jobId}: ${f.error} (stop it with \`metaflow-cdk jobs kill --run <id>\` or the console)`);
  return lines;
}

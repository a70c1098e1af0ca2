/**
 * A simulated AWS Batch behind aws-sdk-client-mock, for the layer's tests: it records every call
 * with its exact input, and plays the container's part — each job (or array child) whose
 * dependencies succeeded runs as AWS would run it, in a root file system standing in for its
 * image (test/support/batch-job-player.ts: bubblewrap, the definition's command and environment
 * with SubmitJob's overrides, container credentials, S3 on the moto_server given to the
 * constructor), never on the host. A test can replace a child's run with a scripted outcome (OOM,
 * CannotPull, spot reclaim in the attempt history, timeout).
 *
 * Like a compute environment's capacity, at most {@link FakeBatch.maxRunning} containers play at
 * once: a child whose dependencies succeeded stays RUNNABLE until a slot frees, so a wide foreach
 * does not start dozens of sandboxes on the test machine at the same time.
 */
import {
  AttemptDetail,
  BatchClient,
  ComputeEnvironmentDetail,
  DescribeComputeEnvironmentsCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobQueuesCommand,
  DescribeJobsCommand,
  JobDetail,
  ListJobsCommand,
  RegisterJobDefinitionCommand,
  SubmitJobCommand,
  SubmitJobCommandInput,
  TerminateJobCommand,
} from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { environmentMap } from '../../../runner/batch/job-shape';
import { playContainerJob } from '../../support/batch-job-player';

export const QUEUE_ARN = 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow';
export const GPU_QUEUE_ARN = 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow-gpu';

/** A scripted end for one child instead of running its command. */
export interface Scripted {
  readonly exitCode?: number;
  readonly reason?: string;
  readonly statusReason?: string;
  /** Earlier Batch attempts (e.g. a spot reclaim) before this one. */
  readonly attemptsBefore?: readonly AttemptDetail[];
  /** Run the command anyway (the scripted history only adds earlier attempts). */
  readonly run?: boolean;
  /** What the container printed before it ended. */
  readonly lines?: readonly string[];
  /** Stay RUNNING until terminated. */
  readonly hang?: boolean;
}

interface Child {
  status: 'SUBMITTED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  exitCode?: number;
  reason?: string;
  statusReason?: string;
  startedAt?: number;
  stoppedAt?: number;
  attempts: AttemptDetail[];
  logStream?: string;
  kill?: () => void;
  /** ECS StopTask: SIGTERM to the main process, SIGKILL after the grace period. */
  stop?: (graceMs: number) => void;
}

interface Job {
  readonly id: string;
  readonly input: SubmitJobCommandInput;
  readonly size: number;
  readonly children: Child[];
}

export class FakeBatch {
  readonly batch = mockClient(BatchClient);
  readonly logs = mockClient(CloudWatchLogsClient);
  readonly jobs = new Map<string, Job>();
  readonly submitted: SubmitJobCommandInput[] = [];
  readonly terminated: string[] = [];
  /** Registered job definitions by ARN. */
  readonly definitions = new Map<string, RegisterJobDefinitionCommandInput>();
  /** Log lines per stream (the container's stdout). */
  readonly streams = new Map<string, string[]>();
  /** Per `<step>/<index>/<attempt tag>`: a scripted outcome. */
  script: (step: string, index: number, attempt: number) => Scripted | undefined = () => undefined;
  /** Called before each SubmitJob answers (a test's Ctrl-C during submission). */
  onSubmit?: (input: SubmitJobCommandInput) => void;
  /** How many containers play at once (Batch capacity); the rest stay RUNNABLE. Scripted ends take no slot. */
  maxRunning = 4;
  /** TerminateJob stops a running container as ECS does: SIGTERM, then SIGKILL after this long (30 s on ECS). */
  stopGraceMs = 2000;
  /** Containers playing now. */
  private playing = 0;
  /** The most that ever played at once (for tests of the cap). */
  maxPlayedAtOnce = 0;
  /** What DescribeComputeEnvironments answers (every queue has the one named `ce` unless a test changes this). */
  computeEnvironments: ComputeEnvironmentDetail[];
  /** Adds what a test needs to a job's DescribeJobs detail (e.g. the task ARN naming its ECS cluster). */
  describeWith?: (detail: JobDetail, input: SubmitJobCommandInput, definition: RegisterJobDefinitionCommandInput | undefined) => JobDetail;
  private next = 0;

  constructor(
    readonly platform: 'EC2' | 'FARGATE' = 'EC2',
    queues: Record<string, { state?: string; status?: string }> = {},
    /** The S3 endpoint the jobs' task runtime talks to (moto_server). */
    readonly s3Endpoint?: string,
  ) {
    this.batch.on(DescribeJobQueuesCommand).callsFake(({ jobQueues }) => {
      const name = jobQueues[0];
      if (name === 'missing') return { jobQueues: [] };
      const q = queues[name] ?? {};
      return {
        jobQueues: [
          {
            jobQueueName: name,
            jobQueueArn: name === 'gpu' ? GPU_QUEUE_ARN : name.startsWith('arn:') ? name : QUEUE_ARN,
            state: q.state ?? 'ENABLED',
            status: q.status ?? 'VALID',
            priority: 1,
            computeEnvironmentOrder: this.computeEnvironments.map((ce, i) => ({ order: i + 1, computeEnvironment: ce.computeEnvironmentName })),
          },
        ],
      };
    });
    this.computeEnvironments = [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', state: 'ENABLED', status: 'VALID', computeResources: { type: platform === 'EC2' ? 'EC2' : 'FARGATE', maxvCpus: 256, subnets: [] } as never }];
    this.batch.on(DescribeComputeEnvironmentsCommand).callsFake(() => ({ computeEnvironments: this.computeEnvironments }));
    this.batch.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
    this.batch.on(RegisterJobDefinitionCommand).callsFake((input: RegisterJobDefinitionCommandInput) => {
      const arn = `arn:jd/${input.jobDefinitionName}:1`;
      this.definitions.set(arn, input);
      return { jobDefinitionName: input.jobDefinitionName, jobDefinitionArn: arn, revision: 1 };
    });
    this.batch.on(SubmitJobCommand).callsFake((input: SubmitJobCommandInput) => {
      this.onSubmit?.(input);
      const id = `job-${++this.next}`;
      const size = input.arrayProperties?.size ?? 1;
      this.submitted.push(input);
      this.jobs.set(id, { id, input, size, children: Array.from({ length: size }, () => ({ status: 'SUBMITTED' as const, attempts: [] })) });
      return { jobId: id, jobName: input.jobName, jobArn: `arn:job/${id}` };
    });
    this.batch.on(DescribeJobsCommand).callsFake(({ jobs }: { jobs: string[] }) => {
      this.advance();
      return { jobs: jobs.map((id) => this.describe(id)).filter((j): j is JobDetail => !!j) };
    });
    this.batch.on(ListJobsCommand).callsFake(({ arrayJobId, jobStatus, jobQueue, filters }) => {
      if (!arrayJobId) {
        // a queue's jobs by name prefix (the JOB_NAME filter `<prefix>*`, as findRunJobs asks), any status
        const prefix = String(filters?.[0]?.values?.[0] ?? '').replace(/\*$/, '');
        const top = [...this.jobs.values()].filter((j) => (j.input.jobQueue === jobQueue || jobQueue === undefined) && j.input.jobName!.startsWith(prefix));
        return { jobSummaryList: top.map((j) => ({ jobId: j.id, jobName: j.input.jobName, status: this.jobStatus(j.id) })) };
      }
      const job = this.jobs.get(arrayJobId);
      const list = (job?.children ?? []).flatMap((c, i) => (c.status === jobStatus ? [{ jobId: `${arrayJobId}:${i}`, jobName: job!.input.jobName, status: c.status }] : []));
      return { jobSummaryList: list };
    });
    this.batch.on(TerminateJobCommand).callsFake(({ jobId }) => {
      this.terminated.push(jobId);
      const job = this.jobs.get(jobId);
      for (const c of job?.children ?? []) {
        if (c.status === 'SUCCEEDED' || c.status === 'FAILED') continue;
        if (c.stop) c.stop(this.stopGraceMs);
        else c.kill?.();
        Object.assign(c, { status: 'FAILED', statusReason: 'Terminated by the runner', stoppedAt: Date.now() });
      }
      return {};
    });
    this.logs.on(GetLogEventsCommand).callsFake(({ logStreamName, startFromHead, nextToken, limit }) => {
      const lines = this.streams.get(logStreamName);
      if (!lines) throw Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' });
      if (!startFromHead) return { events: lines.slice(-(limit ?? 20)).map((message) => ({ message, timestamp: 1 })), nextForwardToken: `f/${lines.length}` };
      const from = nextToken ? Number(String(nextToken).slice(2)) : 0;
      return { events: lines.slice(from).map((message) => ({ message, timestamp: 1 })), nextForwardToken: `f/${lines.length}` };
    });
  }

  restore(): void {
    // A test that ended early (failed, timed out) leaves no job's process running into the next one.
    for (const job of this.jobs.values()) for (const c of job.children) if (c.status === 'RUNNING') c.kill?.();
    this.batch.restore();
    this.logs.restore();
  }

  /** Inputs of every call of one command class. */
  inputs<T>(command: abstract new (...args: never[]) => { input: T }): T[] {
    const mock = command.name === 'GetLogEventsCommand' ? this.logs : this.batch;
    return (mock as unknown as { commandCalls(c: unknown): { args: [{ input: T }] }[] }).commandCalls(command).map((c) => c.args[0].input);
  }

  private childStatus(jobId: string, index: number): Child['status'] | undefined {
    return this.jobs.get(jobId)?.children[index]?.status;
  }

  /** Start every child whose dependencies succeeded, as long as there is capacity. */
  private advance(): void {
    for (const job of this.jobs.values()) {
      job.children.forEach((child, i) => {
        if (child.status !== 'SUBMITTED') return;
        const deps = job.input.dependsOn ?? [];
        const states = deps.map((d) => (d.type === 'N_TO_N' ? this.childStatus(d.jobId!, i) : this.jobStatus(d.jobId!)));
        if (states.some((s) => s === 'FAILED')) {
          Object.assign(child, { status: 'FAILED', statusReason: 'Dependent Job failed', stoppedAt: Date.now() });
          return;
        }
        if (states.every((s) => s === 'SUCCEEDED') && (this.playing < this.maxRunning || this.scriptedEnd(job, i))) this.start(job, i, child);
      });
    }
  }

  private jobStatus(id: string): string | undefined {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    if (job.children.every((c) => c.status === 'SUCCEEDED')) return 'SUCCEEDED';
    if (job.children.every((c) => c.status === 'SUCCEEDED' || c.status === 'FAILED')) return 'FAILED';
    return job.children.some((c) => c.status !== 'SUBMITTED') ? 'RUNNING' : 'RUNNABLE';
  }

  /** The scripted outcome of child `index` of `job`, if a test scripted one. */
  private scripted(job: Job, index: number): Scripted | undefined {
    const env = environmentMap(job.input.containerOverrides?.environment);
    const foreachIndex = Number(env.MF_ARRAY_INDEX_OFFSET ?? 0) + (job.size > 1 ? index : 0);
    return this.script(job.input.tags?.['metaflow.step'] ?? '', foreachIndex, Number(job.input.tags?.['metaflow.attempt'] ?? 0));
  }

  /** A child that ends (or hangs) as scripted, without a container: it needs no slot. */
  private scriptedEnd(job: Job, index: number): boolean {
    const scripted = this.scripted(job, index);
    return !!scripted && (scripted.hang === true || !scripted.run);
  }

  private start(job: Job, index: number, child: Child): void {
    const definition = this.definitions.get(job.input.jobDefinition!);
    const scripted = this.scripted(job, index);
    const stream = `metaflow/default/${job.id}-${index}`;
    child.status = 'RUNNING';
    child.startedAt = Date.now();
    child.logStream = stream;
    child.attempts = [...(scripted?.attemptsBefore ?? [])];
    const lines: string[] = [...(scripted?.lines ?? [])];
    this.streams.set(stream, lines);
    if (scripted?.hang) return;
    if (scripted && !scripted.run) {
      Object.assign(child, { status: scripted.exitCode === 0 ? 'SUCCEEDED' : 'FAILED', exitCode: scripted.exitCode, reason: scripted.reason, statusReason: scripted.statusReason, stoppedAt: Date.now() });
      child.attempts.push({ container: { exitCode: scripted.exitCode, reason: scripted.reason, logStreamName: stream }, statusReason: scripted.statusReason, startedAt: child.startedAt, stoppedAt: child.stoppedAt });
      return;
    }
    if (!definition) throw new Error(`FakeBatch: job ${job.id} names an unregistered job definition ${job.input.jobDefinition}`);
    if (!this.s3Endpoint) throw new Error('FakeBatch: running a job needs the S3 endpoint (constructor) its task runtime talks to');
    const jobId = job.size > 1 ? `${job.id}:${index}` : job.id;
    this.playing += 1;
    this.maxPlayedAtOnce = Math.max(this.maxPlayedAtOnce, this.playing);
    void playContainerJob(definition, job.input.containerOverrides, {
      endpoint: this.s3Endpoint,
      jobId,
      ...(job.size > 1 ? { arrayIndex: index } : {}),
      onKill: (kill) => (child.kill = kill),
      onStop: (stop) => (child.stop = stop),
      onLine: (line) => lines.push(line),
    })
      .finally(() => (this.playing -= 1))
      .then(
      (played) => {
        if (child.status !== 'RUNNING') return;
        const ok = played.exitCode === 0;
        const statusReason = played.reason ? `Task failed to start` : 'Essential container in task exited';
        Object.assign(child, { status: ok ? 'SUCCEEDED' : 'FAILED', exitCode: played.exitCode, reason: played.reason, statusReason, stoppedAt: Date.now() });
        child.attempts.push({ container: { exitCode: played.exitCode, reason: played.reason, logStreamName: stream }, statusReason, startedAt: child.startedAt, stoppedAt: child.stoppedAt });
      },
      (err: Error) => {
        lines.push(`FakeBatch: ${err.message}`);
        Object.assign(child, { status: 'FAILED', reason: `FakeBatch could not play the job: ${err.message}`, statusReason: 'Task failed to start', stoppedAt: Date.now() });
      },
    );
  }

  private describe(id: string): JobDetail | undefined {
    const [parentId, indexText] = id.split(':');
    const job = this.jobs.get(parentId);
    if (!job) return undefined;
    const base = { jobName: job.input.jobName!, jobQueue: job.input.jobQueue!, jobDefinition: job.input.jobDefinition!, tags: job.input.tags, createdAt: 1 };
    const childDetail = (c: Child, i?: number): JobDetail => {
      const detail: JobDetail = {
        ...base,
        jobId: i === undefined ? parentId : `${parentId}:${i}`,
        status: c.status === 'SUBMITTED' ? 'RUNNABLE' : c.status,
        statusReason: c.statusReason,
        startedAt: c.startedAt,
        stoppedAt: c.stoppedAt,
        attempts: c.attempts,
        container: { exitCode: c.exitCode, reason: c.reason, logStreamName: c.logStream, environment: job.input.containerOverrides?.environment, resourceRequirements: [{ type: 'MEMORY', value: '1024' }] },
        ...(i !== undefined ? { arrayProperties: { index: i } } : {}),
      };
      return this.describeWith ? this.describeWith(detail, job.input, this.definitions.get(job.input.jobDefinition!)) : detail;
    };
    if (indexText !== undefined) return childDetail(job.children[Number(indexText)], Number(indexText));
    if (job.size === 1) return childDetail(job.children[0]);
    const summary: Record<string, number> = {};
    for (const c of job.children) summary[c.status === 'SUBMITTED' ? 'RUNNABLE' : c.status] = (summary[c.status === 'SUBMITTED' ? 'RUNNABLE' : c.status] ?? 0) + 1;
    return { ...base, startedAt: undefined as never, jobId: parentId, status: this.jobStatus(parentId) as JobDetail['status'], arrayProperties: { size: job.size, statusSummary: summary } };
  }
}

/**
 * SubmitJob for tasks and foreach groups. A single task is one job. A foreach group of N
 * children is ONE array job per ≤10,000 children (a chunk of one child is a plain job); each
 * chunk carries MF_ARRAY_INDEX_OFFSET so a child's foreach index is offset +
 * AWS_BATCH_JOB_ARRAY_INDEX. A later step of the same foreach body depends element-wise on the
 * previous one (`N_TO_N`, chunk by chunk). A failed child is retried alone as a plain job with
 * the same rule — the orchestrator decides when (its retry delay) and calls {@link resubmitChild}.
 */
import { BatchClient, JobDependency, SubmitJobCommand, SubmitJobCommandInput, SubmitJobCommandOutput } from '@aws-sdk/client-batch';
import { BATCH_LIMITS, batchJobTags, BatchTaskIdentity } from '../policy/batch';
import { ApiCallCounter } from './api-calls';
import { arrayJobName, taskJobName } from './names';
import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { ARRAY_INDEX_OFFSET_ENV, checkSubmitJobSize, TaskCode, taskContainerOverrides, TaskIo } from './job-shape';

/** What every job of a task or group shares. */
export interface JobTemplate {
  readonly flow: string;
  readonly runId: string;
  readonly step: string;
  readonly attempt: number;
  readonly queue: string;
  /** The registered definition's name (or ARN). */
  readonly jobDefinition: string;
  /** The definition itself: its command counts toward ECS's budget with the overrides (job-shape.ts). */
  readonly definition: Pick<RegisterJobDefinitionCommandInput, 'containerProperties'>;
  /** The task contract; for a group, the same for every child (per-child values derive from the index). */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The job's share on a fair-share queue: SubmitJob's `shareIdentifier` and
   * `schedulingPriorityOverride`. Only for a queue with a scheduling policy (Batch refuses a
   * share on a FIFO queue, and a job without one on a fair-share queue).
   */
  readonly share?: { readonly identifier: string; readonly priority: number };
  /** The run's team and user, for the `metaflow.team` / `metaflow.user` tags. */
  readonly owner?: { readonly team?: string; readonly user?: string };
  /** User tags (validated by checkBatchStep). */
  readonly tags?: Readonly<Record<string, string>>;
  /** What the task runtime moves (for a group, every child's, with `{taskId}` placeholders). */
  readonly io: TaskIo;
  /** The code package and its region. */
  readonly code: TaskCode;
}

/** One submitted job: a plain job (size 1) or an array parent. */
export interface SubmittedJob {
  readonly jobId: string;
  readonly jobName: string;
  readonly queue: string;
  /** 1 for a plain job. */
  readonly size: number;
  /** Foreach index of child 0. */
  readonly firstIndex: number;
}

/** Split `count` children into chunks of ≤10,000 (each 2–10,000, or a single plain job). */
export function arrayChunks(count: number): { firstIndex: number; size: number }[] {
  if (!Number.isInteger(count) || count < 1) throw new Error(`a foreach group needs at least one child, got ${count}`);
  const chunks: { firstIndex: number; size: number }[] = [];
  for (let first = 0; first < count; first += BATCH_LIMITS.maxArraySize) {
    chunks.push({ firstIndex: first, size: Math.min(BATCH_LIMITS.maxArraySize, count - first) });
  }
  return chunks;
}

export class BatchSubmitter {
  constructor(
    private readonly batch: BatchClient,
    readonly calls: ApiCallCounter = new ApiCallCounter(),
  ) {}

  /** One task: one plain job. `dependsOn` are job IDs it must wait for. */
  async submitTask(template: JobTemplate, taskId: string, dependsOn: readonly string[] = []): Promise<SubmittedJob> {
    const identity: BatchTaskIdentity = { flow: template.flow, runId: template.runId, step: template.step, taskId, attempt: template.attempt };
    const jobName = taskJobName(template.flow, template.runId, template.step, taskId, template.attempt);
    return this.send(template, identity, jobName, 0, 1, dependsOn.map((jobId) => ({ jobId })), template.env);
  }

  /**
   * A foreach group of `count` children. With `after` (the previous body step's group, same
   * count), chunk i depends on chunk i N_TO_N (a single-child chunk: a plain dependency).
   */
  async submitGroup(template: JobTemplate, count: number, after?: readonly SubmittedJob[]): Promise<SubmittedJob[]> {
    const chunks = arrayChunks(count);
    if (after && (after.length !== chunks.length || after.some((job, i) => job.size !== chunks[i].size))) {
      throw new Error(`step "${template.step}": an element-wise dependency needs groups of the same size (${count} children vs ${after.reduce((n, j) => n + j.size, 0)})`);
    }
    const submitted: SubmittedJob[] = [];
    for (const [i, chunk] of chunks.entries()) {
      const previous = after?.[i];
      const dependsOn: JobDependency[] = previous ? [chunk.size > 1 ? { jobId: previous.jobId, type: 'N_TO_N' } : { jobId: previous.jobId }] : [];
      const identity: BatchTaskIdentity = {
        flow: template.flow,
        runId: template.runId,
        step: template.step,
        taskId: `${chunk.firstIndex}_${chunk.firstIndex + chunk.size - 1}`,
        attempt: template.attempt,
      };
      const jobName = arrayJobName(template.flow, template.runId, template.step, chunk.firstIndex, chunk.size, template.attempt);
      const env = { ...template.env, [ARRAY_INDEX_OFFSET_ENV]: String(chunk.firstIndex) };
      submitted.push(await this.send(template, identity, jobName, chunk.firstIndex, chunk.size, dependsOn, env));
    }
    return submitted;
  }

  /** Retry child `index` of a group alone (a plain job) as attempt `template.attempt`. */
  async resubmitChild(template: JobTemplate, index: number, taskId: string): Promise<SubmittedJob> {
    const identity: BatchTaskIdentity = { flow: template.flow, runId: template.runId, step: template.step, taskId, attempt: template.attempt };
    const jobName = taskJobName(template.flow, template.runId, template.step, taskId, template.attempt);
    const env = { ...template.env, [ARRAY_INDEX_OFFSET_ENV]: String(index) };
    return this.send(template, identity, jobName, index, 1, [], env);
  }

  private async send(
    template: JobTemplate,
    identity: BatchTaskIdentity,
    jobName: string,
    firstIndex: number,
    size: number,
    dependsOn: JobDependency[],
    env: Readonly<Record<string, string>>,
  ): Promise<SubmittedJob> {
    const what = `${template.step}/${identity.taskId}#${template.attempt}`;
    const input: SubmitJobCommandInput = {
      jobName,
      jobQueue: template.queue,
      jobDefinition: template.jobDefinition,
      containerOverrides: taskContainerOverrides(what, template.definition, env, template.io, template.code),
      tags: batchJobTags({ ...identity, ...template.owner }, template.tags),
      propagateTags: true,
      ...(template.share ? { shareIdentifier: template.share.identifier, schedulingPriorityOverride: template.share.priority } : {}),
      ...(size > 1 ? { arrayProperties: { size } } : {}),
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
    };
    checkSubmitJobSize(what, input);
    const out = await this.calls.send<SubmitJobCommandOutput>(this.batch, new SubmitJobCommand(input));
    if (!out.jobId) throw new Error(`SubmitJob returned no job id for ${jobName}`);
    return { jobId: out.jobId, jobName, queue: template.queue, size, firstIndex };
  }
}

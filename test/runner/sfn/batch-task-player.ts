/**
 * `batch:submitJob.sync` played for real, for compiled machines run in aws-local-stepfunctions:
 * Step Functions' SubmitJob parameters (the API's PascalCase field names) are turned into the
 * SDK's shape, the job definition is looked up by name in the compiled flow's `jobDefinitions`,
 * and the job runs on this machine with test/support/ecs-task-player.ts (each container a real
 * `sh`, S3 on moto_server). An array job plays each child with AWS_BATCH_JOB_ARRAY_INDEX and
 * fails when any child fails, as Batch does. The answer is what `.sync` gives: the job's
 * description (DescribeJobs' shape, PascalCase), or for a failed job the description as the
 * `States.TaskFailed` error's Cause.
 */
import type { EcsPropertiesOverride } from '@aws-sdk/client-batch';
import type { CompiledFlow } from '../../../runner/sfn/compiler';
import { playEcsTask, type PlayedTask } from '../../support/ecs-task-player';
import type { JobResult, SubmitJob } from './compiler-support';

/** One played job: the Task state, its SubmitJob parameters, and each child's played task (one for a plain job). */
export interface PlayedJob {
  /** The job id the player gave it (AWS_BATCH_JOB_ID in its containers; `<id>:<i>` for child i). */
  readonly jobId: string;
  readonly state: string;
  readonly params: SubmitJob;
  readonly children: PlayedTask[];
}

const camel = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);

/** Step Functions' API field names (PascalCase) → the SDK's (camelCase), recursively; values untouched. */
export function sdkShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sdkShape);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), sdkShape(v)]));
}

/** Plays every SubmitJob of a compiled flow; `jobs` lists them in the order they finished. */
export class BatchTaskPlayer {
  readonly jobs: PlayedJob[] = [];
  private n = 0;

  constructor(
    private readonly compiled: CompiledFlow,
    private readonly endpoint: string,
    /** Names the n-th job (from 1). */
    private readonly jobIdOf: (n: number) => string = (n) => `job-${n}`,
  ) {}

  async submitJob(state: string, params: SubmitJob): Promise<JobResult> {
    const definition = this.compiled.jobDefinitions.find((d) => d.jobDefinitionName === params.JobDefinition);
    if (!definition) throw new Error(`state ${state}: job definition ${params.JobDefinition} is not in the compiled flow's jobDefinitions`);
    const override = sdkShape(params.EcsPropertiesOverride) as EcsPropertiesOverride;
    const size = params.ArrayProperties?.Size;
    const indexes = size === undefined ? [undefined] : Array.from({ length: size }, (_, i) => i);
    const jobId = this.jobIdOf(++this.n);
    const children = await Promise.all(
      indexes.map((i) =>
        playEcsTask(definition, override, {
          endpoint: this.endpoint,
          env: i === undefined ? { AWS_BATCH_JOB_ID: jobId } : { AWS_BATCH_JOB_ID: `${jobId}:${i}`, AWS_BATCH_JOB_ARRAY_INDEX: String(i) },
        }),
      ),
    );
    this.jobs.push({ jobId, state, params, children });
    const failed = children.filter((c) => c.exitCode !== 0).length;
    const description = {
      JobId: jobId,
      JobName: params.JobName,
      JobQueue: params.JobQueue,
      JobDefinition: params.JobDefinition,
      Status: failed > 0 ? 'FAILED' : 'SUCCEEDED',
      ...(failed > 0 ? { StatusReason: size === undefined ? 'Essential container in task exited' : `${failed} of ${size} child jobs failed` } : {}),
      ...(size === undefined
        ? { EcsProperties: { TaskProperties: [{ Containers: children[0].containers.map((c) => ({ Name: c.name, ExitCode: c.exitCode })) }] } }
        : { ArrayProperties: { Size: size, StatusSummary: { SUCCEEDED: size - failed, FAILED: failed } } }),
      Tags: params.Tags,
    };
    return failed > 0 ? { ok: false, cause: JSON.stringify(description) } : { ok: true, output: description };
  }

  /** Every container line of the played jobs of a state (for a failure's diagnosis). */
  log(state?: string): string {
    return this.jobs
      .filter((j) => state === undefined || j.state === state)
      .flatMap((j) => j.children.flatMap((t) => t.containers.flatMap((c) => c.lines.map((l) => `${j.state} ${c.name}: ${l}`))))
      .join('\n');
  }
}

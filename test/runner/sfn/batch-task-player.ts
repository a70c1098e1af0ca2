/**
 * `batch:submitJob.sync` played for real, for compiled machines run in aws-local-stepfunctions:
 * Step Functions' SubmitJob parameters (the API's PascalCase field names) are turned into the
 * SDK's shape, the job definition is looked up by name in the compiled flow's `jobDefinitions`,
 * and the job runs as Batch would run it, in a root file system standing in for its image
 * (test/support/batch-job-player.ts: bubblewrap, the definition's loader + argv, the overrides'
 * environment, container credentials, S3 on moto_server). An array job plays each child with its
 * index and fails when any child fails, as Batch does. The answer is what `.sync` gives: the job's
 * description (DescribeJobs' shape, PascalCase; a container job's exit code, reason and log
 * stream under `Container`), or for a failed job the description as the `States.TaskFailed`
 * error's Cause.
 *
 * Every job it plays must fit ECS's override budget with its real values ({@link ECS_OVERRIDES_BUDGET}).
 * `environment` replaces the named variables of a job that has them once its size is checked (a
 * test's time scale: a 60 s attempt timeout played as 1 s).
 */
import type { ContainerOverrides } from '@aws-sdk/client-batch';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ECS_OVERRIDES_BUDGET, ecsOverrideChars } from '../../../runner/batch/job-shape';
import type { CompiledFlow } from '../../../runner/sfn/compiler';
import { playContainerJob, type PlayedJob as PlayedContainer } from '../../support/batch-job-player';
import type { MotoBucket } from '../../support/moto-bucket';
import { runMachine, type JobResult, type SubmitJob } from './compiler-support';

/** One played job: the Task state, its SubmitJob parameters, and each child's played container (one for a plain job). */
export interface PlayedJob {
  /** The job id the player gave it (AWS_BATCH_JOB_ID in its container; `<id>:<i>` for child i). */
  readonly jobId: string;
  readonly state: string;
  readonly params: SubmitJob;
  /** What ECS counted for the job (each child's container is the same but for Batch's index). */
  readonly ecsChars: number;
  readonly children: PlayedContainer[];
}

const camel = (k: string) => k.charAt(0).toLowerCase() + k.slice(1);

/** Step Functions' API field names (PascalCase) → the SDK's (camelCase), recursively; values untouched. */
export function sdkShape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sdkShape);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), sdkShape(v)]));
}

/** The log stream Batch names a container's: `<definition name>/default/<ecs task id>` (here the job id). */
const logStreamOf = (definition: string, jobId: string) => `${definition}/default/${jobId.replace(':', '-')}`;

/**
 * A failed container job's status reason as Batch writes it: ECS refusing the overrides is the
 * job's reason; a container that never started has its reason on the container and "Task failed
 * to start" on the job; one that exited non-zero "Essential container in task exited".
 */
function statusReason(c: PlayedContainer): string {
  if (c.reason?.startsWith('Container Overrides')) return c.reason;
  return c.reason !== undefined ? 'Task failed to start' : 'Essential container in task exited';
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
    private readonly environment: Readonly<Record<string, string>> = {},
  ) {}

  async submitJob(state: string, params: SubmitJob): Promise<JobResult> {
    const definition = this.compiled.jobDefinitions.find((d) => d.jobDefinitionName === params.JobDefinition);
    if (!definition) throw new Error(`state ${state}: job definition ${params.JobDefinition} is not in the compiled flow's jobDefinitions`);
    if ('EcsPropertiesOverride' in params) throw new Error(`state ${state}: EcsPropertiesOverride on a containerProperties job (Batch refuses it)`);
    const overrides = sdkShape(params.ContainerOverrides) as ContainerOverrides;
    const ecsChars = ecsOverrideChars(definition, overrides);
    if (ecsChars > ECS_OVERRIDES_BUDGET) throw new Error(`state ${state}: the job comes to ${ecsChars} characters as ECS counts them, over the budget of ${ECS_OVERRIDES_BUDGET}`);
    for (const e of overrides.environment ?? []) if (Object.hasOwn(this.environment, e.name!)) e.value = this.environment[e.name!];
    const size = params.ArrayProperties?.Size;
    const indexes = size === undefined ? [undefined] : Array.from({ length: size }, (_, i) => i);
    const jobId = this.jobIdOf(++this.n);
    const children = await Promise.all(
      indexes.map((i) => playContainerJob(definition, overrides, { endpoint: this.endpoint, jobId: i === undefined ? jobId : `${jobId}:${i}`, arrayIndex: i })),
    );
    this.jobs.push({ jobId, state, params, ecsChars, children });
    const failed = children.filter((c) => c.exitCode !== 0).length;
    const only = children[0];
    const description = {
      JobId: jobId,
      JobName: params.JobName,
      JobQueue: params.JobQueue,
      JobDefinition: params.JobDefinition,
      Status: failed > 0 ? 'FAILED' : 'SUCCEEDED',
      ...(failed > 0 ? { StatusReason: size !== undefined ? `${failed} of ${size} child jobs failed` : statusReason(only) } : {}),
      ...(size === undefined
        ? {
            Container: {
              ...(only.exitCode !== undefined ? { ExitCode: only.exitCode } : {}),
              ...(only.reason !== undefined && !only.reason.startsWith('Container Overrides') ? { Reason: only.reason } : {}),
              LogStreamName: logStreamOf(params.JobDefinition, jobId),
            },
          }
        : { ArrayProperties: { Size: size, StatusSummary: { SUCCEEDED: size - failed, FAILED: failed } } }),
      Tags: params.Tags,
    };
    return failed > 0 ? { ok: false, cause: JSON.stringify(description) } : { ok: true, output: description };
  }

  /** Every container line of the played jobs of a state (for a failure's diagnosis), as `<state>: <line>`. */
  log(state?: string): string {
    return this.jobs
      .filter((j) => state === undefined || j.state === state)
      .flatMap((j) => j.children.flatMap((c) => c.lines.map((l) => `${j.state}: ${l}`)))
      .join('\n');
  }
}

/**
 * Execute a compiled machine (named `name`) with its Batch jobs played by a {@link BatchTaskPlayer}
 * and its S3 states on moto_server; the result carries the player, for the jobs and their logs.
 */
export async function playOnMoto(compiled: CompiledFlow, moto: MotoBucket, input: unknown = {}, name?: string, environment: Readonly<Record<string, string>> = {}) {
  const batch = new BatchTaskPlayer(compiled, moto.endpoint, undefined, environment);
  const result = await runMachine(
    compiled,
    input,
    {
      submitJob: (state, params) => batch.submitJob(state, params),
      getObject: async (Bucket, Key) => {
        try {
          return await (await moto.s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToString();
        } catch (e) {
          if ((e as Error).name === 'NoSuchKey') return undefined;
          throw e;
        }
      },
      putObject: async (Bucket, Key, Body) => void (await moto.s3.send(new PutObjectCommand({ Bucket, Key, Body }))),
    },
    name,
  );
  return { ...result, batch };
}

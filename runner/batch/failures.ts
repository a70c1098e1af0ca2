/**
 * What went wrong with a Batch job, in one line for people, from the job's own record
 * (DescribeJobs). Status reasons are the strings AWS Batch writes:
 * - `Host EC2 (instance i-…) terminated.` — spot reclaim or host loss (evaluateOnExit `Host EC2*`);
 * - `Your Spot Task was interrupted.` — a Fargate Spot reclaim (the ECS stopped reason);
 * - `Job attempt duration exceeded timeout` — timeout.attemptDurationSeconds passed;
 * - `Essential container in task exited` — the container exited non-zero;
 * - container reason `OutOfMemoryError: Container killed due to memory usage` (exit 137);
 * - container reason `CannotPullContainerError: …` — the image could not be pulled;
 * - container reason `CannotStartContainerError: …` — e.g. the image has no `sh` (the loader's first word);
 * - `MISCONFIGURATION:…` / `CAPACITY:…` status reasons on a job stuck in RUNNABLE.
 */
import type { AttemptDetail, ComputeEnvironmentDetail, JobDetail, ResourceRequirement } from '@aws-sdk/client-batch';

import { RUNTIME_EXIT } from './job-shape';

/** A multi-container job's container that ran the user's command (jobs of earlier versions, still described by `watch`). */
export const MAIN_CONTAINER = 'main';

/** What the user's container reported, for plain (`container`) and multi-container (`ecsProperties`) jobs. */
export interface PrimaryContainer {
  readonly exitCode?: number;
  readonly reason?: string;
  readonly logStreamName?: string;
  readonly resourceRequirements?: readonly ResourceRequirement[];
}

type JobView = Pick<JobDetail, 'container' | 'attempts'> & Partial<Pick<JobDetail, 'ecsProperties'>>;

/**
 * The user's container: `container` for a plain job; for a multi-container job (its `container`
 * is empty) the container named `main`, else the last attempt's.
 */
export function primaryContainer(job: JobView): PrimaryContainer {
  const main = job.ecsProperties?.taskProperties?.[0]?.containers?.find((c) => c.name === MAIN_CONTAINER);
  const last = job.attempts?.at(-1);
  const lastMain = last?.taskProperties?.[0]?.containers?.find((c) => c.name === MAIN_CONTAINER);
  return {
    exitCode: job.container?.exitCode ?? main?.exitCode ?? last?.container?.exitCode ?? lastMain?.exitCode,
    reason: job.container?.reason ?? main?.reason ?? last?.container?.reason ?? lastMain?.reason,
    logStreamName: job.container?.logStreamName ?? main?.logStreamName ?? last?.container?.logStreamName ?? lastMain?.logStreamName,
    resourceRequirements: job.container?.resourceRequirements ?? main?.resourceRequirements,
  };
}

export type FailureKind = 'oom' | 'cannot-pull' | 'cannot-start' | 'timeout' | 'host-lost' | 'exit' | 'terminated' | 'unknown';

export interface FailureInfo {
  readonly kind: FailureKind;
  /** One line: what happened, with the exit code / reason. */
  readonly message: string;
  /** What the user can do, when there is something. */
  readonly hint?: string;
  /** Worth a user retry? (false for CannotPullContainer: another attempt pulls the same image.) */
  readonly retryable: boolean;
}

/** Attempts Batch itself retried because the host went away (shown apart from user retries). */
export interface InfrastructureRetry {
  readonly attempt: number;
  readonly statusReason: string;
}

/** EC2 spot reclaim or lost host; Fargate Spot reclaim (INFRASTRUCTURE_LOSS_REASONS in runner/policy/batch.ts). */
const HOST_LOST = /^(Host EC2|Your Spot Task was interrupted)/;
const TIMEOUT = 'Job attempt duration exceeded timeout';

/** Did Batch end this attempt because its host went away (spot reclaim, host terminated)? */
export const isHostLoss = (statusReason: string | undefined): boolean => !!statusReason && HOST_LOST.test(statusReason);

/** The attempts Batch retried for infrastructure reasons (every host-loss attempt but a final one). */
export function infrastructureRetries(attempts: readonly AttemptDetail[] | undefined, jobStatus: string | undefined): InfrastructureRetry[] {
  const list = attempts ?? [];
  const retried: InfrastructureRetry[] = [];
  list.forEach((a, i) => {
    const isLast = i === list.length - 1;
    if (isLast && jobStatus === 'FAILED') return;
    if (a.statusReason && HOST_LOST.test(a.statusReason)) retried.push({ attempt: i + 1, statusReason: a.statusReason });
  });
  return retried;
}

/** Classify a FAILED job. `memoryMiB` (the job's memory) makes the OOM hint concrete. */
export function classifyFailure(job: Pick<JobDetail, 'statusReason'> & JobView, memoryMiB?: number): FailureInfo {
  const statusReason = job.statusReason ?? job.attempts?.at(-1)?.statusReason ?? '';
  const primary = primaryContainer(job);
  const reason = primary.reason ?? '';
  const exitCode = primary.exitCode;
  const withExit = exitCode !== undefined ? ` (exit code ${exitCode})` : '';
  if (/OutOfMemoryError/i.test(reason) || (exitCode === 137 && /memory/i.test(reason))) {
    return {
      kind: 'oom',
      message: `ran out of memory${memoryMiB ? ` (limit ${memoryMiB} MiB)` : ''}: ${reason}${withExit}`,
      hint: `raise resources.memory${memoryMiB ? ` above ${memoryMiB} MiB` : ''}`,
      retryable: true,
    };
  }
  if (/CannotPullContainer/i.test(reason) || /CannotPullContainer/i.test(statusReason)) {
    return {
      kind: 'cannot-pull',
      message: `the image could not be pulled: ${reason || statusReason}`,
      hint: 'check the image name and tag, the registry login, and that the subnets reach the registry (NAT or VPC endpoints)',
      retryable: false,
    };
  }
  if (statusReason.startsWith(TIMEOUT)) {
    return { kind: 'timeout', message: `timed out: ${statusReason}`, hint: 'raise the step timeout, or make the step faster', retryable: true };
  }
  if (HOST_LOST.test(statusReason)) {
    const tries = job.attempts?.length ?? 1;
    return {
      kind: 'host-lost',
      message: `lost its host (spot reclaim or host terminated) on each of ${tries} Batch attempt${tries === 1 ? '' : 's'}: ${statusReason}`,
      hint: 'raise infrastructureRetries, or use an on-demand queue',
      retryable: true,
    };
  }
  if (statusReason.startsWith('Terminated') || (/terminat/i.test(statusReason) && exitCode === undefined)) {
    return { kind: 'terminated', message: `terminated: ${statusReason}`, retryable: false };
  }
  if (/CannotStartContainer/i.test(reason) || /CannotStartContainer/i.test(statusReason)) {
    return {
      kind: 'cannot-start',
      message: `the container could not start: ${reason || statusReason}`,
      hint: 'metaflow-cdk jobs need an image with /bin/sh and python3 (3.8+) — see docs/batch.md, "What an image needs"',
      retryable: false,
    };
  }
  const runtime = runtimeFailure(exitCode, primary.logStreamName);
  if (runtime) return runtime;
  if (exitCode !== undefined && exitCode !== 0) {
    return { kind: 'exit', message: `exit code ${exitCode}${statusReason ? `: ${statusReason}` : ''}${reason ? ` (${reason})` : ''}`, retryable: true };
  }
  return { kind: 'unknown', message: statusReason || reason || 'failed without a reason from Batch', retryable: true };
}

/**
 * A job that failed in the task runtime (runner/task-runtime) rather than in the step's command:
 * its own exit codes, with the line it printed in the task's log.
 */
export function runtimeFailure(exitCode: number | undefined, stream: string | undefined): FailureInfo | undefined {
  const log = stream ? ` (its log ${stream} says why)` : '';
  switch (exitCode) {
    case RUNTIME_EXIT.noPython:
      return {
        kind: 'cannot-start',
        message: `the image has no python3 on its PATH (exit code ${exitCode})`,
        hint: 'metaflow-cdk jobs need an image with /bin/sh and python3 (3.8+) — see docs/batch.md, "What an image needs"',
        retryable: false,
      };
    case RUNTIME_EXIT.codeFailed:
      return { kind: 'exit', message: `the flow's code package could not be downloaded or unpacked (exit code ${exitCode})${log}`, hint: 'check that the job role can read the datastore bucket', retryable: true };
    case RUNTIME_EXIT.fetchFailed:
      return { kind: 'exit', message: `its inputs could not be fetched from the datastore (exit code ${exitCode})${log}`, retryable: true };
    case RUNTIME_EXIT.uploadFailed:
      return { kind: 'exit', message: `its outputs could not be uploaded to the datastore (exit code ${exitCode})${log}`, retryable: true };
    case RUNTIME_EXIT.itemsUnusable:
      return { kind: 'exit', message: `its foreach has no list of items to fan out over (exit code ${exitCode})${log}`, retryable: true };
    default:
      return undefined;
  }
}

/** The resources a job asked for, from its container detail. */
export interface JobResources {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly gpus: number;
}

export function jobResources(job: JobView): JobResources {
  const req = new Map((primaryContainer(job).resourceRequirements ?? []).map((r) => [r.type, Number(r.value)]));
  return { vcpus: req.get('VCPU') ?? job.container?.vcpus ?? 0, memoryMiB: req.get('MEMORY') ?? job.container?.memory ?? 0, gpus: req.get('GPU') ?? 0 };
}

const GPU_FAMILIES = /^(p\d|g\d)/;

/**
 * Why a job sits in RUNNABLE: no compute environment of its queue can ever place it (compared
 * with each environment's state and maxvCpus, GPU instance types), or capacity (it fits; Batch
 * is waiting for instances). Batch's own `statusReason` is quoted when it gives one.
 */
export function explainRunnable(job: Pick<JobDetail, 'statusReason'> & Partial<JobView>, environments: readonly ComputeEnvironmentDetail[]): string {
  const need = jobResources(job);
  const batchSays = job.statusReason ? ` (Batch: ${job.statusReason})` : '';
  const reasons: string[] = [];
  let fits = false;
  for (const ce of environments) {
    const name = ce.computeEnvironmentName ?? ce.computeEnvironmentArn ?? '?';
    const res = ce.computeResources;
    if (ce.state === 'DISABLED') reasons.push(`${name} is DISABLED`);
    else if (ce.status === 'INVALID') reasons.push(`${name} is INVALID: ${ce.statusReason ?? 'no reason given'}`);
    else if (res?.maxvCpus !== undefined && need.vcpus > res.maxvCpus) reasons.push(`${name} has maxvCpus ${res.maxvCpus} < ${need.vcpus} vCPUs asked`);
    else if (need.gpus > 0 && res?.type?.startsWith('FARGATE')) reasons.push(`${name} is Fargate (no GPUs)`);
    else if (need.gpus > 0 && res?.instanceTypes && !res.instanceTypes.some((t) => GPU_FAMILIES.test(t))) {
      reasons.push(`${name} has no GPU instance types (${res.instanceTypes.join(', ')})`);
    } else fits = true;
  }
  if (environments.length === 0) return `no compute environment can place it: its queue has none${batchSays}`;
  if (!fits) return `no compute environment can place it (${need.vcpus} vCPUs, ${need.memoryMiB} MiB, ${need.gpus} GPUs): ${reasons.join('; ')}${batchSays}`;
  return `waiting for capacity: a compute environment can place it (${need.vcpus} vCPUs, ${need.memoryMiB} MiB, ${need.gpus} GPUs) but has no free instances (spot shortage, maxvCpus in use by other jobs, or an EC2 quota)${batchSays}`;
}

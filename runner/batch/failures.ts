/**
 * What went wrong with a Batch job, in one line for people, from the job's own record
 * (DescribeJobs). Status reasons are the strings AWS Batch writes:
 * - `Host EC2 (instance i-…) terminated.` — spot reclaim or host loss (evaluateOnExit `Host EC2*`);
 * - `Your Spot Task was interrupted.` — a Fargate Spot reclaim (the ECS stopped reason);
 * - `Job attempt duration exceeded timeout` — timeout.attemptDurationSeconds passed;
 * - `Essential container in task exited` — the container exited non-zero;
 * - container reason `OutOfMemoryError: Container killed due to memory usage` (exit 137);
 * - container reason `CannotPullContainerError: …` — the image could not be pulled;
 * - `MISCONFIGURATION:…` / `CAPACITY:…` status reasons on a job stuck in RUNNABLE.
 */
import type { AttemptDetail, ComputeEnvironmentDetail, JobDetail, ResourceRequirement } from '@aws-sdk/client-batch';

/** The container that runs the user's command in a multi-container job (runner/batch/output-passing.ts). */
export const MAIN_CONTAINER = 'main';
/** The output-passing helpers: inputs down before `main`, outputs up after it. */
export const FETCH_CONTAINER = 'fetch';
export const UPLOAD_CONTAINER = 'upload';
/** Exit codes of the helpers' own failures (beside the user's). */
export const HELPER_EXIT = { noCli: 90, uploadFailed: 91, killed: 137 } as const;

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

export type FailureKind = 'oom' | 'cannot-pull' | 'timeout' | 'host-lost' | 'exit' | 'terminated' | 'unknown';

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
  const helper = helperFailure(job, exitCode);
  if (helper) return helper;
  if (exitCode !== undefined && exitCode !== 0) {
    return { kind: 'exit', message: `exit code ${exitCode}${statusReason ? `: ${statusReason}` : ''}${reason ? ` (${reason})` : ''}`, retryable: true };
  }
  return { kind: 'unknown', message: statusReason || reason || 'failed without a reason from Batch', retryable: true };
}

/** A multi-container job that failed in its output-passing helpers rather than in the user's command. */
function helperFailure(job: JobView, mainExit: number | undefined): FailureInfo | undefined {
  const containers = job.ecsProperties?.taskProperties?.[0]?.containers ?? job.attempts?.at(-1)?.taskProperties?.[0]?.containers ?? [];
  const exit = (name: string) => containers.find((c) => c.name === name)?.exitCode;
  const stream = (name: string) => containers.find((c) => c.name === name)?.logStreamName;
  const fetch = exit(FETCH_CONTAINER);
  const upload = exit(UPLOAD_CONTAINER);
  if (fetch === HELPER_EXIT.noCli || upload === HELPER_EXIT.noCli) {
    return {
      kind: 'exit',
      message: `the output-passing helper image has no AWS CLI and dnf could not install awscli-2 (exit code ${HELPER_EXIT.noCli})`,
      hint: 'use a helper image with the AWS CLI, or let the subnets reach the Amazon Linux repositories',
      retryable: true,
    };
  }
  if (fetch !== undefined && fetch !== 0) {
    return { kind: 'exit', message: `its inputs could not be fetched from the datastore (fetch container exit code ${fetch}; the reason is in the task's log${stream(FETCH_CONTAINER) ? ` and ${stream(FETCH_CONTAINER)}` : ''})`, retryable: true };
  }
  if (upload === HELPER_EXIT.uploadFailed && (mainExit ?? 0) === 0) {
    return { kind: 'exit', message: `its outputs could not be uploaded to the datastore (upload container exit code ${upload}${stream(UPLOAD_CONTAINER) ? `; see ${stream(UPLOAD_CONTAINER)}` : ''})`, retryable: true };
  }
  return undefined;
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

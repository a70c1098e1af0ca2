/**
 * Step policy → AWS Batch settings: the ONE mapping the Batch layer, the Step Functions compiler
 * and the FlowStateMachine construct call (DESIGN §3–4). Pure: no AWS calls, no clock.
 *
 * What belongs to a step (image, resources, roles, platform, infrastructure retries, timeout)
 * lives in the job definition, named by a hash of its content so equal steps share one; what
 * belongs to a task (command, task environment, run/task tags) travels with SubmitJob.
 */
import { createHash } from 'node:crypto';
import type { KeyValuePair, RegisterJobDefinitionCommandInput, RetryStrategy } from '@aws-sdk/client-batch';
import { METAFLOW_JOB_DEFINITION_PREFIX } from '../../core/job-definition-names';
import { FARGATE_CPU_UNITS, FARGATE_MEMORY_RANGES, fargateMemoryChoices } from '../../core/fargate-sizes';
import { EffectivePolicies } from './types';
import { describeValue as show } from '../../core/describe-value';

/** Where a job runs: the platform of its queue's first compute environment. */
export type BatchPlatform = 'EC2' | 'FARGATE';

/** Batch limits (AWS Batch API reference). */
export const BATCH_LIMITS = {
  /** retryStrategy.attempts */
  minAttempts: 1,
  maxAttempts: 10,
  /** retryStrategy.evaluateOnExit entries */
  maxEvaluateOnExit: 5,
  /** timeout.attemptDurationSeconds */
  minTimeoutSeconds: 60,
  /** arrayProperties.size */
  minArraySize: 2,
  maxArraySize: 10_000,
  /** job and job definition names */
  maxNameLength: 128,
  /** Fargate ephemeral storage, GiB */
  minEphemeralStorage: 21,
  maxEphemeralStorage: 200,
  /** tags per resource; key and value lengths */
  maxTags: 50,
  maxTagKeyLength: 128,
  maxTagValueLength: 256,
} as const;

/** How many times Batch retries an attempt lost to the infrastructure (spot reclaim, host loss). */
export const DEFAULT_INFRASTRUCTURE_RETRIES = 3;

/** Where the step's tmpfs is mounted (Metaflow's default path). */
export const TMPFS_PATH = '/metaflow_temp';

/** Batch-only settings of a step, beside the common policies. */
export interface BatchStepOptions {
  /** Queue for this step (name or ARN). @default the GPU queue for GPU steps, else the default queue */
  readonly queue?: string;
  /** Extra tags for its jobs (keys must not start with `aws:` or `metaflow.`). @default none */
  readonly tags?: Readonly<Record<string, string>>;
  /** Linux swappiness 0–100 (EC2; needs maxSwap). @default the host's */
  readonly swappiness?: number;
  /** Swap the container may use, MiB (EC2). @default no swap settings */
  readonly maxSwap?: number;
  /** Fargate: give the task a public IP (subnets without a NAT gateway need it). @default false */
  readonly assignPublicIp?: boolean;
  /**
   * Times Batch retries an attempt lost to a spot reclaim or host loss (`Host EC2*`, a Fargate
   * Spot reclaim), inside one user attempt and outside the user's retry budget; 0–9.
   * @default 3
   */
  readonly infrastructureRetries?: number;
  /**
   * Priority of this step's jobs among its team's jobs on a fair-share queue (SubmitJob
   * `schedulingPriorityOverride`, 0–9999, higher runs first); ignored on FIFO queues.
   * @default 0
   */
  readonly schedulingPriority?: number;
}

/** Everything a job definition is built from. */
export interface BatchJobDefinitionInput {
  readonly flow: string;
  readonly step: string;
  readonly image: string;
  readonly policies: EffectivePolicies;
  readonly platform: BatchPlatform;
  /** Role the containers assume. @default none */
  readonly jobRoleArn?: string;
  /** Fargate execution role (required on Fargate). */
  readonly executionRoleArn?: string;
  readonly options?: BatchStepOptions;
  /**
   * The stack's compute subnets are public (the config's BATCH_ASSIGN_PUBLIC_IP): a Fargate task
   * needs a public IP there to pull its image. A step's own `assignPublicIp` wins.
   * @default false
   */
  readonly assignPublicIp?: boolean;
  /**
   * CloudWatch Logs group of the job's container (`logConfiguration` with the `awslogs` driver;
   * Batch's default, when unset, is `/aws/batch/job` — AWS Batch User Guide, "Use the awslogs log
   * driver": `awslogs-group` optional, `awslogs-stream-prefix` optional). @default /aws/batch/job
   */
  readonly logGroup?: string;
}

/** Tag keys the runner sets; user tags must not use the prefix. */
export const METAFLOW_TAG_KEYS = {
  flow: 'metaflow.flow',
  run: 'metaflow.run_id',
  step: 'metaflow.step',
  task: 'metaflow.task_id',
  attempt: 'metaflow.attempt',
  team: 'metaflow.team',
  user: 'metaflow.user',
} as const;

/** SubmitJob's `schedulingPriorityOverride` range (AWS Batch API reference, SubmitJob). */
export const SCHEDULING_PRIORITY_RANGE = { min: 0, max: 9999 } as const;

const RESERVED_TAG_PREFIXES = ['aws:', 'metaflow.'];
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/** A vCPU count as Batch writes it: `1`, `0.25`. */
function vcpuValue(cpu: number): string {
  return String(cpu);
}

/**
 * Layer checks for one step on Batch (issue 9 / DESIGN §3): one line per problem, naming the
 * step and the value. Empty when the step can run.
 */
export function checkBatchStep(input: BatchJobDefinitionInput): string[] {
  const where = `step "${input.step}"`;
  const { resources, timeoutSeconds } = input.policies;
  const options = input.options ?? {};
  const problems: string[] = [];
  if (!input.image) problems.push(`${where}: Batch needs a container image (set image on the step or the flow)`);
  if (timeoutSeconds !== undefined) {
    if (!Number.isInteger(timeoutSeconds)) {
      problems.push(`${where}: timeout on Batch must be whole seconds, got ${show(timeoutSeconds)} s`);
    } else if (timeoutSeconds < BATCH_LIMITS.minTimeoutSeconds) {
      problems.push(`${where}: timeout on Batch must be at least ${BATCH_LIMITS.minTimeoutSeconds} s, got ${timeoutSeconds} s`);
    }
  }
  if (!Number.isInteger(resources.memory)) problems.push(`${where}: resources.memory on Batch must be whole MiB, got ${show(resources.memory)}`);
  if (input.platform === 'FARGATE') {
    const units = resources.cpu * 1024;
    const choices = fargateMemoryChoices(units);
    if (!choices) {
      problems.push(`${where}: resources.cpu on Fargate must be one of ${FARGATE_CPU_UNITS.map((u) => u / 1024).join(', ')} vCPUs, got ${show(resources.cpu)}`);
    } else if (!choices.includes(resources.memory)) {
      const [min, max, step] = FARGATE_MEMORY_RANGES[units];
      problems.push(
        `${where}: resources.memory on Fargate with cpu ${resources.cpu} must be ${min}–${max} MiB in steps of ${step}, got ${show(resources.memory)}`,
      );
    }
    if (resources.gpu > 0) problems.push(`${where}: resources.gpu is not available on Fargate, got ${resources.gpu}`);
    if (resources.sharedMemory !== undefined) problems.push(`${where}: resources.sharedMemory is not available on Fargate, got ${show(resources.sharedMemory)}`);
    if (resources.tmpfs !== undefined) problems.push(`${where}: resources.tmpfs is not available on Fargate, got ${show(resources.tmpfs)}`);
    if (options.swappiness !== undefined || options.maxSwap !== undefined) problems.push(`${where}: swap settings are not available on Fargate`);
    const storage = resources.ephemeralStorage;
    if (storage !== undefined && (!Number.isInteger(storage) || storage < BATCH_LIMITS.minEphemeralStorage || storage > BATCH_LIMITS.maxEphemeralStorage)) {
      problems.push(
        `${where}: resources.ephemeralStorage on Fargate must be a whole number of GiB from ${BATCH_LIMITS.minEphemeralStorage} to ${BATCH_LIMITS.maxEphemeralStorage}, got ${show(storage)}`,
      );
    }
    if (!input.executionRoleArn) problems.push(`${where}: Fargate needs an execution role (ECS_FARGATE_EXECUTION_ROLE or --execution-role)`);
  } else {
    if (!Number.isInteger(resources.cpu)) {
      problems.push(`${where}: resources.cpu must be a whole number of vCPUs on EC2 (fractions only on Fargate), got ${show(resources.cpu)}`);
    }
    if (resources.ephemeralStorage !== undefined) {
      problems.push(`${where}: resources.ephemeralStorage is only available on Fargate (EC2 uses the instance's disk), got ${show(resources.ephemeralStorage)}`);
    }
    if (resources.sharedMemory !== undefined && !Number.isInteger(resources.sharedMemory)) {
      problems.push(`${where}: resources.sharedMemory must be whole MiB, got ${show(resources.sharedMemory)}`);
    }
    if (resources.tmpfs !== undefined && !Number.isInteger(resources.tmpfs)) {
      problems.push(`${where}: resources.tmpfs must be whole MiB, got ${show(resources.tmpfs)}`);
    }
    if (options.assignPublicIp) problems.push(`${where}: assignPublicIp applies to Fargate only`);
  }
  if (options.swappiness !== undefined) {
    if (!Number.isInteger(options.swappiness) || options.swappiness < 0 || options.swappiness > 100) {
      problems.push(`${where}: swappiness must be a whole number from 0 to 100, got ${show(options.swappiness)}`);
    } else if (options.maxSwap === undefined) {
      problems.push(`${where}: swappiness needs maxSwap (Batch ignores it otherwise)`);
    }
  }
  if (options.maxSwap !== undefined && (!Number.isInteger(options.maxSwap) || options.maxSwap < 0)) {
    problems.push(`${where}: maxSwap must be a whole number of MiB ≥ 0, got ${show(options.maxSwap)}`);
  }
  const retries = options.infrastructureRetries;
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0 || retries > BATCH_LIMITS.maxAttempts - 1)) {
    problems.push(`${where}: infrastructureRetries must be a whole number from 0 to ${BATCH_LIMITS.maxAttempts - 1}, got ${show(retries)}`);
  }
  const priority = options.schedulingPriority;
  if (priority !== undefined && (!Number.isInteger(priority) || priority < SCHEDULING_PRIORITY_RANGE.min || priority > SCHEDULING_PRIORITY_RANGE.max)) {
    problems.push(`${where}: schedulingPriority must be a whole number from ${SCHEDULING_PRIORITY_RANGE.min} to ${SCHEDULING_PRIORITY_RANGE.max}, got ${show(priority)}`);
  }
  problems.push(...checkUserTags(where, options.tags));
  return problems;
}

/** User tags: at most what Batch allows beside ours, valid keys/values, no reserved prefixes. */
export function checkUserTags(where: string, tags: Readonly<Record<string, string>> | undefined): string[] {
  if (tags === undefined) return [];
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return [`${where}: tags must be an object of strings, got ${show(tags)}`];
  const problems: string[] = [];
  const entries = Object.entries(tags);
  const room = BATCH_LIMITS.maxTags - Object.keys(METAFLOW_TAG_KEYS).length;
  if (entries.length > room) problems.push(`${where}: at most ${room} tags (Batch allows ${BATCH_LIMITS.maxTags}, the runner sets ${BATCH_LIMITS.maxTags - room}), got ${entries.length}`);
  for (const [key, value] of entries) {
    if (RESERVED_TAG_PREFIXES.some((p) => key.toLowerCase().startsWith(p))) {
      problems.push(`${where}: tag key ${show(key)} uses a reserved prefix (${RESERVED_TAG_PREFIXES.join(', ')})`);
    } else if (key.length === 0 || key.length > BATCH_LIMITS.maxTagKeyLength || !TAG_CHARS.test(key)) {
      problems.push(`${where}: tag key ${show(key)} must be 1–${BATCH_LIMITS.maxTagKeyLength} letters, digits, spaces or _.:/=+-@`);
    }
    if (typeof value !== 'string' || value.length > BATCH_LIMITS.maxTagValueLength || !TAG_CHARS.test(value)) {
      problems.push(`${where}: tag ${show(key)} value must be a string of ≤${BATCH_LIMITS.maxTagValueLength} letters, digits, spaces or _.:/=+-@, got ${show(value)}`);
    }
  }
  return problems;
}

/**
 * The status reasons of infrastructure losses Batch retries inside one user attempt, as
 * evaluateOnExit globs (letters, digits, `.`, `:`, spaces, an optional trailing `*`):
 * - `Host EC2 (instance i-…) terminated.` — an EC2 spot reclaim or a lost host (AWS Batch);
 * - `Your Spot Task was interrupted.` — the stopped reason ECS documents for a reclaimed Fargate
 *   Spot task (ECS task state change event); that Batch copies it into the job's statusReason is
 *   not documented by Batch (docs/batch.md, "Fargate Spot").
 */
export const INFRASTRUCTURE_LOSS_REASONS = ['Host EC2*', 'Your Spot Task was interrupted*'] as const;

/**
 * retryStrategy: Batch retries infrastructure losses only. attempts = 1 + infrastructure
 * retries; the INFRASTRUCTURE_LOSS_REASONS (EC2 spot reclaim or lost host, Fargate Spot reclaim)
 * RETRY; everything else EXITs through a final catch-all (Batch retries when no entry matches, so
 * it must be there). Every failed job has a status reason, so `onStatusReason: "*"` matches all
 * of them. Batch allows 5 entries.
 */
export function batchRetryStrategy(infrastructureRetries: number = DEFAULT_INFRASTRUCTURE_RETRIES): RetryStrategy {
  return {
    attempts: 1 + infrastructureRetries,
    evaluateOnExit: [...INFRASTRUCTURE_LOSS_REASONS.map((onStatusReason) => ({ onStatusReason, action: 'RETRY' as const })), { onStatusReason: '*', action: 'EXIT' }],
  };
}

/** `[A-Za-z0-9_-]` only; anything else becomes `_`. */
export function sanitizeBatchName(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** A short, stable hash of `text` (hex). */
export function shortHash(text: string, length = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * Join name parts with `-` within Batch's 128 characters. When too long, the longest parts are
 * shortened (never the last, which is the hash or the suffix that makes the name unique) and a
 * hash of the full name is appended, so two long names never collide.
 */
export function boundedBatchName(parts: readonly string[], max: number = BATCH_LIMITS.maxNameLength): string {
  const clean = parts.map(sanitizeBatchName);
  const full = clean.join('-');
  if (full.length <= max) return full;
  const hash = shortHash(full);
  const budget = max - hash.length - 1 - (clean.length - 1);
  const lengths = clean.map((p) => p.length);
  let total = lengths.reduce((a, b) => a + b, 0);
  while (total > budget) {
    const longest = lengths.indexOf(Math.max(...lengths));
    lengths[longest] -= 1;
    total -= 1;
  }
  return [...clean.map((p, i) => p.slice(0, lengths[i])), hash].join('-');
}

/**
 * A job name's first part: SubmitJob's `jobName` must start with a letter or a number (AWS Batch
 * API reference, SubmitJob), so a flow named `_x` or `-x` gets `mf` in front (`mf_x`).
 */
export function jobNameLead(flow: string): string {
  return /^[A-Za-z0-9]/.test(flow) ? flow : `mf${flow}`;
}

/** Canonical JSON (sorted keys) so equal definitions hash equally. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Job definition name: `metaflow_<flow>-<step>-<content hash>`, ≤128 characters. The
 * `metaflow_` prefix is the one the stack's grants allow (`job-definition/metaflow_*`).
 */
export function jobDefinitionName(flow: string, step: string, content: unknown): string {
  const prefix = METAFLOW_JOB_DEFINITION_PREFIX;
  return prefix + boundedBatchName([flow, step, shortHash(canonical(content), 12)], BATCH_LIMITS.maxNameLength - prefix.length);
}

/** The RegisterJobDefinition input for a step (validate with {@link checkBatchStep} first). */
export function batchJobDefinition(input: BatchJobDefinitionInput): RegisterJobDefinitionCommandInput {
  const { resources, timeoutSeconds } = input.policies;
  const options = input.options ?? {};
  const fargate = input.platform === 'FARGATE';
  const resourceRequirements = [
    { type: 'VCPU' as const, value: vcpuValue(resources.cpu) },
    { type: 'MEMORY' as const, value: String(resources.memory) },
    ...(resources.gpu > 0 ? [{ type: 'GPU' as const, value: String(resources.gpu) }] : []),
  ];
  const linuxParameters = fargate
    ? undefined
    : omitEmpty({
        sharedMemorySize: resources.sharedMemory,
        tmpfs: resources.tmpfs !== undefined ? [{ containerPath: TMPFS_PATH, size: resources.tmpfs }] : undefined,
        maxSwap: options.maxSwap,
        swappiness: options.swappiness,
      });
  const containerProperties = omitEmpty({
    image: input.image,
    jobRoleArn: input.jobRoleArn,
    executionRoleArn: fargate ? input.executionRoleArn : undefined,
    resourceRequirements,
    linuxParameters,
    ephemeralStorage: fargate && resources.ephemeralStorage !== undefined ? { sizeInGiB: resources.ephemeralStorage } : undefined,
    networkConfiguration: fargate && (options.assignPublicIp ?? input.assignPublicIp) ? { assignPublicIp: 'ENABLED' as const } : undefined,
    logConfiguration: input.logGroup ? { logDriver: 'awslogs' as const, options: { 'awslogs-group': input.logGroup } } : undefined,
  });
  const content = omitEmpty({
    type: 'container' as const,
    platformCapabilities: [input.platform],
    containerProperties,
    retryStrategy: batchRetryStrategy(options.infrastructureRetries),
    timeout: timeoutSeconds !== undefined ? { attemptDurationSeconds: timeoutSeconds } : undefined,
    propagateTags: true,
    tags: { [METAFLOW_TAG_KEYS.flow]: input.flow, [METAFLOW_TAG_KEYS.step]: input.step },
  });
  return { jobDefinitionName: jobDefinitionName(input.flow, input.step, content), ...content } as RegisterJobDefinitionCommandInput;
}

/** Identity of one task attempt, for tags and names. */
export interface BatchTaskIdentity {
  readonly flow: string;
  readonly runId: string;
  readonly step: string;
  /** Task id, or for an array job the first child's id range (e.g. `0-999`). */
  readonly taskId: string;
  readonly attempt: number;
  /** The run's team, when it has one (tag `metaflow.team`). */
  readonly team?: string;
  /** Who started the run (tag `metaflow.user`). */
  readonly user?: string;
}

/** SubmitJob tags: flow, run, step, task and attempt always, team and user when known, then the user's (validated) tags. */
export function batchJobTags(task: BatchTaskIdentity, userTags: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    ...userTags,
    [METAFLOW_TAG_KEYS.flow]: task.flow,
    [METAFLOW_TAG_KEYS.run]: task.runId,
    [METAFLOW_TAG_KEYS.step]: task.step,
    [METAFLOW_TAG_KEYS.task]: task.taskId,
    [METAFLOW_TAG_KEYS.attempt]: String(task.attempt),
    ...(task.team ? { [METAFLOW_TAG_KEYS.team]: task.team } : {}),
    ...(task.user ? { [METAFLOW_TAG_KEYS.user]: task.user } : {}),
  };
}

/** `{K: V}` → Batch's `[{name: K, value: V}]`, in key order. */
export function batchEnvironment(env: Readonly<Record<string, string>>): KeyValuePair[] {
  return Object.keys(env)
    .sort()
    .map((name) => ({ name, value: env[name] }));
}

function omitEmpty<T extends Record<string, unknown>>(value: T): T | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return Object.keys(out).length > 0 ? (out as T) : undefined;
}

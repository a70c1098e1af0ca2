import { IConstruct } from 'constructs';
import { checkIntegerInRange, invalidProp } from '../validation';

/** Capacity of any Batch compute environment. */
export interface EnvironmentCapacityOptions {
  /**
   * Create this environment.
   *
   * @default true for onDemand, spot and gpu; false for fargate
   */
  readonly enabled?: boolean;

  /**
   * Most vCPUs the environment may run at once.
   *
   * @default 256 (gpu: 64)
   */
  readonly maxvCpus?: number;
}

/** An EC2 (on-demand or Spot) compute environment. */
export interface Ec2EnvironmentOptions extends EnvironmentCapacityOptions {
  /**
   * vCPUs kept running when idle. 0 scales to zero.
   *
   * @default 0
   */
  readonly minvCpus?: number;

  /**
   * Instance types (`m6i.2xlarge`) or families (`m6i`) Batch may launch.
   *
   * @default - Batch's current-generation x86_64 default (`default_x86_64`); for GPU: g4dn, g5, g6
   */
  readonly instanceTypes?: string[];
}

/**
 * The NVIDIA ECS AMI a GPU environment runs. (Amazon Linux 2, `ECS_AL2_NVIDIA`, is gone: AWS
 * Batch stopped creating ECS compute environments on its AL2 AMIs on 2026-06-30.)
 */
export enum GpuImageType {
  /** Amazon Linux 2023 with NVIDIA drivers. */
  AL2023_NVIDIA = 'ECS_AL2023_NVIDIA',
}

/** Why the AL2 NVIDIA AMI is refused, for error messages. */
export const AL2_RETIRED_REASON =
  'AWS Batch no longer creates ECS compute environments on Amazon Linux 2 AMIs (since 2026-06-30); use the Amazon Linux 2023 NVIDIA AMI';

/** The GPU compute environment(s). */
export interface GpuEnvironmentOptions extends Ec2EnvironmentOptions {
  /**
   * The NVIDIA ECS AMI.
   *
   * @default GpuImageType.AL2023_NVIDIA
   */
  readonly imageType?: GpuImageType;

  /**
   * Put a Spot GPU environment in front of the on-demand one in the GPU queue.
   *
   * @default false
   */
  readonly spot?: boolean;
}

/** The Fargate compute environments. */
export interface FargateEnvironmentOptions extends EnvironmentCapacityOptions {
  /**
   * Put a Fargate Spot environment in front of the Fargate one in the Fargate queue.
   *
   * @default true
   */
  readonly spot?: boolean;
}

/** The kinds of environment options, and the keys each accepts. */
const ACCEPTED_KEYS = {
  onDemand: ['enabled', 'maxvCpus', 'minvCpus', 'instanceTypes'],
  spot: ['enabled', 'maxvCpus', 'minvCpus', 'instanceTypes'],
  gpu: ['enabled', 'maxvCpus', 'minvCpus', 'instanceTypes', 'imageType', 'spot'],
  fargate: ['enabled', 'maxvCpus', 'spot'],
} as const;

/** Which environment kind an options object configures. */
export type EnvironmentKind = keyof typeof ACCEPTED_KEYS;

const EC2_ONLY_KEYS = ['minvCpus', 'instanceTypes', 'imageType'];

/**
 * Reject options that do not apply to the environment kind (EC2 options on Fargate and the
 * reverse), and check the vCPU bounds. Returns the options unchanged.
 */
export function checkEnvironmentOptions<T extends EnvironmentCapacityOptions>(
  scope: IConstruct,
  kind: EnvironmentKind,
  options: T | undefined,
  defaultMaxvCpus: number,
): T & { maxvCpus: number } {
  const given = (options ?? {}) as T;
  if (typeof given !== 'object' || Array.isArray(given)) {
    invalidProp(scope, kind, given, 'an options object');
  }
  const accepted: readonly string[] = ACCEPTED_KEYS[kind];
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined || accepted.includes(key)) continue;
    if (kind === 'fargate' && EC2_ONLY_KEYS.includes(key)) {
      invalidProp(scope, `fargate.${key}`, value, 'left unset: it applies only to EC2 environments (onDemand, spot, gpu), not Fargate');
    }
    if (kind !== 'fargate' && ACCEPTED_KEYS.fargate.includes(key as never)) {
      invalidProp(scope, `${kind}.${key}`, value, `left unset: ${kind} is an EC2 ${kind === 'onDemand' ? 'on-demand' : 'Spot'} environment (Spot Fargate is fargate.spot)`);
    }
    invalidProp(scope, `${kind}.${key}`, value, `left unset: ${kind} accepts only ${accepted.join(', ')}`);
  }
  if (given.enabled !== undefined && typeof given.enabled !== 'boolean') {
    invalidProp(scope, `${kind}.enabled`, given.enabled, 'true or false');
  }
  const maxvCpus = given.maxvCpus ?? defaultMaxvCpus;
  if (typeof maxvCpus !== 'number' || !Number.isFinite(maxvCpus) || maxvCpus <= 0) {
    invalidProp(scope, `${kind}.maxvCpus`, maxvCpus, 'a positive integer');
  }
  checkIntegerInRange(scope, `${kind}.maxvCpus`, maxvCpus, 1, 100_000);
  const minvCpus = (given as Ec2EnvironmentOptions).minvCpus;
  if (minvCpus !== undefined) {
    checkIntegerInRange(scope, `${kind}.minvCpus`, minvCpus, 0, 100_000);
    if (minvCpus > maxvCpus) {
      invalidProp(scope, `${kind}.minvCpus`, minvCpus, `at most ${kind}.maxvCpus (${maxvCpus})`);
    }
  }
  return { ...given, maxvCpus };
}

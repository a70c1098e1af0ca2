import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { IConstruct } from 'constructs';
import { invalidProp } from '../validation';

/**
 * Instance families with NVIDIA GPUs that the ECS AL2023 NVIDIA AMI (`ECS_AL2023_NVIDIA`)
 * supports. (g4ad has AMD GPUs and g5g/g6g are Graviton-based, so they are not here.)
 */
export const NVIDIA_GPU_FAMILIES: readonly string[] = [
  'g4dn', 'g5', 'g6', 'g6e', 'g6f', 'gr6', 'gr6f', 'p4d', 'p4de', 'p5', 'p5e', 'p5en', 'p6-b200',
];

/** NVIDIA families the ECS AL2023 NVIDIA AMI does not support (V100 GPUs: p3, p3dn). */
export const AL2023_NVIDIA_UNSUPPORTED_FAMILIES: readonly string[] = ['p3', 'p3dn'];

/** What CPU environments launch when no instance types are given: Batch's current x86_64 default. */
export const DEFAULT_CPU_INSTANCE_TYPE = 'default_x86_64';

/** The GPU families a GPU environment uses when none are given. */
export const DEFAULT_GPU_INSTANCE_TYPES: readonly string[] = ['g4dn', 'g5', 'g6'];

/**
 * `m6i.large` (a type) or `m6i` (a family, Batch picks sizes); also Batch's `default_x86_64` /
 * `default_arm64`. A type's size is one EC2 names: nano … large, `<n>xlarge`, `metal`,
 * `metal-<n>xl` — so a typo like `m5.lrage` fails at synth, not when Batch creates the environment.
 */
const INSTANCE_TYPE_PATTERN = /^(default_x86_64|default_arm64|[a-z][a-z0-9-]*(\.(nano|micro|small|medium|large|([1-9][0-9]*)?xlarge|metal|metal-[1-9][0-9]*xl))?)$/;

/** The family part of `g5.xlarge` → `g5`. */
export function instanceFamily(instanceType: string): string {
  return instanceType.split('.')[0];
}

/** Instance choices in the shape the Batch L2 compute environment takes them. */
export interface ParsedInstanceTypes {
  /** Exact instance types (`m5.large`). */
  readonly instanceTypes: ec2.InstanceType[];
  /** Whole families (`m5`), passed to Batch verbatim. */
  readonly instanceClasses: ec2.InstanceClass[];
}

/**
 * Parse user-given instance types (`m6i.large`), families (`m6i`) or Batch defaults
 * (`default_x86_64`, `default_arm64`), checking the format; `prop` names them in errors.
 */
export function parseInstanceTypes(scope: IConstruct, prop: string, values: readonly string[]): ParsedInstanceTypes {
  if (!Array.isArray(values) || values.length === 0) {
    invalidProp(scope, prop, values, 'a non-empty list of instance types or families, e.g. ["m6i", "c6i.2xlarge"]');
  }
  for (const value of values) {
    if (typeof value !== 'string' || !INSTANCE_TYPE_PATTERN.test(value)) {
      invalidProp(scope, prop, value, 'an instance type ("m6i.large") or family ("m6i")');
    }
  }
  return {
    instanceTypes: values.filter((v) => v.includes('.')).map((v) => new ec2.InstanceType(v)),
    // Batch takes a family (or default_x86_64) wherever it takes a type; the L2 renders instance
    // classes verbatim. (Its `defaultInstanceClasses` prop fails the L2's own validation when
    // `useOptimalInstanceClasses` is false, so the defaults go here too.)
    instanceClasses: values.filter((v) => !v.includes('.')).map((v) => v as ec2.InstanceClass),
  };
}

/** Check every type/family in a GPU environment is an NVIDIA GPU family. */
export function checkGpuInstanceTypes(scope: IConstruct, prop: string, values: readonly string[]): void {
  const unsupported = values.filter((value) => AL2023_NVIDIA_UNSUPPORTED_FAMILIES.includes(instanceFamily(value)));
  if (unsupported.length > 0) {
    invalidProp(scope, prop, unsupported,
      `GPU instance families the ECS_AL2023_NVIDIA AMI supports (not ${AL2023_NVIDIA_UNSUPPORTED_FAMILIES.join(', ')}; use e.g. p4d, g5 or g6)`);
  }
  const notGpu = values.filter((value) => !NVIDIA_GPU_FAMILIES.includes(instanceFamily(value)));
  if (notGpu.length > 0) {
    invalidProp(scope, prop, notGpu, `NVIDIA GPU instance types or families (${NVIDIA_GPU_FAMILIES.join(', ')})`);
  }
}

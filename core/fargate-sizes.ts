/**
 * Task sizes Fargate accepts (Linux), as a pure table: no CDK import, so the runner's Batch
 * mapping (runner/policy) and the constructs (lib/fargate-size.ts) share it.
 * Source: Amazon ECS Developer Guide, "Task CPU and memory".
 */

/** CPU units → allowed memory (MiB) as [min, max, step]. */
export const FARGATE_MEMORY_RANGES: Readonly<Record<number, readonly [number, number, number]>> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** The CPU unit values Fargate accepts, ascending (1 vCPU = 1024 units). */
export const FARGATE_CPU_UNITS: readonly number[] = Object.keys(FARGATE_MEMORY_RANGES).map(Number);

/** The memory sizes (MiB) Fargate accepts with `cpu` units, or undefined for an invalid cpu. */
export function fargateMemoryChoices(cpu: number): number[] | undefined {
  const range = FARGATE_MEMORY_RANGES[cpu];
  if (!range) return undefined;
  const [min, max, step] = range;
  const choices: number[] = [];
  for (let memory = min; memory <= max; memory += step) choices.push(memory);
  return choices;
}

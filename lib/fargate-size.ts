import { IConstruct } from 'constructs';
import { invalidProp } from './validation';

/**
 * Task sizes Fargate accepts (Linux): CPU units → allowed memory (MiB) as [min, max, step].
 * Source: Amazon ECS Developer Guide, "Task CPU and memory".
 */
const FARGATE_MEMORY: Record<number, [number, number, number]> = {
  256: [512, 2048, 512],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

/** The memory sizes (MiB) Fargate accepts with `cpu` units, or undefined for an invalid cpu. */
export function fargateMemoryChoices(cpu: number): number[] | undefined {
  const range = FARGATE_MEMORY[cpu];
  if (!range) return undefined;
  const [min, max, step] = range;
  const choices: number[] = [];
  for (let memory = min; memory <= max; memory += step) choices.push(memory);
  return choices;
}

/** Check a Fargate task size: `cpu` units and `memory` MiB must be a pair Fargate accepts. */
export function checkFargateSize(scope: IConstruct, cpuProp: string, cpu: number, memoryProp: string, memory: number): void {
  const choices = fargateMemoryChoices(cpu);
  if (!choices) {
    invalidProp(scope, cpuProp, cpu, `Fargate CPU units, one of ${Object.keys(FARGATE_MEMORY).join(', ')}`);
  }
  if (!choices.includes(memory)) {
    const [min, max, step] = FARGATE_MEMORY[cpu];
    invalidProp(scope, memoryProp, memory, `a memory size Fargate accepts with ${cpuProp} ${cpu}: ${min}–${max} MiB in steps of ${step}`);
  }
}

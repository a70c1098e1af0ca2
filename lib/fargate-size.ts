import { IConstruct } from 'constructs';
import { invalidProp } from './validation';
import { FARGATE_CPU_UNITS, FARGATE_MEMORY_RANGES, fargateMemoryChoices } from '../core/fargate-sizes';

export { fargateMemoryChoices } from '../core/fargate-sizes';

/** Check a Fargate task size: `cpu` units and `memory` MiB must be a pair Fargate accepts. */
export function checkFargateSize(scope: IConstruct, cpuProp: string, cpu: number, memoryProp: string, memory: number): void {
  const choices = fargateMemoryChoices(cpu);
  if (!choices) {
    invalidProp(scope, cpuProp, cpu, `Fargate CPU units, one of ${FARGATE_CPU_UNITS.join(', ')}`);
  }
  if (!choices.includes(memory)) {
    const [min, max, step] = FARGATE_MEMORY_RANGES[cpu];
    invalidProp(scope, memoryProp, memory, `a memory size Fargate accepts with ${cpuProp} ${cpu}: ${min}–${max} MiB in steps of ${step}`);
  }
}

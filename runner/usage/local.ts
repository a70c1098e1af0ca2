import type { TaskTemplate } from '../contract';
import type { AttemptUsage } from './types';

/** A local attempt's usage: the step's @resources (a process of this machine uses what it uses; never priced). */
export function localUsage(t: Pick<TaskTemplate, 'policies'>): AttemptUsage {
  const r = t.policies.resources;
  return { vcpus: r.cpu, memoryMiB: r.memory, gpus: r.gpu, capacity: 'LOCAL' };
}

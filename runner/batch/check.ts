/**
 * `check(flow)` for Batch, before anything runs: every step's queue must be usable (exists, not
 * DISABLED or INVALID), and every step must fit the platform of its queue (its first compute
 * environment) under the rules of runner/policy/batch.ts. Pure: queue details are looked up by
 * the caller (QueueInspector, once per queue) and passed in.
 */
import { BatchJobDefinitionInput, checkBatchStep } from '../policy/batch';
import type { QueueInfo } from './queues';

/** A step as the check sees it: its mapping input without the platform, and its queue. */
export interface BatchCheckStep {
  readonly input: Omit<BatchJobDefinitionInput, 'platform'>;
  readonly queue: string;
}

/** One line per problem, in step order; empty when the flow can run on Batch. */
export function checkBatchFlow(steps: readonly BatchCheckStep[], queues: ReadonlyMap<string, QueueInfo>): string[] {
  const problems: string[] = [];
  for (const step of steps) {
    const info = queues.get(step.queue);
    const where = `step "${step.input.step}"`;
    if (!info) {
      problems.push(`${where}: job queue ${JSON.stringify(step.queue)} was not looked up`);
      continue;
    }
    if (info.problem) {
      problems.push(`${where}: ${info.problem}`);
      continue;
    }
    problems.push(...checkBatchStep({ ...step.input, platform: info.platform ?? 'EC2' }));
  }
  return problems;
}

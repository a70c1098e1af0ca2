import { checkBatchFlow } from '../../../runner/batch/check';
import { QueueInfo } from '../../../runner/batch/queues';
import { EffectivePolicies } from '../../../runner/policy';

const policies = (cpu: number, gpu = 0): EffectivePolicies => ({ resources: { cpu, memory: 4096, gpu }, retries: 0, retryDelayMs: 0 });
const step = (name: string, queue: string, cpu = 1, gpu = 0) => ({ queue, input: { flow: 'F', step: name, image: 'img', policies: policies(cpu, gpu), executionRoleArn: 'arn:exec' } });

describe('Batch check(flow)', () => {
  const queues = new Map<string, QueueInfo>([
    ['ec2', { queue: 'ec2', platform: 'EC2', computeEnvironments: [] }],
    ['fargate', { queue: 'fargate', platform: 'FARGATE', computeEnvironments: [] }],
    ['off', { queue: 'off', problem: 'job queue "off" is DISABLED', computeEnvironments: [] }],
  ]);

  test('a flow that fits its queues passes', () => {
    expect(checkBatchFlow([step('start', 'ec2', 2), step('fit', 'fargate', 0.5)], queues)).toEqual([]);
  });

  test("each step is checked against its queue's platform; queue problems named per step", () => {
    expect(checkBatchFlow([step('start', 'ec2', 0.5), step('fit', 'fargate', 1, 1), step('end', 'off'), step('x', 'nowhere')], queues)).toEqual([
      'step "start": resources.cpu must be a whole number of vCPUs on EC2 (fractions only on Fargate), got 0.5',
      'step "fit": resources.gpu is not available on Fargate, got 1',
      'step "end": job queue "off" is DISABLED',
      'step "x": job queue "nowhere" was not looked up',
    ]);
  });
});

import { BatchClient, DescribeJobDefinitionsCommand, DescribeJobQueuesCommand, DescribeComputeEnvironmentsCommand, RegisterJobDefinitionCommand } from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import {
  batchJobDefinition,
  BatchJobDefinitionInput,
  batchJobTags,
  batchRetryStrategy,
  boundedBatchName,
  checkBatchStep,
  EffectivePolicies,
} from '../../../runner/policy';
import { classifyFailure, infrastructureRetries } from '../../../runner/batch/failures';
import { ApiCallCounter } from '../../../runner/batch/api-calls';
import { JobDefinitionRegistry } from '../../../runner/batch/job-definitions';
import { QueueInspector } from '../../../runner/batch/queues';

const policies = (over: Partial<EffectivePolicies['resources']> = {}, timeoutSeconds?: number): EffectivePolicies => ({
  resources: { cpu: 1, memory: 4096, gpu: 0, ...over },
  retries: 0,
  retryDelayMs: 0,
  timeoutSeconds,
});
const base = (over: Partial<BatchJobDefinitionInput> = {}): BatchJobDefinitionInput => ({
  flow: 'HelloFlow',
  step: 'train',
  image: 'python:3.12-slim',
  policies: policies(),
  platform: 'EC2',
  jobRoleArn: 'arn:aws:iam::1:role/job',
  ...over,
});
// EC2 spot reclaim / lost host, then a Fargate Spot reclaim (the ECS stopped reason), then the catch-all
const RETRY = { attempts: 4, evaluateOnExit: [{ onStatusReason: 'Host EC2*', action: 'RETRY' }, { onStatusReason: 'Your Spot Task was interrupted*', action: 'RETRY' }, { onStatusReason: '*', action: 'EXIT' }] };

describe('step policy → Batch job definition', () => {
  test('EC2 with GPU, shared memory, tmpfs, swap, timeout: exact payload', () => {
    const def = batchJobDefinition(
      base({
        policies: policies({ cpu: 8, memory: 61000, gpu: 1, sharedMemory: 2048, tmpfs: 1024 }, 7200),
        options: { swappiness: 10, maxSwap: 4096, infrastructureRetries: 2 },
      }),
    );
    expect(def).toEqual({
      jobDefinitionName: expect.stringMatching(/^metaflow_HelloFlow-train-[0-9a-f]{12}$/),
      type: 'container',
      platformCapabilities: ['EC2'],
      containerProperties: {
        image: 'python:3.12-slim',
        jobRoleArn: 'arn:aws:iam::1:role/job',
        resourceRequirements: [
          { type: 'VCPU', value: '8' },
          { type: 'MEMORY', value: '61000' },
          { type: 'GPU', value: '1' },
        ],
        linuxParameters: { sharedMemorySize: 2048, tmpfs: [{ containerPath: '/metaflow_temp', size: 1024 }], maxSwap: 4096, swappiness: 10 },
      },
      retryStrategy: { ...RETRY, attempts: 3 },
      timeout: { attemptDurationSeconds: 7200 },
      propagateTags: true,
      tags: { 'metaflow.flow': 'HelloFlow', 'metaflow.step': 'train' },
    });
  });

  test('EC2 defaults: no GPU entry, no linuxParameters, no timeout, 1 + 3 infrastructure attempts', () => {
    expect(batchJobDefinition(base())).toEqual({
      jobDefinitionName: expect.any(String),
      type: 'container',
      platformCapabilities: ['EC2'],
      containerProperties: {
        image: 'python:3.12-slim',
        jobRoleArn: 'arn:aws:iam::1:role/job',
        resourceRequirements: [
          { type: 'VCPU', value: '1' },
          { type: 'MEMORY', value: '4096' },
        ],
      },
      retryStrategy: RETRY,
      propagateTags: true,
      tags: { 'metaflow.flow': 'HelloFlow', 'metaflow.step': 'train' },
    });
  });

  test.each([
    [0.25, 512, 21, false],
    [0.5, 4096, undefined, true],
    [4, 30720, 200, false],
    [16, 122880, 100, true],
  ])('Fargate cpu %p memory %p storage %p public IP %p: exact payload', (cpu, memory, storage, publicIp) => {
    const def = batchJobDefinition(
      base({
        platform: 'FARGATE',
        executionRoleArn: 'arn:aws:iam::1:role/exec',
        policies: policies({ cpu, memory, ephemeralStorage: storage }),
        options: { assignPublicIp: publicIp },
      }),
    );
    expect(def.platformCapabilities).toEqual(['FARGATE']);
    expect(def.containerProperties).toEqual({
      image: 'python:3.12-slim',
      jobRoleArn: 'arn:aws:iam::1:role/job',
      executionRoleArn: 'arn:aws:iam::1:role/exec',
      resourceRequirements: [
        { type: 'VCPU', value: String(cpu) },
        { type: 'MEMORY', value: String(memory) },
      ],
      ...(storage !== undefined ? { ephemeralStorage: { sizeInGiB: storage } } : {}),
      ...(publicIp ? { networkConfiguration: { assignPublicIp: 'ENABLED' } } : {}),
    });
    expect(checkBatchStep(base({ platform: 'FARGATE', executionRoleArn: 'x', policies: policies({ cpu, memory, ephemeralStorage: storage }) }))).toEqual([]);
  });

  test("the stack's public compute subnets (BATCH_ASSIGN_PUBLIC_IP) give Fargate tasks a public IP to pull their image; a step's own false wins; EC2 never", () => {
    const fargate = (extra: object) => batchJobDefinition(base({ platform: 'FARGATE', executionRoleArn: 'arn:aws:iam::1:role/exec', policies: policies({ cpu: 1, memory: 2048 }), ...extra })).containerProperties!.networkConfiguration;
    expect(fargate({ assignPublicIp: true })).toEqual({ assignPublicIp: 'ENABLED' });
    expect(fargate({ assignPublicIp: false })).toBeUndefined();
    expect(fargate({ assignPublicIp: true, options: { assignPublicIp: false } })).toBeUndefined();
    expect(batchJobDefinition(base({ assignPublicIp: true })).containerProperties!.networkConfiguration).toBeUndefined();
  });

  test('the name is a content hash: same content → same name, any change → another name', () => {
    const a = batchJobDefinition(base()).jobDefinitionName;
    expect(batchJobDefinition(base()).jobDefinitionName).toBe(a);
    expect(batchJobDefinition(base({ image: 'python:3.13-slim' })).jobDefinitionName).not.toBe(a);
    expect(batchJobDefinition(base({ policies: policies({}, 60) })).jobDefinitionName).not.toBe(a);
    const long = batchJobDefinition(base({ flow: 'F'.repeat(200), step: 's.t e p'.repeat(30) })).jobDefinitionName!;
    expect(long.length).toBeLessThanOrEqual(128);
    expect(long).toMatch(/^metaflow_F+-s_t_e_p[A-Za-z0-9_]*-[0-9a-f]{12}-[0-9a-f]{8}$/);
  });

  test('retryStrategy: attempts = 1 + infrastructure retries, ≤5 entries, last one a catch-all EXIT', () => {
    for (const retries of [0, 3, 9]) {
      const strategy = batchRetryStrategy(retries);
      expect(strategy.attempts).toBe(retries + 1);
      expect(strategy.evaluateOnExit!.length).toBeLessThanOrEqual(5);
      expect(strategy.evaluateOnExit!.at(-1)).toEqual({ onStatusReason: '*', action: 'EXIT' });
      expect(strategy.evaluateOnExit).toEqual([{ onStatusReason: 'Host EC2*', action: 'RETRY' }, { onStatusReason: 'Your Spot Task was interrupted*', action: 'RETRY' }, { onStatusReason: '*', action: 'EXIT' }]);
      // Batch's rule for onStatusReason: letters, digits, periods, colons and white space, optionally ending with *
      for (const e of strategy.evaluateOnExit!) expect(e.onStatusReason).toMatch(/^[A-Za-z0-9.: \t]*\*?$/);
    }
  });

  test('a Fargate Spot reclaim Batch retried is counted like an EC2 one; on the last attempt it is a host loss', () => {
    const FARGATE_SPOT = 'Your Spot Task was interrupted.';
    expect(infrastructureRetries([{ statusReason: FARGATE_SPOT }, { container: { exitCode: 0 } }], 'SUCCEEDED')).toEqual([{ attempt: 1, statusReason: FARGATE_SPOT }]);
    expect(classifyFailure({ statusReason: FARGATE_SPOT, attempts: [{ statusReason: FARGATE_SPOT }, { statusReason: FARGATE_SPOT }] })).toMatchObject({ kind: 'host-lost', retryable: true });
    // an EC2 host loss is still one; other reasons are not
    expect(infrastructureRetries([{ statusReason: 'Host EC2 (instance i-1) terminated.' }, { statusReason: 'Essential container in task exited' }], 'FAILED')).toEqual([{ attempt: 1, statusReason: 'Host EC2 (instance i-1) terminated.' }]);
  });

  test('tags: flow, run, step, task, attempt always win over user tags', () => {
    expect(batchJobTags({ flow: 'F', runId: '12', step: 's', taskId: '3', attempt: 1 }, { team: 'ml', 'metaflow.step': 'x' })).toEqual({
      team: 'ml',
      'metaflow.flow': 'F',
      'metaflow.run_id': '12',
      'metaflow.step': 's',
      'metaflow.task_id': '3',
      'metaflow.attempt': '1',
    });
  });

  test('bounded names keep every part readable and stay within the limit', () => {
    expect(boundedBatchName(['a b', 'c/d'])).toBe('a_b-c_d');
    const name = boundedBatchName(['x'.repeat(100), 'y'.repeat(100), 'tail'], 60);
    expect(name.length).toBe(60);
    expect(name).toMatch(/^x+-y+-tail-[0-9a-f]{8}$/);
  });
});

describe('Batch check(step)', () => {
  test('each rule is one line naming the step and the value', () => {
    const problems = (over: Partial<BatchJobDefinitionInput>) => checkBatchStep(base(over));
    expect(problems({ image: '' })).toEqual(['step "train": Batch needs a container image (set image on the step or the flow)']);
    expect(problems({ policies: policies({}, 59) })).toEqual(['step "train": timeout on Batch must be at least 60 s, got 59 s']);
    expect(problems({ policies: policies({}, 90.5) })).toEqual(['step "train": timeout on Batch must be whole seconds, got 90.5 s']);
    expect(problems({ policies: policies({ cpu: 0.5 }) })).toEqual([
      'step "train": resources.cpu must be a whole number of vCPUs on EC2 (fractions only on Fargate), got 0.5',
    ]);
    expect(problems({ policies: policies({ ephemeralStorage: 30 }) })).toEqual([
      'step "train": resources.ephemeralStorage is only available on Fargate (EC2 uses the instance\'s disk), got 30',
    ]);
    const fargate = (r: Partial<EffectivePolicies['resources']>) => problems({ platform: 'FARGATE', executionRoleArn: 'x', policies: policies(r) });
    expect(fargate({ gpu: 1 })).toEqual(['step "train": resources.gpu is not available on Fargate, got 1']);
    expect(fargate({ cpu: 3 })).toEqual(['step "train": resources.cpu on Fargate must be one of 0.25, 0.5, 1, 2, 4, 8, 16 vCPUs, got 3']);
    expect(fargate({ cpu: 0.25, memory: 4096 })).toEqual(['step "train": resources.memory on Fargate with cpu 0.25 must be 512–2048 MiB in steps of 512, got 4096']);
    expect(fargate({ ephemeralStorage: 20 })).toEqual([
      'step "train": resources.ephemeralStorage on Fargate must be a whole number of GiB from 21 to 200, got 20',
    ]);
    expect(fargate({ sharedMemory: 64 })).toEqual(['step "train": resources.sharedMemory is not available on Fargate, got 64']);
    expect(problems({ platform: 'FARGATE' })).toEqual(['step "train": Fargate needs an execution role (ECS_FARGATE_EXECUTION_ROLE or --execution-role)']);
    expect(problems({ options: { swappiness: 60 } })).toEqual(['step "train": swappiness needs maxSwap (Batch ignores it otherwise)']);
    expect(problems({ options: { infrastructureRetries: 10 } })).toEqual(['step "train": infrastructureRetries must be a whole number from 0 to 9, got 10']);
    expect(problems({ options: { assignPublicIp: true } })).toEqual(['step "train": assignPublicIp applies to Fargate only']);
    expect(problems({ options: { tags: { 'aws:x': '1', 'ok key': 'v\u0000' } } })).toEqual([
      'step "train": tag key "aws:x" uses a reserved prefix (aws:, metaflow.)',
      'step "train": tag "ok key" value must be a string of ≤256 letters, digits, spaces or _.:/=+-@, got "v\\u0000"',
    ]);
  });
});

describe('job definition registry', () => {
  const batchMock = mockClient(BatchClient);
  beforeEach(() => batchMock.reset());

  test('one lookup per distinct definition per run; registers only what is missing', async () => {
    const existing = batchJobDefinition(base());
    const missing = batchJobDefinition(base({ step: 'other' }));
    batchMock
      .on(DescribeJobDefinitionsCommand, { jobDefinitionName: existing.jobDefinitionName, status: 'ACTIVE' })
      .resolves({
        jobDefinitions: [
          { jobDefinitionName: existing.jobDefinitionName!, jobDefinitionArn: 'arn:def:1', revision: 1, type: 'container', status: 'ACTIVE' },
          { jobDefinitionName: existing.jobDefinitionName!, jobDefinitionArn: 'arn:def:2', revision: 2, type: 'container', status: 'ACTIVE' },
        ],
      })
      .on(DescribeJobDefinitionsCommand, { jobDefinitionName: missing.jobDefinitionName, status: 'ACTIVE' })
      .resolves({ jobDefinitions: [] })
      .on(RegisterJobDefinitionCommand)
      .resolves({ jobDefinitionArn: 'arn:def:new', jobDefinitionName: missing.jobDefinitionName!, revision: 1 });
    const calls = new ApiCallCounter();
    const registry = new JobDefinitionRegistry(new BatchClient({ region: 'us-east-1' }), calls);
    const arns = await Promise.all([registry.ensure(existing), registry.ensure(existing), registry.ensure(missing), registry.ensure(batchJobDefinition(base()))]);
    expect(arns).toEqual(['arn:def:2', 'arn:def:2', 'arn:def:new', 'arn:def:2']);
    expect(await registry.ensure(missing)).toBe('arn:def:new');
    expect(calls.snapshot()).toEqual({ DescribeJobDefinitions: 2, RegisterJobDefinition: 1 });
    expect(batchMock.commandCalls(RegisterJobDefinitionCommand)[0].args[0].input).toEqual(missing);
  });

  test('a failed lookup is not cached', async () => {
    batchMock.on(DescribeJobDefinitionsCommand).rejectsOnce(new Error('boom')).resolves({ jobDefinitions: [{ jobDefinitionArn: 'arn:x', jobDefinitionName: 'n', revision: 1, type: 'container' }] });
    const registry = new JobDefinitionRegistry(new BatchClient({ region: 'us-east-1' }));
    await expect(registry.ensure(batchJobDefinition(base()))).rejects.toThrow('boom');
    await expect(registry.ensure(batchJobDefinition(base()))).resolves.toBe('arn:x');
  });
});

describe('queue inspector', () => {
  const batchMock = mockClient(BatchClient);
  beforeEach(() => batchMock.reset());

  test('platform from the FIRST compute environment by order; one lookup per queue per run', async () => {
    batchMock
      .on(DescribeJobQueuesCommand, { jobQueues: ['mixed'] })
      .resolves({
        jobQueues: [
          {
            jobQueueName: 'mixed', jobQueueArn: 'arn:q', state: 'ENABLED', status: 'VALID', priority: 1,
            computeEnvironmentOrder: [{ order: 2, computeEnvironment: 'ec2-ce' }, { order: 1, computeEnvironment: 'fargate-ce' }],
          },
        ],
      })
      .on(DescribeComputeEnvironmentsCommand)
      .resolves({
        computeEnvironments: [
          { computeEnvironmentName: 'ec2-ce', computeEnvironmentArn: 'arn:ce:ec2', computeResources: { type: 'SPOT', maxvCpus: 64, subnets: [] } },
          { computeEnvironmentName: 'fargate-ce', computeEnvironmentArn: 'arn:ce:f', computeResources: { type: 'FARGATE_SPOT', maxvCpus: 16, subnets: [] } },
        ],
      });
    const calls = new ApiCallCounter();
    const queues = new QueueInspector(new BatchClient({ region: 'us-east-1' }), calls);
    const [info] = await Promise.all([queues.inspect('mixed'), queues.inspect('mixed')]);
    await queues.inspect('mixed');
    expect(info.platform).toBe('FARGATE');
    expect(info.problem).toBeUndefined();
    expect(info.computeEnvironments.map((c) => c.computeEnvironmentName)).toEqual(['fargate-ce', 'ec2-ce']);
    expect(calls.snapshot()).toEqual({ DescribeComputeEnvironments: 1, DescribeJobQueues: 1 });
  });

  test.each([
    [{ jobQueues: [] }, 'job queue "q" does not exist'],
    [{ jobQueues: [{ jobQueueName: 'q', jobQueueArn: 'a', priority: 1, state: 'DISABLED', status: 'VALID', computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }] }] }, 'job queue "q" is DISABLED'],
    [
      { jobQueues: [{ jobQueueName: 'q', jobQueueArn: 'a', priority: 1, state: 'ENABLED', status: 'INVALID', statusReason: 'CE gone', computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }] }] },
      'job queue "q" is INVALID: CE gone',
    ],
  ])('queue problems: %#', async (answer, problem) => {
    batchMock.on(DescribeJobQueuesCommand).resolves(answer as never).on(DescribeComputeEnvironmentsCommand).resolves({ computeEnvironments: [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', computeResources: { type: 'EC2', maxvCpus: 4, subnets: [] } }] });
    const info = await new QueueInspector(new BatchClient({ region: 'us-east-1' })).inspect('q');
    expect(info.problem).toBe(problem);
  });
});

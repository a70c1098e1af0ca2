import {
  BatchClient,
  DescribeComputeEnvironmentsCommand,
  DescribeJobDefinitionsCommand,
  DescribeJobQueuesCommand,
  RegisterJobDefinitionCommand,
  SubmitJobCommand,
  SubmitJobCommandInput,
} from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { BatchComputeLayer } from '../../runner/batch/layer';
import { QueueInspector } from '../../runner/batch/queues';
import { batchSettings, BatchSettings } from '../../runner/batch/settings';
import { BatchSubmitter, JobTemplate } from '../../runner/batch/submitter';
import { defineFlow, FlowSpec } from '../../runner/flow/model';
import { validateFlow } from '../../runner/flow/validate';
import { effectivePolicies } from '../../runner/policy';

/**
 * Jobs on fair-share queues (issue 17). moto ignores shareIdentifier, so the SubmitJob payloads
 * are asserted on a mocked client: a fair-share queue refuses a job without a share identifier
 * (HTTP 400 — nextflow#3088), so the runner sends one, with the step's priority, exactly when the
 * queue has a scheduling policy, and says "name a team" before submitting anything otherwise.
 */
const POLICY = 'arn:aws:batch:us-east-1:123456789012:scheduling-policy/teams';
const TEAM_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/teams';
const FIFO_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow';

const mock = mockClient(BatchClient);
beforeEach(() => {
  mock.reset();
  mock.on(DescribeJobQueuesCommand).callsFake(({ jobQueues }: { jobQueues: string[] }) => ({
    jobQueues: [{
      jobQueueName: jobQueues[0],
      jobQueueArn: jobQueues[0] === 'teams' ? TEAM_QUEUE : FIFO_QUEUE,
      state: 'ENABLED', status: 'VALID', priority: 1,
      ...(jobQueues[0] === 'teams' ? { schedulingPolicyArn: POLICY } : {}),
      computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }],
    }],
  }));
  mock.on(DescribeComputeEnvironmentsCommand).resolves({
    computeEnvironments: [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', computeResources: { type: 'EC2', maxvCpus: 256, subnets: [] } as never }],
  });
  mock.on(DescribeJobDefinitionsCommand).resolves({ jobDefinitions: [] });
  mock.on(RegisterJobDefinitionCommand).callsFake((input) => ({ jobDefinitionName: input.jobDefinitionName, jobDefinitionArn: `arn:jd/${input.jobDefinitionName}:1`, revision: 1 }));
  mock.on(SubmitJobCommand).resolves({ jobId: 'job-1', jobName: 'x', jobArn: 'arn:job/job-1' });
});

const settings = (extra: Partial<BatchSettings> = {}): BatchSettings => ({
  queue: 'teams',
  gpuQueue: 'teams',
  jobRoleArn: 'arn:aws:iam::123456789012:role/team-ml',
  datastoreRoot: { bucket: 'b', prefix: 'metaflow/.teams/ml', url: 's3://b/metaflow/.teams/ml' },
  ...extra,
});

function graphOf(spec: Partial<FlowSpec> = {}) {
  const v = validateFlow(defineFlow({
    name: 'Sweep',
    image: 'python:3.12',
    steps: [
      { name: 'start', command: ['true'], next: 'end', batch: { schedulingPriority: 50 } },
      { name: 'end', command: ['true'], batch: { queue: 'fifo' } },
    ],
    ...spec,
  }));
  if (!v.ok) throw new Error(v.problems.join('\n'));
  return v.graph;
}

function layerOf(s: BatchSettings) {
  return new BatchComputeLayer({
    settings: s, batch: new BatchClient({ region: 'us-east-1' }), logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    user: 'alice', codePackageUrl: 's3://b/metaflow/.teams/ml/Sweep/data/ab/ab12345678901234567890123456789012345678',
  });
}

describe('the queue inspector', () => {
  it('reports a queue\'s scheduling policy, and none for a FIFO queue', async () => {
    const inspector = new QueueInspector(new BatchClient({ region: 'us-east-1' }));
    expect((await inspector.inspect('teams')).schedulingPolicyArn).toBe(POLICY);
    expect((await inspector.inspect('fifo')).schedulingPolicyArn).toBeUndefined();
  });
});

describe('check before anything is submitted', () => {
  it('a fair-share queue without a team is one line, and nothing is submitted', async () => {
    const layer = layerOf(settings());
    const graph = graphOf();
    await layer.lookUp(graph);
    expect(layer.check(graph)).toEqual([
      'job queue "teams" has a fair-share scheduling policy and takes only jobs with a team: name one with --team <name>, METAFLOW_TEAM in the Metaflow config or the flow\'s team field',
    ]);
    expect(mock.commandCalls(SubmitJobCommand)).toHaveLength(0);
  });

  it('with a team (flag, config or flow) there is nothing to report', async () => {
    for (const [s, spec] of [[settings({ team: 'ml' }), {}], [settings(), { team: 'ml' }]] as const) {
      const layer = layerOf(s);
      const graph = graphOf(spec);
      await layer.lookUp(graph);
      expect(layer.check(graph)).toEqual([]);
    }
  });

  it('FIFO queues need no team', async () => {
    const layer = layerOf(settings({ queue: 'fifo', gpuQueue: 'fifo' }));
    const graph = graphOf({ steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }] });
    await layer.lookUp(graph);
    expect(layer.check(graph)).toEqual([]);
  });

  it('--team before METAFLOW_TEAM; a bad team name is one line naming where it came from', () => {
    const config = { profile: { BATCH_JOB_QUEUE: 'teams', DATASTORE_SYSROOT_S3: 's3://bucket/metaflow', TEAM: 'research' } } as never;
    expect(batchSettings(config, { team: 'ml' }).team).toBe('ml');
    expect(batchSettings(config).team).toBe('research');
    expect(() => batchSettings(config, { team: 'ML' })).toThrow(/^--team: expected a team name .*got "ML"$/);
    expect(validateFlow(defineFlow({ name: 'F', image: 'i', team: 'a b', steps: [{ name: 'start', command: ['true'] }] })).ok).toBe(false);
  });

  it('a team profile (configure --team): runs of its team go to BATCH_TEAM_JOB_QUEUE, other runs to the FIFO BATCH_JOB_QUEUE', () => {
    const profile = { BATCH_JOB_QUEUE: 'fifo', BATCH_TEAM_JOB_QUEUE: 'ml-fair', DATASTORE_SYSROOT_S3: 's3://bucket/metaflow/.teams/ml', TEAM: 'ml' };
    const config = { profile } as never;
    expect(batchSettings(config).queue).toBe('ml-fair');
    expect(batchSettings(config, { team: 'ml' }).queue).toBe('ml-fair');
    // Another team's run does not take ml's queue; --queue wins over both.
    expect(batchSettings(config, { team: 'research' }).queue).toBe('fifo');
    expect(batchSettings(config, { queue: 'mine' }).queue).toBe('mine');
    expect(batchSettings({ profile: { ...profile, TEAM: undefined } } as never).queue).toBe('fifo');
  });

  it('a team profile\'s GPU steps go to BATCH_TEAM_JOB_QUEUE_GPU; another team\'s to the FIFO BATCH_JOB_QUEUE_GPU; --gpu-queue wins', () => {
    const profile = {
      BATCH_JOB_QUEUE: 'fifo', BATCH_JOB_QUEUE_GPU: 'fifo-gpu', BATCH_TEAM_JOB_QUEUE: 'ml-fair', BATCH_TEAM_JOB_QUEUE_GPU: 'teams-gpu',
      DATASTORE_SYSROOT_S3: 's3://bucket/metaflow/.teams/ml', TEAM: 'ml',
    };
    const config = { profile } as never;
    expect(batchSettings(config).gpuQueue).toBe('teams-gpu');
    expect(batchSettings(config, { team: 'research' }).gpuQueue).toBe('fifo-gpu');
    expect(batchSettings(config, { gpuQueue: 'mine' }).gpuQueue).toBe('mine');
    // A stack without GPU environments has no GPU team queue: GPU steps fall back as before.
    expect(batchSettings({ profile: { ...profile, BATCH_TEAM_JOB_QUEUE_GPU: undefined } } as never).gpuQueue).toBe('fifo-gpu');
  });

  it('a schedulingPriority outside 0–9999 is one line naming the step', async () => {
    const layer = layerOf(settings({ team: 'ml' }));
    const graph = graphOf({ steps: [{ name: 'start', command: ['true'], next: 'end', batch: { schedulingPriority: 10000 } }, { name: 'end', command: ['true'] }] });
    await layer.lookUp(graph);
    expect(layer.check(graph)).toEqual([expect.stringMatching(/^step "start".*schedulingPriority must be a whole number from 0 to 9999, got 10000$/)]);
  });
});

describe('job templates', () => {
  /** The template the layer builds for a step (the code path every SubmitJob of the step takes). */
  async function templateOf(s: BatchSettings, step: string, spec: Partial<FlowSpec> = {}) {
    const layer = layerOf(s);
    const graph = graphOf(spec);
    await layer.lookUp(graph);
    expect(layer.check(graph)).toEqual([]);
    const stepSpec = graph.steps.get(step)!;
    return (layer as unknown as { jobTemplate(t: unknown): Promise<JobTemplate> }).jobTemplate({
      flow: 'Sweep', runId: '20260101-000000-abc', step, image: 'python:3.12', command: ['true'], policies: effectivePolicies(stepSpec),
    });
  }

  it('on the fair-share queue: the team as share identifier, the step\'s priority, team and user as owner', async () => {
    const t = await templateOf(settings({ team: 'ml' }), 'start');
    expect(t.queue).toBe(TEAM_QUEUE);
    expect(t.share).toEqual({ identifier: 'ml', priority: 50 });
    expect(t.owner).toEqual({ team: 'ml', user: 'alice' });
  });

  it('with BATCH_JOB_LOG_GROUP: the registered job definition sends the container log to that group', async () => {
    const config = { profile: { BATCH_JOB_QUEUE: 'teams', DATASTORE_SYSROOT_S3: 's3://bucket/metaflow/.teams/ml', TEAM: 'ml', BATCH_JOB_LOG_GROUP: '/metaflow/Metaflow/jobs' } } as never;
    const t = await templateOf(batchSettings(config), 'start');
    const registered = mock.commandCalls(RegisterJobDefinitionCommand).map((c) => c.args[0].input);
    expect(registered).toHaveLength(1);
    expect(registered[0].containerProperties!.logConfiguration).toEqual({ logDriver: 'awslogs', options: { 'awslogs-group': '/metaflow/Metaflow/jobs' } });
    expect(t.definition.containerProperties!.logConfiguration).toEqual(registered[0].containerProperties!.logConfiguration);
    // Without the key, no log configuration: Batch's default group /aws/batch/job.
    mock.resetHistory();
    await templateOf(settings({ team: 'ml' }), 'start');
    expect(mock.commandCalls(RegisterJobDefinitionCommand)[0].args[0].input.containerProperties!.logConfiguration).toBeUndefined();
  });

  it('a BATCH_JOB_LOG_GROUP that is no log group name is one line naming the key and the value', () => {
    const config = { profile: { BATCH_JOB_QUEUE: 'teams', DATASTORE_SYSROOT_S3: 's3://bucket/m', BATCH_JOB_LOG_GROUP: 'a group' } } as never;
    expect(() => batchSettings(config)).toThrow(/^METAFLOW_BATCH_JOB_LOG_GROUP must be a CloudWatch Logs group name .*got "a group"$/);
  });

  it('on a FIFO queue of the same run: no share (Batch refuses one there), still the team tag', async () => {
    const t = await templateOf(settings(), 'end', { team: 'ml' });
    expect(t.queue).toBe(FIFO_QUEUE);
    expect(t.share).toBeUndefined();
    expect(t.owner).toEqual({ team: 'ml', user: 'alice' });
  });
});

describe('SubmitJob', () => {
  const template: JobTemplate = {
    flow: 'Sweep', runId: '20260101-000000-abc', step: 'start', attempt: 0, queue: TEAM_QUEUE,
    jobDefinition: 'arn:jd/metaflow_x:1', definition: { containerProperties: { command: ['sh', '-c', 'true'] } },
    env: { MF_RUN_ID: '20260101-000000-abc' },
    io: { datastoreUrl: 's3://b/metaflow/.teams/ml', fetchKeys: [], outputKey: 'Sweep/20260101-000000-abc/start/0/attempt-0' },
    code: { codeUrl: 's3://b/metaflow/.teams/ml/Sweep/data/ab/ab12345678901234567890123456789012345678' },
    share: { identifier: 'ml', priority: 50 },
    owner: { team: 'ml', user: 'alice' },
  };
  const sent = (): SubmitJobCommandInput => mock.commandCalls(SubmitJobCommand)[0].args[0].input;

  it('carries shareIdentifier, schedulingPriorityOverride and the cost tags, propagated to the ECS task', async () => {
    await new BatchSubmitter(new BatchClient({ region: 'us-east-1' })).submitTask(template, '0');
    expect({ ...sent(), containerOverrides: undefined }).toEqual({
      jobName: expect.any(String),
      jobQueue: TEAM_QUEUE,
      jobDefinition: 'arn:jd/metaflow_x:1',
      containerOverrides: undefined,
      tags: {
        'metaflow.flow': 'Sweep', 'metaflow.run_id': '20260101-000000-abc', 'metaflow.step': 'start', 'metaflow.task_id': '0', 'metaflow.attempt': '0',
        'metaflow.team': 'ml', 'metaflow.user': 'alice',
      },
      propagateTags: true,
      shareIdentifier: 'ml',
      schedulingPriorityOverride: 50,
    });
  });

  it('an array job of a foreach carries the share too', async () => {
    await new BatchSubmitter(new BatchClient({ region: 'us-east-1' })).submitGroup(template, 3);
    expect(sent()).toMatchObject({ shareIdentifier: 'ml', schedulingPriorityOverride: 50, arrayProperties: { size: 3 } });
  });

  it('without a share (a FIFO queue) neither field is sent', async () => {
    await new BatchSubmitter(new BatchClient({ region: 'us-east-1' })).submitTask({ ...template, share: undefined, owner: undefined }, '0');
    expect(Object.keys(sent())).not.toContain('shareIdentifier');
    expect(Object.keys(sent())).not.toContain('schedulingPriorityOverride');
    expect(Object.keys(sent().tags!)).not.toContain('metaflow.team');
  });
});

import { BatchClient, SubmitJobCommand } from '@aws-sdk/client-batch';
import { mockClient } from 'aws-sdk-client-mock';
import { arrayChunks, BatchSubmitter, JobTemplate } from '../../../runner/batch/submitter';
import { reattachJobs } from '../../../runner/batch/reattach';
import { checkEcsBudget, environmentMap, loaderCommand } from '../../../runner/batch/job-shape';

const batchMock = mockClient(BatchClient);
const template: JobTemplate = {
  flow: 'SweepFlow',
  runId: '1732',
  step: 'fit',
  attempt: 0,
  queue: 'arn:aws:batch:us-east-1:1:job-queue/q',
  jobDefinition: 'arn:aws:batch:us-east-1:1:job-definition/metaflow-SweepFlow-fit-abc:1',
  definition: { containerProperties: { image: 'python:3.12-slim', command: loaderCommand(['python3', 'fit.py']) } },
  env: { MF_RUN_ID: '1732', MF_STEP: 'fit' },
  tags: { team: 'ml' },
  io: { datastoreUrl: 's3://mf-data/mf', fetchKeys: [], outputKey: 'SweepFlow/1732/fit/{taskId}/attempt-0' },
  code: { codeUrl: `s3://mf-data/mf/SweepFlow/data/ab/ab${'0'.repeat(38)}` },
};
/** The runtime's I/O keys every job of the template carries. */
const IO_ENV = [
  { name: 'MF_CODE_URL', value: template.code.codeUrl },
  { name: 'MF_DATASTORE_URL', value: 's3://mf-data/mf' },
  { name: 'MF_OUTPUT_KEY', value: 'SweepFlow/1732/fit/{taskId}/attempt-0' },
];
let ids = 0;
beforeEach(() => {
  batchMock.reset();
  ids = 0;
  batchMock.on(SubmitJobCommand).callsFake((input) => ({ jobId: `job-${++ids}`, jobName: input.jobName, jobArn: `arn:job-${ids}` }));
});

const tags = (taskId: string) => ({
  team: 'ml',
  'metaflow.flow': 'SweepFlow',
  'metaflow.run_id': '1732',
  'metaflow.step': 'fit',
  'metaflow.task_id': taskId,
  'metaflow.attempt': '0',
});

describe('Batch submitter', () => {
  test('a single task: one SubmitJob, exact payload', async () => {
    const job = await new BatchSubmitter(new BatchClient({ region: 'us-east-1' })).submitTask({ ...template, step: 'start' }, '0', ['job-0']);
    expect(job).toEqual({ jobId: 'job-1', jobName: 'SweepFlow-1732-start-0-a0', queue: template.queue, size: 1, firstIndex: 0 });
    expect(batchMock.commandCalls(SubmitJobCommand)[0].args[0].input).toEqual({
      jobName: 'SweepFlow-1732-start-0-a0',
      jobQueue: template.queue,
      jobDefinition: template.jobDefinition,
      // environment only (the command is the definition's), sorted by name
      containerOverrides: {
        environment: [...IO_ENV, { name: 'MF_RUN_ID', value: '1732' }, { name: 'MF_STEP', value: 'fit' }],
      },
      tags: { ...tags('0'), 'metaflow.step': 'start' },
      propagateTags: true,
      dependsOn: [{ jobId: 'job-0' }],
    });
  });

  test('a foreach of 1,000: ONE array job; the next body step depends N_TO_N', async () => {
    const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
    const fit = await submitter.submitGroup(template, 1000);
    const score = await submitter.submitGroup({ ...template, step: 'score' }, 1000, fit);
    expect(fit).toEqual([{ jobId: 'job-1', jobName: 'SweepFlow-1732-fit-0_999-a0', queue: template.queue, size: 1000, firstIndex: 0 }]);
    const [first, second] = batchMock.commandCalls(SubmitJobCommand).map((c) => c.args[0].input);
    expect(first).toEqual({
      jobName: 'SweepFlow-1732-fit-0_999-a0',
      jobQueue: template.queue,
      jobDefinition: template.jobDefinition,
      containerOverrides: {
        environment: [{ name: 'MF_ARRAY_INDEX_OFFSET', value: '0' }, ...IO_ENV, { name: 'MF_RUN_ID', value: '1732' }, { name: 'MF_STEP', value: 'fit' }],
      },
      tags: tags('0_999'),
      propagateTags: true,
      arrayProperties: { size: 1000 },
    });
    expect(second.arrayProperties).toEqual({ size: 1000 });
    expect(second.dependsOn).toEqual([{ jobId: 'job-1', type: 'N_TO_N' }]);
    expect(score[0].jobName).toBe('SweepFlow-1732-score-0_999-a0');
    expect(submitter.calls.snapshot()).toEqual({ SubmitJob: 2 });
    for (const input of [first, second]) expect(() => checkEcsBudget('fit', template.definition, input.containerOverrides)).not.toThrow();
  });

  test('what ECS would refuse is not sent: a too-large environment, a reserved AWS_BATCH name', async () => {
    const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
    await expect(submitter.submitTask({ ...template, env: { MF_PARAM_BLOB: 'x'.repeat(7000) } }, '0')).rejects.toThrow(/^fit\/0#0: the container's command and environment come to \d+ characters as ECS counts them .*largest: MF_PARAM_BLOB \(7013\), command/);
    await expect(submitter.submitTask({ ...template, env: { AWS_BATCH_JOB_ID: 'x' } }, '0')).rejects.toThrow('fit/0#0: environment names starting with AWS_BATCH are reserved by Batch: AWS_BATCH_JOB_ID');
    expect(batchMock.commandCalls(SubmitJobCommand)).toHaveLength(0);
    expect(environmentMap([{ name: 'A', value: 'b' }])).toEqual({ A: 'b' });
  });

  test('20,001 children: two array jobs of 10,000 and a plain job, offsets in the overrides; N_TO_N chunk by chunk', async () => {
    expect(arrayChunks(20_001)).toEqual([
      { firstIndex: 0, size: 10_000 },
      { firstIndex: 10_000, size: 10_000 },
      { firstIndex: 20_000, size: 1 },
    ]);
    const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
    const a = await submitter.submitGroup(template, 20_001);
    await submitter.submitGroup({ ...template, step: 'next' }, 20_001, a);
    const inputs = batchMock.commandCalls(SubmitJobCommand).map((c) => c.args[0].input);
    expect(inputs.map((i) => i.arrayProperties?.size)).toEqual([10_000, 10_000, undefined, 10_000, 10_000, undefined]);
    expect(inputs.map((i) => i.containerOverrides!.environment!.find((e) => e.name === 'MF_ARRAY_INDEX_OFFSET')!.value)).toEqual(['0', '10000', '20000', '0', '10000', '20000']);
    expect(inputs.slice(3).map((i) => i.dependsOn)).toEqual([[{ jobId: 'job-1', type: 'N_TO_N' }], [{ jobId: 'job-2', type: 'N_TO_N' }], [{ jobId: 'job-3' }]]);
    expect(inputs[2].jobName).toBe('SweepFlow-1732-fit-20000_20000-a0');
  });

  test('a single child is a plain job; a failed child is resubmitted alone with its index', async () => {
    const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
    const [single] = await submitter.submitGroup(template, 1);
    expect(single.size).toBe(1);
    expect(batchMock.commandCalls(SubmitJobCommand)[0].args[0].input.arrayProperties).toBeUndefined();
    const retry = await submitter.resubmitChild({ ...template, attempt: 1 }, 417, '417');
    const input = batchMock.commandCalls(SubmitJobCommand)[1].args[0].input;
    expect(retry).toEqual({ jobId: 'job-2', jobName: 'SweepFlow-1732-fit-417-a1', queue: template.queue, size: 1, firstIndex: 417 });
    expect(input.containerOverrides!.environment).toContainEqual({ name: 'MF_ARRAY_INDEX_OFFSET', value: '417' });
    expect(input.tags!['metaflow.attempt']).toBe('1');
    expect(input.arrayProperties).toBeUndefined();
  });

  test('mismatched element-wise groups and empty groups are refused', async () => {
    const submitter = new BatchSubmitter(new BatchClient({ region: 'us-east-1' }));
    const a = await submitter.submitGroup(template, 10);
    await expect(submitter.submitGroup(template, 11, a)).rejects.toThrow('step "fit": an element-wise dependency needs groups of the same size (11 children vs 10)');
    expect(() => arrayChunks(0)).toThrow('a foreach group needs at least one child, got 0');
  });
});

describe('re-attaching to a run whose runner died', () => {
  test('array parents keep their size, index offset and task-id prefix, plain jobs their step/task/attempt from tags', () => {
    expect(
      reattachJobs([
        {
          jobId: 'p', jobName: 'F-1-fit-10000_19999-a0', jobQueue: 'q', jobDefinition: 'd', status: 'RUNNING', startedAt: 1,
          arrayProperties: { size: 10_000 },
          container: { environment: [{ name: 'MF_ARRAY_INDEX_OFFSET', value: '10000' }, { name: 'MF_TASK_ID_PREFIX', value: '2_' }] },
          tags: { 'metaflow.step': 'fit', 'metaflow.task_id': '10000_19999', 'metaflow.attempt': '0' },
        },
        { jobId: 'j', jobName: 'F-1-end-0-a2', jobQueue: 'q', jobDefinition: 'd', status: 'RUNNABLE', startedAt: 0, tags: { 'metaflow.step': 'end', 'metaflow.task_id': '0', 'metaflow.attempt': '2' } },
      ]),
    ).toEqual([
      { jobId: 'p', size: 10_000, firstIndex: 10_000, queue: 'q', ref: { step: 'fit', taskId: '10000_19999', attempt: 0, jobName: 'F-1-fit-10000_19999-a0', taskIdPrefix: '2_' } },
      { jobId: 'j', size: 1, firstIndex: undefined, queue: 'q', ref: { step: 'end', taskId: '0', attempt: 2, jobName: 'F-1-end-0-a2' } },
    ]);
  });
});

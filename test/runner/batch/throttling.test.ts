/**
 * TooManyRequests on EVERY operation the Batch parts use: each API path answers 429
 * (CloudWatch Logs: ThrottlingException) twice before it answers; the SDK's retry strategy from
 * runner/aws/clients.ts absorbs it and every module still does its job with its usual calls.
 */
import { AwsClients } from '../../../runner/aws/clients';
import { ApiCallCounter } from '../../../runner/batch/api-calls';
import { JobDefinitionRegistry } from '../../../runner/batch/job-definitions';
import { LogTailer } from '../../../runner/batch/log-tailer';
import { QueueInspector } from '../../../runner/batch/queues';
import { BatchSubmitter } from '../../../runner/batch/submitter';
import { terminateJobs } from '../../../runner/batch/terminator';
import { BatchWatcher, WatchEvent } from '../../../runner/batch/watcher';
import { batchJobDefinition, effectivePolicies } from '../../../runner/policy';
import { FakeClock } from './fake-clock';
import { throttlingHandler } from './throttling-http';

const THROTTLES = 2;

function batchAnswer(path: string, body: Record<string, unknown>): unknown {
  switch (path) {
    case '/v1/describejobdefinitions':
      return { jobDefinitions: [] };
    case '/v1/registerjobdefinition':
      return { jobDefinitionArn: 'arn:def:1', jobDefinitionName: body.jobDefinitionName, revision: 1 };
    case '/v1/describejobqueues':
      return { jobQueues: [{ jobQueueName: 'q', jobQueueArn: 'arn:q', state: 'ENABLED', status: 'VALID', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'ce' }] }] };
    case '/v1/describecomputeenvironments':
      return { computeEnvironments: [{ computeEnvironmentName: 'ce', computeEnvironmentArn: 'arn:ce', ecsClusterArn: 'c', computeResources: { type: 'SPOT', maxvCpus: 8, subnets: [] } }] };
    case '/v1/submitjob':
      return { jobId: body.arrayProperties ? 'arr' : 'plain', jobName: body.jobName, jobArn: 'arn:job' };
    case '/v1/describejobs':
      return {
        jobs: (body.jobs as string[]).map((id) =>
          id === 'arr'
            ? { jobId: id, jobName: id, jobQueue: 'q', jobDefinition: 'd', status: 'RUNNING', startedAt: 1, arrayProperties: { size: 2, statusSummary: { RUNNING: 1, FAILED: 1 } } }
            : { jobId: id, jobName: id, jobQueue: 'q', jobDefinition: 'd', status: 'FAILED', startedAt: 1, statusReason: 'Essential container in task exited', container: { exitCode: 1 }, arrayProperties: id.includes(':') ? { index: Number(id.split(':')[1]) } : undefined },
        ),
      };
    case '/v1/listjobs':
      // child 1 failed, child 0 runs (the summary's FAILED 1, RUNNING 1)
      return { jobSummaryList: body.jobStatus === 'FAILED' ? [{ jobId: 'arr:1', jobName: 'n', status: 'FAILED' }] : [{ jobId: 'arr:0', jobName: 'n', status: 'RUNNING' }] };
    case '/v1/terminatejob':
      return {};
    default:
      throw new Error(`unexpected path ${path}`);
  }
}

test('every Batch and CloudWatch Logs operation, throttled twice, still succeeds', async () => {
  const batchHttp = throttlingHandler(THROTTLES, batchAnswer);
  const logsHttp = throttlingHandler(THROTTLES, () => ({ events: [{ message: 'hello', timestamp: 1 }], nextForwardToken: 'f/1' }), 'json-1.1');
  const options = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, retryMode: 'standard' as const, maxAttempts: THROTTLES + 1 };
  const batch = new AwsClients({ ...options, requestHandler: batchHttp }).batch;
  const logs = new AwsClients({ ...options, requestHandler: logsHttp }).logs;
  const calls = new ApiCallCounter();

  const definition = batchJobDefinition({ flow: 'F', step: 's', image: 'img', policies: effectivePolicies({}), platform: 'EC2' });
  const lines: string[] = [];
  const tailer = new LogTailer(logs, (_key, line) => lines.push(line), { calls, maxPagesPerPoll: 1 });
  tailer.follow('s/0#0', { stream: 'st' });
  const submitter = new BatchSubmitter(batch, calls);
  const template = {
    flow: 'F', runId: '1', step: 's', attempt: 0, queue: 'q', jobDefinition: 'arn:def:1', definition: { containerProperties: { command: ['true'] } }, env: {},
    io: { datastoreUrl: 's3://mf-data/mf', fetchKeys: [], outputKey: 'F/1/s/{taskId}/attempt-0' },
    code: { codeUrl: `s3://mf-data/mf/F/data/ab/ab${'0'.repeat(38)}` },
  };
  const [arn, queue, plain, [array], terminated] = await Promise.all([
    new JobDefinitionRegistry(batch, calls).ensure(definition),
    new QueueInspector(batch, calls).inspect('q'),
    submitter.submitTask(template, '0'),
    submitter.submitGroup(template, 2),
    terminateJobs(batch, [{ jobId: 'x', status: 'RUNNING' }], 'test', calls),
    tailer.poll(),
  ]);
  expect(arn).toBe('arn:def:1');
  expect(queue.platform).toBe('EC2');
  expect([plain.jobId, array.jobId]).toEqual(['plain', 'arr']);
  expect(terminated.terminated).toEqual(['x']);
  expect(lines).toEqual(['hello']);

  const events: WatchEvent[] = [];
  const clock = new FakeClock(0);
  const watcher = new BatchWatcher(batch, (e) => events.push(e), { clock, calls });
  watcher.add({ jobId: 'arr', size: 2, ref: 'group' });
  clock.time += 10_000;
  await watcher.pollOnce();
  expect(events.filter((e) => e.type === 'finished')).toEqual([expect.objectContaining({ childIndex: 1, outcome: expect.objectContaining({ status: 'FAILED', exitCode: 1 }) })]);
  expect(events.filter((e) => e.type === 'started').map((e) => e.type === 'started' && e.childIndex)).toEqual([0, 1]);

  // what the modules asked for: the logical calls, SDK retries invisible to them
  expect(calls.snapshot()).toEqual({
    DescribeComputeEnvironments: 1,
    DescribeJobDefinitions: 1,
    DescribeJobQueues: 1,
    DescribeJobs: 3,
    GetLogEvents: 1,
    ListJobs: 2,
    RegisterJobDefinition: 1,
    SubmitJob: 2,
    TerminateJob: 1,
  });
  // what went over the wire: every path throttled twice before its first answer
  expect(Object.fromEntries(batchHttp.requests)).toEqual({
    '/v1/describejobdefinitions': 3,
    '/v1/registerjobdefinition': 3,
    '/v1/describejobqueues': 3,
    '/v1/describecomputeenvironments': 3,
    '/v1/submitjob': 4,
    '/v1/terminatejob': 3,
    '/v1/describejobs': 5,
    '/v1/listjobs': 4,
  });
  expect(Object.fromEntries(logsHttp.requests)).toEqual({ 'Logs_20140328.GetLogEvents': 3 });
});

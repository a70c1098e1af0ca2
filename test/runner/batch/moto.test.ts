/**
 * The Batch parts against moto_server on 127.0.0.1: the S3 object store, the log tailer on
 * CloudWatch Logs events the test writes, and finding a run's jobs by name prefix + tags.
 */
import { RegisterJobDefinitionCommand, SubmitJobCommand } from '@aws-sdk/client-batch';
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { AwsClients, createS3Client } from '../../../runner/aws/clients';
import { S3ObjectStore } from '../../../runner/aws/s3-object-store';
import { ApiCallCounter } from '../../../runner/batch/api-calls';
import { LogTailer } from '../../../runner/batch/log-tailer';
import { taskJobName } from '../../../runner/batch/names';
import { findRunJobs } from '../../../runner/batch/terminator';
import { reattachJobs } from '../../../runner/batch/reattach';
import { JobDefinitionRegistry } from '../../../runner/batch/job-definitions';
import { QueueInspector } from '../../../runner/batch/queues';
import { BatchSubmitter } from '../../../runner/batch/submitter';
import { BatchWatcher, WatchEvent } from '../../../runner/batch/watcher';
import { batchJobDefinition, batchJobTags, effectivePolicies } from '../../../runner/policy';
import { describeWithTool } from '../../support/external-tool';
import { createMotoQueue } from './moto-queue';
import { MOTO_CLIENT_CONFIG, MotoServer, MOTO_START_TIMEOUT_MS, workerMoto } from '../../support/moto';

describeWithTool(
  'moto_server',
  'Batch parts against moto_server',
  () => {
    let moto: MotoServer;
    let aws: AwsClients;
    beforeAll(async () => {
      moto = await workerMoto();
      await moto.configure({ batch: { use_docker: false } });
      aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 2 });
      await aws.s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    }, MOTO_START_TIMEOUT_MS);
    afterAll(async () => {
      aws?.destroy();
      await moto?.stop();
    });

    test('S3 object store: JSON and text round trip, conditional create, missing keys, paginated listing', async () => {
      const store = new S3ObjectStore(aws.s3, 'mf-data', '/metaflow/');
      await store.putJson('Flow/1/start/0/outputs.json', { x: 1, s: 'é' });
      await store.putText('Flow/1/start/0/log.txt', 'hello\n');
      expect(await store.getJson('Flow/1/start/0/outputs.json')).toEqual({ x: 1, s: 'é' });
      expect(await store.getText('Flow/1/start/0/log.txt')).toBe('hello\n');
      expect(await store.getText('Flow/1/nope')).toBeUndefined();
      expect(await store.exists('Flow/1/start/0/log.txt')).toBe(true);
      expect(await store.exists('Flow/1/nope')).toBe(false);
      expect(await store.createIfAbsent('Flow/1/run.json', '{"owner":"a"}')).toBe(true);
      expect(await store.createIfAbsent('Flow/1/run.json', '{"owner":"b"}')).toBe(false);
      expect(await store.getJson('Flow/1/run.json')).toEqual({ owner: 'a' });
      await store.putText('Flow/1/bad.json', '{');
      await expect(store.getJson('Flow/1/bad.json')).rejects.toThrow(/^s3:\/\/mf-data\/metaflow\/Flow\/1\/bad.json is not valid JSON/);
      // more keys than one page, so the paginator has to follow the continuation token
      await Promise.all(Array.from({ length: 7 }, (_, i) => store.putText(`many/${i}`, '')));
      expect(await store.list('many/', 2)).toEqual(['many/0', 'many/1', 'many/2', 'many/3', 'many/4', 'many/5', 'many/6']);
      expect(await store.listFolders('Flow/1')).toEqual(['start']);
      expect(store.url('a/b')).toBe('s3://mf-data/metaflow/a/b');
    });

    test('clients honour AWS_ENDPOINT_URL from the environment', async () => {
      const saved = process.env.AWS_ENDPOINT_URL;
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      try {
        const s3 = createS3Client({ ...MOTO_CLIENT_CONFIG, forcePathStyle: true });
        const out = await s3.send(new ListObjectsV2Command({ Bucket: 'mf-data', Prefix: 'metaflow/Flow/1/start' }));
        expect(out.KeyCount).toBe(2);
        s3.destroy();
      } finally {
        if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
        else process.env.AWS_ENDPOINT_URL = saved;
      }
    });

    test('log tailer on CloudWatch Logs: lines in order, forward tokens, stops on the repeated token, last lines', async () => {
      const group = '/aws/batch/job';
      const stream = 'metaflow/default/0123abcd';
      await aws.logs.send(new CreateLogGroupCommand({ logGroupName: group }));
      await aws.logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
      const now = Date.now();
      const put = (from: number, n: number) =>
        aws.logs.send(
          new PutLogEventsCommand({
            logGroupName: group,
            logStreamName: stream,
            logEvents: Array.from({ length: n }, (_, i) => ({ timestamp: now + from + i, message: `line ${from + i}` })),
          }),
        );
      await put(0, 3);
      const lines: string[] = [];
      const calls = new ApiCallCounter();
      const tailer = new LogTailer(aws.logs, (key, line) => lines.push(`[${key}] ${line}`), { calls, latePolls: 0 });
      tailer.follow('train/0#0', { stream });
      await tailer.poll();
      expect(lines).toEqual(['[train/0#0] line 0', '[train/0#0] line 1', '[train/0#0] line 2']);
      const afterFirst = calls.total;
      await tailer.poll();
      expect(lines).toHaveLength(3);
      expect(calls.total - afterFirst).toBe(1);
      await put(3, 2);
      tailer.finish('train/0#0');
      await tailer.poll();
      expect(lines.slice(3)).toEqual(['[train/0#0] line 3', '[train/0#0] line 4']);
      expect(tailer.following.active).toEqual([]);
      expect(await tailer.lastLines({ stream }, 2)).toEqual(['line 3', 'line 4']);
      expect(await tailer.lastLines({ stream: 'no-such-stream' })).toEqual([]);
    });

    let queueReady: Promise<void> | undefined;
    /** A compute environment and the queue `mf-queue` in moto (once per file). */
    function createQueue(): Promise<void> {
      queueReady ??= createMotoQueue(moto.endpoint, aws.batch);
      return queueReady;
    }

    test('registry, queue inspector, submitter and watcher against moto: a task, then two element-wise array jobs, to the end', async () => {
      await createQueue();
      const calls = new ApiCallCounter();
      const info = await new QueueInspector(aws.batch, calls).inspect('mf-queue');
      expect(info.problem).toBeUndefined();
      expect(info.platform).toBe('EC2');
      expect((await new QueueInspector(aws.batch).inspect('no-such-queue')).problem).toBe('job queue "no-such-queue" does not exist');
      const definition = batchJobDefinition({ flow: 'MotoFlow', step: 'all', image: 'busybox', policies: effectivePolicies({}), platform: 'EC2' });
      const arn = await new JobDefinitionRegistry(aws.batch, calls).ensure(definition);
      // a second run finds the ACTIVE definition by name instead of registering it again
      const again = new ApiCallCounter();
      expect(await new JobDefinitionRegistry(aws.batch, again).ensure(definition)).toBe(arn);
      expect(again.snapshot()).toEqual({ DescribeJobDefinitions: 1 });

      const submitter = new BatchSubmitter(aws.batch, calls);
      const template = {
        flow: 'MotoFlow', runId: '99', attempt: 0, queue: 'mf-queue', jobDefinition: arn, definition, env: { MF_RUN_ID: '99' },
        io: { datastoreUrl: 's3://mf-data/mf', fetchKeys: [], outputKey: 'MotoFlow/99/all/{taskId}/attempt-0' },
        code: { codeUrl: `s3://mf-data/mf/MotoFlow/data/ab/ab${'0'.repeat(38)}` },
      };
      const events: WatchEvent[] = [];
      const watcher = new BatchWatcher(aws.batch, (e) => events.push(e), { calls, minIntervalMs: 100, maxIntervalMs: 500 });
      const start = await submitter.submitTask({ ...template, step: 'start' }, '0');
      const fit = await submitter.submitGroup({ ...template, step: 'fit' }, 5, undefined);
      const score = await submitter.submitGroup({ ...template, step: 'score' }, 5, fit);
      watcher.add({ jobId: start.jobId, size: 1, ref: start.jobName });
      for (const job of [...fit, ...score]) watcher.add({ jobId: job.jobId, size: job.size, firstIndex: job.firstIndex, ref: job.jobName });
      await watcher.run();
      const finished = events.filter((e): e is Extract<WatchEvent, { type: 'finished' }> => e.type === 'finished');
      expect(finished.map((e) => `${e.job.ref}#${e.childIndex ?? '-'}:${e.outcome.status}`).sort()).toEqual(
        [
          'MotoFlow-99-start-0-a0#-:SUCCEEDED',
          ...[0, 1, 2, 3, 4].map((i) => `MotoFlow-99-fit-0_4-a0#${i}:SUCCEEDED`),
          ...[0, 1, 2, 3, 4].map((i) => `MotoFlow-99-score-0_4-a0#${i}:SUCCEEDED`),
        ].sort(),
      );
      expect(calls.snapshot().SubmitJob).toBe(3);
    });

    test("a run's jobs are found by name prefix and tags after a crash (moto's ListJobs JOB_NAME filter)", async () => {
      await createQueue();
      const def = await aws.batch.send(
        new RegisterJobDefinitionCommand({ jobDefinitionName: 'mf-def', type: 'container', containerProperties: { image: 'busybox', command: ['true'], resourceRequirements: [{ type: 'VCPU', value: '1' }, { type: 'MEMORY', value: '512' }] } }),
      );
      const submit = (runId: string, step: string) =>
        aws.batch.send(
          new SubmitJobCommand({
            jobName: taskJobName('Flow', runId, step, '0', 0),
            jobQueue: 'mf-queue',
            jobDefinition: def.jobDefinitionArn!,
            tags: batchJobTags({ flow: 'Flow', runId, step, taskId: '0', attempt: 0 }),
          }),
        );
      const mine = [await submit('17', 'start'), await submit('17', 'end')];
      await submit('170', 'start'); // a run id with the same digits: not ours
      await submit('18', 'start');
      const found = await findRunJobs(aws.batch, { flow: 'Flow', runId: '17', queues: ['mf-queue'] });
      expect(found.map((j) => j.jobId).sort()).toEqual(mine.map((j) => j.jobId!).sort());
      // a new runner watches them again to the end
      const reattached = reattachJobs(found);
      expect(reattached.map((j) => j.ref.step).sort()).toEqual(['end', 'start']);
      const events: WatchEvent[] = [];
      const watcher = new BatchWatcher(aws.batch, (e) => events.push(e), { minIntervalMs: 100, maxIntervalMs: 500 });
      for (const job of reattached) watcher.add(job);
      await watcher.run();
      expect(events.filter((e) => e.type === 'finished').map((e) => (e.job.ref as { step: string }).step).sort()).toEqual(['end', 'start']);
    });
  },
  ['--help'],
);

/**
 * A Batch run registered with the REAL Metaflow metadata service (../shared/peers) while the
 * runner is alive, its artifacts and logs on the S3 datastore (moto_server), read back with the
 * REAL Metaflow Python client from S3: the simulated Batch (fake-batch.ts) plays every job in a
 * root-filesystem stand-in; one foreach child is scripted to lose its spot host once.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createS3Client } from '../../../runner/aws/clients';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { defineFlow } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { batchAttemptMetadata, blobWriterFor, MetadataServiceClient, RunRegistrar } from '../../../runner/metadata';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { describeWithTool } from '../../support/external-tool';
import { peersDir, readRun, RunningService, s3Reader, servicePackagesInstalled, startService } from '../../support/metadata/service';
import { MOTO_CLIENT_CONFIG, MotoServer, startMoto } from '../../support/moto';
import { motoDatastore, storeTestCodePackage, testBatchSettings } from '../batch/code-package-fixture';
import { FakeBatch } from '../batch/fake-batch';
import { fakeClock, sh, tempDir } from '../support/harness';

const peers = peersDir();
const describeService = peers !== undefined && servicePackagesInstalled() ? describeWithTool : (_tool: string, name: string, body: () => void) => describe.skip(name, body);

const flow = defineFlow({
  name: 'BatchSquares',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('echo "fanning out"'), foreach: { items: [1, 2] }, next: 'square' },
    {
      name: 'square',
      command: sh('echo "square of $MF_FOREACH_ITEM"; echo "{\\"square\\": $((MF_FOREACH_ITEM * MF_FOREACH_ITEM))}" > "$MF_OUTPUT_DIR/outputs.json"'),
      next: 'gather',
    },
    { name: 'gather', join: true, command: sh('echo "gathered"'), next: 'end' },
    { name: 'end', command: sh('echo "all done"') },
  ],
});

describeService('moto_server', 'Batch runs in the real Metaflow metadata service, artifacts and logs on S3', () => {
  let service: RunningService;
  let moto: MotoServer;
  let s3: S3Client;
  let fake: FakeBatch;
  let tmp: string;

  beforeAll(async () => {
    tmp = tempDir('mdbatch-');
    const [svc, m] = await Promise.all([Promise.resolve().then(() => startService(peers!, path.join(tmp, 'service'))), startMoto()]);
    service = svc;
    moto = m;
    s3 = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    fake = new FakeBatch('EC2', {}, moto.endpoint);
  }, 90_000);
  afterAll(async () => {
    fake?.restore();
    s3?.destroy();
    service?.stop();
    await moto?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a foreach on Batch with a spot reclaim: listed, successful, outputs and stdout read from S3, job id / log group / stream / Batch attempt as task metadata', async () => {
    // square/1 loses its spot host once: Batch reruns the job (retryStrategy), inside our attempt 0.
    fake.script = (step, index) =>
      step === 'square' && index === 1 ? { run: true, attemptsBefore: [{ statusReason: 'Host EC2 (instance i-0abc) terminated.', container: { logStreamName: 'lost' } }] } : undefined;
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const settings = testBatchSettings('mf-data', 'mf', { jobLogGroup: '/metaflow/team-a' });
    const datastore = motoDatastore(moto.endpoint, 'mf-data', 'mf');
    const layer = new BatchComputeLayer({
      settings,
      codePackageUrl: await storeTestCodePackage(datastore, flow.name),
      batch: new BatchClient({ region: 'us-east-1' }),
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
      logMode: 'all',
      logPollMs: 5,
      watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
    });
    await layer.lookUp(v.graph);
    const warnings: string[] = [];
    const registrar = new RunRegistrar({
      client: new MetadataServiceClient({ url: service.url, authKey: 'test-key', user: 'ada' }),
      blobs: blobWriterFor(datastore),
      datastore,
      graph: v.graph,
      flowFile: 'batch-squares.ts',
      attemptMetadata: batchAttemptMetadata(layer.jobLogs),
      warn: (line) => warnings.push(line),
      flushMs: 20,
    });
    await registrar.preflight(flow.name);
    const record = await runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock: fakeClock(), onEvent: registrar.onEvent });
    const summary = await registrar.finish(20_000);
    expect({ status: record.status, error: record.error }).toEqual({ status: "succeeded", error: undefined });
    expect(warnings).toEqual([]);
    expect(summary).toMatchObject({ tasks: 6, registered: 6 });

    const seen = readRun(peers!, service.url, tmp, flow.name, record.runId, 'ada', s3Reader('s3://mf-data/mf', moto.endpoint));
    expect(seen.listed).toContain(record.runId);
    expect(seen.successful).toBe(true);
    expect(seen.steps.square.map((t) => t.data.square)).toEqual([1, 4]);
    expect(seen.steps.square.map((t) => t.stdout.trim())).toEqual(['square of 1', 'square of 2']);
    expect(seen.steps.end[0].stdout).toContain('all done');

    // Metaflow's @batch metadata: the job id (an array child's `<job>:<index>`), the log group and stream, Batch's attempt.
    const square = seen.steps.square.map((t) => t.metadata);
    const attemptOf = record.tasks.filter((t) => t.step === 'square').map((t) => t.attempts[0]);
    for (const [i, m] of square.entries()) {
      expect(m).toMatchObject({
        'ds-type': 's3',
        'ds-root': 's3://mf-data/mf',
        'aws-batch-job-id': attemptOf[i].externalId,
        'aws-batch-awslogs-group': '/metaflow/team-a',
        'aws-batch-awslogs-stream': attemptOf[i].logRef,
        'aws-batch-awslogs-region': 'us-east-1',
      });
      expect(m['aws-batch-job-id']).toMatch(/^job-\d+:\d$/);
      expect(m['aws-batch-awslogs-stream']).toEqual(expect.any(String));
    }
    // The spot retry is visible: Batch's attempt number 2 on the child that lost its host, 1 on the other.
    expect(square.map((m) => m['aws-batch-job-attempt'])).toEqual(['1', '2']);
    expect(seen.steps.start[0].metadata['aws-batch-job-id']).toMatch(/^job-\d+$/);
  }, 60_000);
});

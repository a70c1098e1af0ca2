/**
 * Log lines CloudWatch delivers after the Batch job stopped (Docker's awslogs driver buffers up
 * to 10 s): the tailer reads a finished job's stream again before freeing its slot, the run's end
 * waits for those reads (bounded), and a late line reaches the run's log in the datastore and the
 * Metaflow log file the metadata service registration wrote.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, GetLogEventsCommand, type GetLogEventsCommandInput } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatchComputeLayer } from '../../../runner/batch/layer';
import { LogTailer } from '../../../runner/batch/log-tailer';
import { defineFlow } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { blobWriterFor, MetadataServiceClient, RunRegistrar } from '../../../runner/metadata';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { useMotoBucket } from '../../support/moto-bucket';
import { fakeClock, sh } from '../support/harness';
import { motoDatastore, storeTestCodePackage, testBatchSettings } from './code-package-fixture';
import { FakeBatch } from './fake-batch';

/** A stream whose lines a test adds to, read as GetLogEvents reads it (tokens `f/<count>`). */
function streamAnswer(lines: readonly string[], input: GetLogEventsCommandInput) {
  const from = input.nextToken ? Number(String(input.nextToken).slice(2)) : 0;
  return { events: lines.slice(from).map((message) => ({ message, timestamp: 1 })), nextForwardToken: `f/${lines.length}` };
}

describe('the log tailer and late lines (mocked CloudWatch Logs)', () => {
  const logsMock = mockClient(CloudWatchLogsClient);
  afterAll(() => logsMock.restore());

  test("a finished task's stream is read again on latePolls polls: a line that arrives after the drain is delivered, then the slot is freed", async () => {
    const stream = ['working'];
    logsMock.on(GetLogEventsCommand).callsFake((input: GetLogEventsCommandInput) => streamAnswer(stream, input));
    const lines: string[] = [];
    const tailer = new LogTailer(new CloudWatchLogsClient({ region: 'us-east-1' }), (key, line) => lines.push(`${key}:${line}`), { latePolls: 2 });
    tailer.follow('t', { stream: 's' });
    await tailer.poll();
    tailer.finish('t');
    await tailer.poll(); // the drain at the finish: nothing new yet
    expect(lines).toEqual(['t:working']);
    stream.push('last words'); // CloudWatch gets it now, after the job ended
    await tailer.poll();
    expect(lines).toEqual(['t:working', 't:last words']);
    expect(tailer.following.active).toEqual(['t']);
    await tailer.poll();
    expect(tailer.following.active).toEqual([]);
    const calls = logsMock.commandCalls(GetLogEventsCommand).length;
    await tailer.poll();
    expect(logsMock.commandCalls(GetLogEventsCommand)).toHaveLength(calls);
  });
});

describe('a Batch run whose last line comes after its job ended', () => {
  const bucket = useMotoBucket('mf-late', 'mf');
  let fake: FakeBatch;
  let server: http.Server;
  let serviceUrl: string;

  beforeAll(async () => {
    // A metadata service that takes every registration (the real one is in test/runner/metadata).
    server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'GET') res.writeHead(404, { 'content-type': 'application/json' }).end('[]');
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serviceUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => (fake = new FakeBatch('EC2', {}, bucket.endpoint)));
  afterEach(() => fake.restore());

  test('the line reaches the run log and the registered Metaflow log; the run ends once it is read', async () => {
    const flow = defineFlow({
      name: 'LateFlow',
      image: 'public.ecr.aws/docker/library/python:3.12-slim',
      steps: [
        { name: 'start', command: sh('true'), next: 'end' },
        { name: 'end', command: sh('echo "first words"; echo "last words"') },
      ],
    });
    // Scripted jobs end at once with what they printed; `end`'s last line reaches CloudWatch only after the stream was read to its end.
    fake.script = (step) => ({ exitCode: 0, lines: step === 'end' ? ['first words'] : ['started'] });
    let late = false;
    fake.logs.on(GetLogEventsCommand).callsFake(async (input: GetLogEventsCommandInput) => {
      const lines = fake.streams.get(input.logStreamName!);
      if (!lines) throw Object.assign(new Error('The specified log stream does not exist.'), { name: 'ResourceNotFoundException' });
      const answer = streamAnswer(lines, input);
      // After a read found the end of the stream (the drain stops there) and the registration wrote the task's
      // Metaflow log: only then does CloudWatch get the last line.
      if (!late && lines[0] === 'first words' && answer.events.length === 0 && (await bucket.keys('LateFlow/')).some((k) => k.endsWith('/end/t-0/0.task_stdout.log'))) {
        late = true;
        lines.push('last words');
      }
      return answer;
    });
    const v = validateFlow(flow);
    if (!v.ok) throw new Error(v.problems.join('\n'));
    const settings = testBatchSettings('mf-late', 'mf');
    const datastore = motoDatastore(bucket.endpoint, 'mf-late', 'mf');
    const notices: string[] = [];
    const layer = new BatchComputeLayer({
      settings,
      codePackageUrl: await storeTestCodePackage(datastore, 'LateFlow'),
      batch: new BatchClient({ region: 'us-east-1' }),
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
      logMode: 'all',
      logPollMs: 5,
      watcher: { minIntervalMs: 5, maxIntervalMs: 20 },
      notice: (line) => notices.push(line),
      // Polls of 5 ms: the stream is read for late lines for up to ~2 s (the registration writes its log meanwhile).
      lateLogPolls: 400,
      drainLogPolls: 800,
    });
    await layer.lookUp(v.graph);
    const warnings: string[] = [];
    const registrar = new RunRegistrar({
      client: new MetadataServiceClient({ url: serviceUrl, user: 'ada' }),
      blobs: blobWriterFor(datastore),
      datastore,
      graph: v.graph,
      warn: (line) => warnings.push(line),
      flushMs: 5,
    });
    const record = await runFlow({ graph: v.graph, layer, datastore, parameters: {}, clock: fakeClock(), onEvent: registrar.onEvent });
    await registrar.finish(10_000);
    expect({ status: record.status, error: record.error, warnings, notices: notices.filter((n) => /CloudWatch/.test(n)) }).toEqual({ status: 'succeeded', error: undefined, warnings: [], notices: [] });
    expect(late).toBe(true);
    expect(await datastore.readLog({ flow: 'LateFlow', runId: record.runId, step: 'end', taskId: '0', attempt: 0 })).toBe('first words\nlast words\n');
    // Metaflow's log file of the task, as the UI and `task.stdout` read it: both lines, each once, in MFLOG format.
    const mflog = (await bucket.get(`LateFlow/${record.runId}/end/t-0/0.task_stdout.log`)) ?? '';
    expect(mflog.split('\n').filter(Boolean).map((l) => l.replace(/^\[MFLOG\|0\|[^\]]+\]/, ''))).toEqual(['first words', 'last words']);
  }, 60_000);
});

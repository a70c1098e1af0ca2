/**
 * Job logs in the stack's log group (issue 17), on moto: the job definition the runner registers
 * names the group (BATCH_JOB_LOG_GROUP), moto's Batch keeps it, and the log readers — the `logs`
 * command's DescribeJobs fallback (mainLogStream) and the run's log tailer — read that group, not
 * Batch's default /aws/batch/job.
 */
import { DescribeJobDefinitionsCommand, RegisterJobDefinitionCommand } from '@aws-sdk/client-batch';
import { CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { AwsClients } from '../../runner/aws/clients';
import { mainLogStream } from '../../runner/batch/job-log';
import { taskJobDefinition } from '../../runner/batch/job-shape';
import { LogTailer } from '../../runner/batch/log-tailer';
import { effectivePolicies } from '../../runner/policy';
import { describeWithTool } from '../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, startMoto } from '../support/moto';

const GROUP = '/metaflow/Metaflow/jobs';

describeWithTool(
  'moto_server',
  'job logs in the stack log group, on moto',
  () => {
    let moto: MotoServer;
    let aws: AwsClients;
    beforeAll(async () => {
      moto = await startMoto();
      aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 2 });
    });
    afterAll(async () => {
      aws?.destroy();
      await moto?.stop();
    });

    test('the registered definition names the group, and the readers read the job\'s stream from it', async () => {
      const definition = taskJobDefinition({
        flow: 'Sweep', step: 'start', image: 'python:3.12', platform: 'EC2', logGroup: GROUP,
        policies: effectivePolicies({}),
      }, ['true']);
      await aws.batch.send(new RegisterJobDefinitionCommand(definition));
      const described = await aws.batch.send(new DescribeJobDefinitionsCommand({ jobDefinitionName: definition.jobDefinitionName }));
      const container = described.jobDefinitions![0].containerProperties!;
      expect(container.logConfiguration).toEqual({ logDriver: 'awslogs', options: { 'awslogs-group': GROUP } });

      // A job of that definition, as DescribeJobs shows it once its container ran.
      const stream = `${definition.jobDefinitionName}/default/0123abcd`;
      const ref = mainLogStream({ jobId: 'j', jobName: 'j', jobQueue: 'q', status: 'SUCCEEDED', startedAt: 1, jobDefinition: 'd', container: { ...container, logStreamName: stream } });
      expect(ref).toEqual({ group: GROUP, stream });

      for (const group of [GROUP, '/aws/batch/job']) {
        await aws.logs.send(new CreateLogGroupCommand({ logGroupName: group }));
        await aws.logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
        await aws.logs.send(new PutLogEventsCommand({
          logGroupName: group, logStreamName: stream,
          logEvents: [1, 2].map((i) => ({ timestamp: Date.now() + i, message: `${group} line ${i}` })),
        }));
      }
      const lines: string[] = [];
      const tailer = new LogTailer(aws.logs, (_key, line) => lines.push(line), { maxStreams: 1 });
      tailer.follow('j', ref!);
      tailer.finish('j');
      await tailer.poll();
      expect(lines).toEqual([`${GROUP} line 1`, `${GROUP} line 2`]);
      expect(await tailer.lastLines(ref!, 1)).toEqual([`${GROUP} line 2`]);
    });
  },
);

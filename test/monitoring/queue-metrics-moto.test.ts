import { BatchClient, CreateComputeEnvironmentCommand, CreateJobQueueCommand, RegisterJobDefinitionCommand, SubmitJobCommand } from '@aws-sdk/client-batch';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { publishQueueMetrics } from '../../lib/monitoring/queue-metrics-handler';
import { describeWithTool } from '../support/external-tool';
import { MOTO_CLIENT_CONFIG, MOTO_START_TIMEOUT_MS, MotoServer, workerMoto } from '../support/moto';

/**
 * The queue-metrics handler against moto_server: real request validation of ListJobs (every
 * counted state, page size) and DescribeComputeEnvironments, and PutMetricData values read back
 * with GetMetricData.
 */
/** IAM CreateRole through moto's query API (moto routes by the credential scope's service). */
async function createRole(endpoint: string, name: string): Promise<string> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({ Action: 'CreateRole', Version: '2010-05-08', RoleName: name, AssumeRolePolicyDocument: '{}' }).toString(),
  });
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(await response.text())?.[1];
  if (!arn) throw new Error(`moto CreateRole failed: HTTP ${response.status}`);
  return arn;
}

describeWithTool('moto_server', 'queue metrics against moto', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await workerMoto();
    await moto.configure({ batch: { use_docker: false } });
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => moto?.stop());

  test('counts a real queue and publishes values CloudWatch accepts and returns', async () => {
    const config = { ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint };
    const batch = new BatchClient(config);
    const cloudWatch = new CloudWatchClient(config);
    const serviceRole = await createRole(moto.endpoint, 'batch-service');
    const { computeEnvironmentArn } = await batch.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: 'metaflow-ce', type: 'UNMANAGED', state: 'ENABLED', serviceRole }));
    const { jobQueueArn } = await batch.send(new CreateJobQueueCommand({ jobQueueName: 'default', state: 'ENABLED', priority: 1, computeEnvironmentOrder: [{ order: 1, computeEnvironment: computeEnvironmentArn! }] }));
    await batch.send(new RegisterJobDefinitionCommand({ jobDefinitionName: 'metaflow_x', type: 'container', containerProperties: { image: 'busybox', vcpus: 1, memory: 128, command: ['true'] } }));
    await batch.send(new SubmitJobCommand({ jobName: 'j', jobQueue: jobQueueArn!, jobDefinition: 'metaflow_x' }));

    const now = new Date();
    const env = { JOB_QUEUES: jobQueueArn!, COMPUTE_ENVIRONMENTS: computeEnvironmentArn!, METRIC_NAMESPACE: 'Metaflow/Moto' };
    const result = await publishQueueMetrics(env, { batch, cloudWatch }, now);
    expect(result.failures).toEqual([]);
    expect(result.published).toBe(5); // 5 states; an UNMANAGED environment has no vCPU settings

    const { MetricDataResults } = await cloudWatch.send(new GetMetricDataCommand({
      StartTime: new Date(now.getTime() - 60_000), EndTime: new Date(now.getTime() + 60_000),
      MetricDataQueries: ['RUNNABLE', 'RUNNING'].map((state, i) => ({
        Id: `m${i}`,
        MetricStat: { Metric: { Namespace: 'Metaflow/Moto', MetricName: 'JobsInState', Dimensions: [{ Name: 'JobQueue', Value: 'default' }, { Name: 'State', Value: state }] }, Period: 60, Stat: 'Maximum' },
      })),
    }));
    expect(MetricDataResults!.map((r) => r.Values!.length)).toEqual([1, 1]);
  });
}, ['--help']);

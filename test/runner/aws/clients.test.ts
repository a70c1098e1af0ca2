import { DescribeJobsCommand, SubmitJobCommand } from '@aws-sdk/client-batch';
import { AwsClients, awsClientConfig, createBatchClient } from '../../../runner/aws/clients';
import { throttlingHandler } from '../batch/throttling-http';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describe('AWS client factory', () => {
  test('one retry strategy for every client: adaptive, 8 attempts by default; options override', () => {
    expect(awsClientConfig()).toEqual({ maxAttempts: 8, retryMode: 'adaptive' });
    expect(awsClientConfig({ maxAttempts: 3, retryMode: 'standard', region: 'eu-west-1', endpoint: 'http://127.0.0.1:1' })).toEqual({
      maxAttempts: 3,
      retryMode: 'standard',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:1',
    });
  });

  test('bad retry settings are one line naming the value', () => {
    expect(() => awsClientConfig({ maxAttempts: 0 })).toThrow('AWS maxAttempts must be a whole number ≥ 1, got 0');
    expect(() => awsClientConfig({ retryMode: 'legacy' as never })).toThrow('AWS retry mode must be "standard" or "adaptive", got "legacy"');
  });

  test('the SDK absorbs TooManyRequestsException: throttled twice, then the call succeeds', async () => {
    const handler = throttlingHandler(2, () => ({ jobArn: 'arn:aws:batch:us-east-1:1:job/j1', jobName: 'n', jobId: 'j1' }));
    const batch = createBatchClient({ region: 'us-east-1', credentials, requestHandler: handler, retryMode: 'standard', maxAttempts: 3 });
    const out = await batch.send(new SubmitJobCommand({ jobName: 'n', jobQueue: 'q', jobDefinition: 'd' }));
    expect(out.jobId).toBe('j1');
    expect(out.$metadata.attempts).toBe(3);
    expect(handler.requests.get('/v1/submitjob')).toBe(3);
  });

  test('when throttling outlasts maxAttempts the error surfaces after exactly maxAttempts requests', async () => {
    const handler = throttlingHandler(5, () => ({ jobs: [] }));
    const batch = createBatchClient({ region: 'us-east-1', credentials, requestHandler: handler, retryMode: 'standard', maxAttempts: 2 });
    await expect(batch.send(new DescribeJobsCommand({ jobs: ['j1'] }))).rejects.toMatchObject({ name: 'TooManyRequestsException' });
    expect(handler.requests.get('/v1/describejobs')).toBe(2);
  });

  test('the Step Functions and EventBridge clients get the same retry configuration and region', async () => {
    const aws = new AwsClients({ region: 'eu-west-1', credentials, maxAttempts: 5, retryMode: 'adaptive' });
    try {
      for (const client of [aws.sfn, aws.events]) {
        expect(await client.config.maxAttempts()).toBe(5);
        expect((await client.config.retryStrategy()) as unknown).toMatchObject({ mode: 'adaptive' });
        expect(await client.config.region()).toBe('eu-west-1');
      }
      expect(aws.sfn).toBe(aws.sfn);
    } finally {
      aws.destroy();
    }
  });
});

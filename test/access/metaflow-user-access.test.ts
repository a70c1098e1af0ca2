import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { grantRunFlows, MetaflowUserAccess } from '../../lib/access/metaflow-user-access';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { MetaflowMetadataService } from '../../lib/metadata/metaflow-metadata-service';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import { ARN, REGION_ACCOUNT, statementLines } from '../support/policy-lines';
import { emptyStack, resourcesOf } from '../support/synth';



describe('MetaflowUserAccess from imported pieces (composed into an existing stack)', () => {
  const stack = emptyStack('Team');
  const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
    defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
    fargateQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/fargate',
    jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    fargateExecutionRoleArn: 'arn:aws:iam::123456789012:role/exec',
  });
  const datastore = MetaflowDatastore.fromBucketName(stack, 'Datastore', 'team-flows');
  const metadataService = MetaflowMetadataService.fromAttributes(stack, 'Metadata', {
    url: 'https://abc.execute-api.us-east-1.amazonaws.com/api/',
    internalUrl: 'http://internal-nlb/',
    apiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-AbCdEf',
  });
  const stepFunctions = MetaflowStepFunctionsSupport.fromAttributes(stack, 'Sfn', {
    stateMachinePrefix: 'Flows',
    stateMachineRoleArn: 'arn:aws:iam::123456789012:role/sfn',
    eventsRoleArn: 'arn:aws:iam::123456789012:role/events',
    tableName: 'flows-table',
    logGroupArn: 'arn:aws:logs:us-east-1:123456789012:log-group:sfn',
  });
  const access = new MetaflowUserAccess(stack, 'Access', { compute, datastore, metadataService, stepFunctions, configStackName: 'Flows', managedPolicyName: 'RunFlows' });
  const ci = new iam.Role(stack, 'Ci', { assumedBy: new iam.AccountRootPrincipal() });
  access.attachTo(ci);
  const template = Template.fromStack(stack);
  const [, policy] = resourcesOf(template, 'AWS::IAM::ManagedPolicy')[0];
  const lines = statementLines(policy.Properties.PolicyDocument.Statement);

  test('imported queues, roles, secret and prefix are what the policy names', () => {
    expect(policy.Properties.ManagedPolicyName).toBe('RunFlows');
    expect(lines).toEqual(expect.arrayContaining([
      `batch:SubmitJob => ${ARN}:batch:${REGION_ACCOUNT}:job-definition/metaflow_* | arn:aws:batch:us-east-1:123456789012:job-queue/default | arn:aws:batch:us-east-1:123456789012:job-queue/fargate`,
      'iam:PassRole => arn:aws:iam::123456789012:role/exec | arn:aws:iam::123456789012:role/job {"StringEquals":{"iam:PassedToService":["batch.amazonaws.com","ecs-tasks.amazonaws.com"]}}',
      'iam:PassRole => arn:aws:iam::123456789012:role/sfn {"StringEquals":{"iam:PassedToService":"states.amazonaws.com"}}',
      'iam:PassRole => arn:aws:iam::123456789012:role/events {"StringEquals":{"iam:PassedToService":"events.amazonaws.com"}}',
      'secretsmanager:DescribeSecret,secretsmanager:GetSecretValue => arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-AbCdEf',
      `cloudformation:DescribeStacks => ${ARN}:cloudformation:${REGION_ACCOUNT}:stack/Flows/*`,
      `states:DescribeExecution,states:GetExecutionHistory,states:StopExecution => ${ARN}:states:${REGION_ACCOUNT}:execution:Flows_*`,
      's3:GetBucketLocation => arn:<AWS::Partition>:s3:::team-flows',
    ]));
    expect(lines).toHaveLength(16);
  });

  test('attachTo attaches the managed policy to the role', () => {
    const [, role] = resourcesOf(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('Ci'))!;
    expect(role.Properties.ManagedPolicyArns).toEqual([{ Ref: expect.stringMatching(/^AccessPolicy/) }]);
  });

  test('without Step Functions or the metadata service, none of their permissions', () => {
    const bare = emptyStack('Bare');
    const imported = MetaflowBatchCompute.fromAttributes(bare, 'Compute', { defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/q', jobRoleArn: 'arn:aws:iam::123456789012:role/job' });
    const role = new iam.Role(bare, 'R', { assumedBy: new iam.AccountRootPrincipal() });
    grantRunFlows(bare, role, { compute: imported, datastore: MetaflowDatastore.fromBucketName(bare, 'D', 'bare-bucket') });
    const text = JSON.stringify(Template.fromStack(bare).toJSON());
    expect(text).not.toMatch(/states:|events:|secretsmanager:/);
    expect(text).toContain('batch:SubmitJob');
  });

  test('a bad log group name is refused with the value', () => {
    const s = emptyStack('Bad');
    const imported = MetaflowBatchCompute.fromAttributes(s, 'Compute', { defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/q', jobRoleArn: 'arn:aws:iam::123456789012:role/job' });
    expect(() => new MetaflowUserAccess(s, 'Access', { compute: imported, datastore: MetaflowDatastore.fromBucketName(s, 'D', 'bad-bucket'), jobLogGroupName: 'bad name' }))
      .toThrow('Bad/Access: jobLogGroupName must be a CloudWatch Logs group name (letters, digits, _ - . / #), got "bad name"');
  });
});

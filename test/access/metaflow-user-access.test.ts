import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { grantRunFlows, MetaflowUserAccess } from '../../lib/access/metaflow-user-access';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { METAFLOW_STACK_OUTPUTS } from '../../lib/config/metaflow-config-keys';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { MetaflowMetadataService } from '../../lib/metadata/metaflow-metadata-service';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import { appFromContext, emptyStack, resourcesOf } from '../support/synth';

/** A resolved CloudFormation value as one readable string: `<Logical.Attr>`, `<AWS::Region>`. */
function flat(node: any): string {
  if (typeof node === 'string') return node;
  if (node['Fn::Join']) return node['Fn::Join'][1].map(flat).join(node['Fn::Join'][0]);
  if (node['Fn::GetAtt']) return `<${node['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, '')}.${node['Fn::GetAtt'][1]}>`;
  if (node.Ref) return `<${node.Ref.replace(/[0-9A-F]{8}$/, '')}>`;
  return JSON.stringify(node);
}

/** Statements as `actions => resources [condition]`, one line each, sorted. */
function statementLines(statements: any[]): string[] {
  return statements.map((s) => {
    const condition = s.Condition ? ` ${JSON.stringify(s.Condition)}` : '';
    return `${[s.Action].flat().sort().join(',')} => ${[s.Resource].flat().map(flat).sort().join(' | ')}${condition}`;
  }).sort();
}

const ARN = 'arn:<AWS::Partition>';
const REGION_ACCOUNT = '<AWS::Region>:<AWS::AccountId>';

describe('the stack\'s user access policy (default stack)', () => {
  const { stack } = appFromContext({ nag: 'false' });
  const role = new iam.Role(stack, 'DataScientist', { assumedBy: new iam.AccountRootPrincipal() });
  stack.grantRunFlows(role);
  const template = Template.fromStack(stack);
  const [, policy] = resourcesOf(template, 'AWS::IAM::ManagedPolicy').find(([id]) => id.startsWith('UserAccessPolicy'))!;
  const lines = statementLines(policy.Properties.PolicyDocument.Statement);

  test('holds exactly what running flows needs, every resource this deployment\'s own', () => {
    expect(lines).toEqual([
      `batch:CancelJob,batch:TerminateJob => ${ARN}:batch:${REGION_ACCOUNT}:job/*`,
      `batch:DescribeComputeEnvironments,batch:DescribeJobDefinitions,batch:DescribeJobQueues,batch:DescribeJobs,batch:ListJobs,states:ListStateMachines => *`,
      `batch:RegisterJobDefinition,batch:TagResource => ${ARN}:batch:${REGION_ACCOUNT}:job-definition/metaflow_* | ${ARN}:batch:${REGION_ACCOUNT}:job/*`,
      `batch:SubmitJob => <ComputeDefaultQueue.JobQueueArn> | <ComputeGpuQueue.JobQueueArn> | ${ARN}:batch:${REGION_ACCOUNT}:job-definition/metaflow_*`,
      `cloudformation:DescribeStacks => ${ARN}:cloudformation:${REGION_ACCOUNT}:stack/Metaflow/*`,
      `events:DeleteRule,events:DescribeRule,events:DisableRule,events:EnableRule,events:ListTargetsByRule,events:PutRule,events:PutTargets,events:RemoveTargets => ${ARN}:events:${REGION_ACCOUNT}:rule/Metaflow_*`,
      'iam:PassRole => <ComputeRolesJobRole.Arn> {"StringEquals":{"iam:PassedToService":["batch.amazonaws.com","ecs-tasks.amazonaws.com"]}}',
      'iam:PassRole => <StepFunctionsEventsRole.Arn> {"StringEquals":{"iam:PassedToService":"events.amazonaws.com"}}',
      'iam:PassRole => <StepFunctionsStateMachineRole.Arn> {"StringEquals":{"iam:PassedToService":"states.amazonaws.com"}}',
      `logs:DescribeLogStreams,logs:FilterLogEvents,logs:GetLogEvents => ${ARN}:logs:${REGION_ACCOUNT}:log-group:/aws/batch/job:*`,
      's3:AbortMultipartUpload,s3:DeleteObject,s3:GetObject,s3:GetObjectAttributes,s3:GetObjectVersion,s3:ListMultipartUploadParts,s3:PutObject => <DatastoreBucket.Arn>/data/* | <DatastoreBucket.Arn>/metaflow/*',
      's3:GetBucketLocation => <DatastoreBucket.Arn>',
      's3:ListBucket => <DatastoreBucket.Arn> {"StringLike":{"s3:prefix":["metaflow","metaflow/*","data","data/*"]}}',
      'secretsmanager:DescribeSecret,secretsmanager:GetSecretValue => <MetadataServiceApiApiKeySecret>',
      `states:CreateStateMachine,states:DeleteStateMachine,states:DescribeStateMachine,states:ListExecutions,states:ListTagsForResource,states:StartExecution,states:TagResource,states:UpdateStateMachine => ${ARN}:states:${REGION_ACCOUNT}:stateMachine:Metaflow_*`,
      `states:DescribeExecution,states:GetExecutionHistory,states:StopExecution => ${ARN}:states:${REGION_ACCOUNT}:execution:Metaflow_*`,
    ]);
  });

  test('`*` only where AWS offers no resource-level permission', () => {
    const star = policy.Properties.PolicyDocument.Statement.filter((s: any) => [s.Resource].flat().includes('*'));
    expect(star.flatMap((s: any) => [s.Action].flat()).sort()).toEqual([
      'batch:DescribeComputeEnvironments', 'batch:DescribeJobDefinitions', 'batch:DescribeJobQueues', 'batch:DescribeJobs', 'batch:ListJobs', 'states:ListStateMachines',
    ]);
  });

  test('its ARN is a stack output', () => {
    expect(template.toJSON().Outputs[METAFLOW_STACK_OUTPUTS.USER_ACCESS_POLICY_ARN].Value).toEqual({ Ref: expect.stringMatching(/^UserAccessPolicy/) });
  });

  test('grantRunFlows(role) gives a role the same statements inline', () => {
    const inline = resourcesOf(template, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref.startsWith('DataScientist')));
    expect(statementLines(inline.flatMap(([, p]) => p.Properties.PolicyDocument.Statement))).toEqual(lines);
  });

  test('-c userAccessPolicy=false leaves it out', () => {
    const outputs = Template.fromStack(appFromContext({ nag: 'false', userAccessPolicy: 'false', metadataService: 'false' }).stack).toJSON().Outputs;
    expect(outputs[METAFLOW_STACK_OUTPUTS.USER_ACCESS_POLICY_ARN]).toBeUndefined();
  });
});

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

import { Template } from 'aws-cdk-lib/assertions';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { stateMachineName } from '../../core/state-machine-names';
import { MetaflowStepFunctionsSupport, MetaflowStepFunctionsSupportProps } from '../../lib/step-functions/metaflow-step-functions-support';
import { resourcesOf, stackWithVpcAndDatastore } from '../support/synth';

function build(props: Partial<MetaflowStepFunctionsSupportProps> = {}) {
  const { stack, vpc, datastore } = stackWithVpcAndDatastore();
  const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore });
  const support = new MetaflowStepFunctionsSupport(stack, 'Sfn', { compute, datastore, ...props });
  return { stack, support, template: Template.fromStack(stack) };
}

function policyOf(template: Template, rolePrefix: string): any[] {
  const roleIds = resourcesOf(template, 'AWS::IAM::Role').map(([id]) => id).filter((id) => id.startsWith(rolePrefix));
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: any) => roleIds.includes(r.Ref)))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

describe('MetaflowStepFunctionsSupport', () => {
  const { template, support } = build();

  test('DynamoDB table: pathspec key, ttl, on-demand, PITR, encrypted, retained', () => {
    const [, table] = resourcesOf(template, 'AWS::DynamoDB::Table')[0];
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pathspec', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pathspec', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect((table as any).DeletionPolicy).toBe('Retain');
  });

  test('state machine role: trusted by Step Functions; Batch on this stack\'s queues; the .sync rule; table; no s3:* or batch:*', () => {
    template.hasResourceProperties('AWS::IAM::Role', { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'states.amazonaws.com' } }] } });
    const statements = policyOf(template, 'SfnStateMachineRole');
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['batch:SubmitJob', 'batch:DescribeJobs', 'batch:TerminateJob', 'events:PutTargets', 'events:PutRule', 'events:DescribeRule', 'dynamodb:PutItem', 's3:PutObject', 'logs:CreateLogDelivery']));
    for (const a of actions) expect(a).not.toMatch(/\*/);
    // Compiled machines only call batch:submitJob.sync and S3 (runner/sfn/compiler); job
    // definitions are registered by the deployer, whose role passes the job role, not this one.
    expect(actions).not.toContain('batch:RegisterJobDefinition');
    expect(actions).not.toContain('iam:PassRole');
    const submit = statements.find((s) => s.Action === 'batch:SubmitJob');
    expect(JSON.stringify(submit.Resource)).toMatch(/ComputeDefaultQueue/);
    expect(JSON.stringify(submit.Resource)).toMatch(/ComputeGpuQueue/);
    const rule = statements.find((s) => [s.Action].flat().includes('events:PutRule'));
    expect(JSON.stringify(rule.Resource)).toContain(':rule/StepFunctionsGetEventsForBatchJobsRule');
  });

  test('state machine role starts, watches and stops only this deployment\'s executions (a nested foreach\'s Distributed Map)', () => {
    const statements = policyOf(template, 'SfnStateMachineRole');
    const start = statements.find((s) => s.Action === 'states:StartExecution');
    expect(start.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':stateMachine:Test_*']] });
    const watch = statements.find((s) => [s.Action].flat().includes('states:DescribeExecution'));
    expect([watch.Action].flat().sort()).toEqual(['states:DescribeExecution', 'states:StopExecution']);
    expect(JSON.stringify(watch.Resource)).toContain(':execution:Test_*');
  });

  test('state machine role sends X-Ray traces (the deployer turns tracing on)', () => {
    const xray = policyOf(template, 'SfnStateMachineRole').find((s) => [s.Action].flat().includes('xray:PutTraceSegments'));
    // CDK merges it with the other resource-less statements (log delivery, Batch Describe/List).
    expect(xray).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect(xray.Action).toEqual(expect.arrayContaining(['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets']));
  });

  test('EventBridge role may start only this deployment\'s state machines', () => {
    template.hasResourceProperties('AWS::IAM::Role', { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'events.amazonaws.com' } }] } });
    const statements = policyOf(template, 'SfnEventsRole');
    expect(statements).toHaveLength(1);
    expect(statements[0].Action).toBe('states:StartExecution');
    // `<prefix>_*`: a bare `Test*` would also match a `Test-dev` stack's `Test-dev_<flow>` machines.
    expect(statements[0].Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':stateMachine:Test_*']] });
    expect(support.stateMachinePrefix).toBe('Test');
    expect(stateMachineName(support.stateMachinePrefix, 'HelloFlow')).toBe('Test_HelloFlow');
    expect(JSON.stringify(support.eventRuleArnPattern)).toContain(':rule/Test_*');
  });

  test('the Batch job role gains the table; execution history has a log group', () => {
    const jobActions = policyOf(template, 'ComputeRolesJobRole').flatMap((s) => [s.Action].flat());
    expect(jobActions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']));
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('custom prefix; a bad prefix names the value', () => {
    expect(build({ stateMachinePrefix: 'team-flows' }).support.stateMachinePrefix).toBe('team-flows');
    expect(() => build({ stateMachinePrefix: 'has space' })).toThrow(/Test\/Sfn: stateMachinePrefix must be 1–40 letters, digits or "-" .*got "has space"/);
    // "_" is the separator: a prefix holding it would make `a_*` match prefix `a_b`'s machines.
    expect(() => build({ stateMachinePrefix: 'team_flows' })).toThrow(/stateMachinePrefix must be .*may not contain "_"\), got "team_flows"/);
  });
});

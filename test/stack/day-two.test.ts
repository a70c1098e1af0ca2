import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { METAFLOW_STACK_OUTPUTS } from '../../core/metaflow-config-keys';
import { ARN, REGION_ACCOUNT, statementLines } from '../support/policy-lines';
import { appFromContext, resourcesOf, templateFromContext } from '../support/synth';

/**
 * What the people running the stack expect on day two — the user access policy and monitoring —
 * asserted on ONE synthesized default stack (plus one with both turned off), to keep synth time
 * small. The constructs alone are tested in test/access and test/monitoring.
 */
const { stack } = appFromContext({ nag: 'false' });
const role = new iam.Role(stack, 'DataScientist', { assumedBy: new iam.AccountRootPrincipal() });
stack.grantRunFlows(role);
const template = Template.fromStack(stack);



describe('the stack\'s user access policy (default stack)', () => {
  const [, policy] = resourcesOf(template, 'AWS::IAM::ManagedPolicy').find(([id]) => id.startsWith('UserAccessPolicy'))!;
  const lines = statementLines(policy.Properties.PolicyDocument.Statement);

  test('holds exactly what running flows needs, every resource this deployment\'s own', () => {
    expect(lines).toEqual([
      // running jobs (grantRunJobs: what a state machine needs too), then registering definitions (grantSubmitJobs)
      `batch:CancelJob,batch:TagResource,batch:TerminateJob => ${ARN}:batch:${REGION_ACCOUNT}:job/*`,
      `batch:DescribeComputeEnvironments,batch:DescribeJobDefinitions,batch:DescribeJobQueues,batch:DescribeJobs,batch:ListJobs,states:ListStateMachines => *`,
      `batch:RegisterJobDefinition,batch:TagResource => ${ARN}:batch:${REGION_ACCOUNT}:job-definition/metaflow_*`,
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

});

describe('monitoring in the default stack', () => {
  const json = template.toJSON();
  const topic = resourcesOf(template, 'AWS::SNS::Topic').find(([id]) => id.startsWith('MonitoringAlarmTopic'))![0];
  const alarms = Object.fromEntries(resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([id, a]) => [id.replace(/^Monitoring|[0-9A-F]{8}$/g, ''), a.Properties]));

  test('alarms with their thresholds, each notifying the topic on ALARM and on OK', () => {
    const summary = Object.fromEntries(Object.entries(alarms).map(([id, a]) => [id, `${a.MetricName} ${a.ComparisonOperator} ${a.Threshold} x${a.EvaluationPeriods}`]));
    expect(summary).toEqual({
      FailedJobs: 'JobsFailed GreaterThanOrEqualToThreshold 10 x1',
      QueueMetricsFailing: 'Errors GreaterThanOrEqualToThreshold 1 x3',
      ApiServerErrors: '5XXError GreaterThanOrEqualToThreshold 5 x2',
      ApiLatency: 'Latency GreaterThanOrEqualToThreshold 5000 x3',
      ServiceCpu: 'CPUUtilization GreaterThanOrEqualToThreshold 85 x3',
      ServiceMemory: 'MemoryUtilization GreaterThanOrEqualToThreshold 85 x3',
      ServiceDown: 'RunningTaskCount LessThanThreshold 1 x2',
      DatabaseCpu: 'CPUUtilization GreaterThanOrEqualToThreshold 80 x3',
      DatabaseStorage: 'FreeStorageSpace LessThanThreshold 2147483648 x1',
    });
    for (const alarm of Object.values(alarms)) {
      expect(alarm.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.OKActions).toEqual([{ Ref: topic }]);
    }
    expect(alarms.FailedJobs).toMatchObject({ Namespace: 'Metaflow/Metaflow', Period: 900, Statistic: 'Sum', TreatMissingData: 'notBreaching' });
    expect(alarms.ServiceDown).toMatchObject({ Namespace: 'ECS/ContainerInsights', TreatMissingData: 'breaching' });
    expect(alarms.ApiLatency.ExtendedStatistic).toBe('p99');
  });

  test('alarms on AWS metrics use the dimensions AWS publishes them with, naming this stack\'s resources', () => {
    // API Gateway: dimension ApiName (the REST API's name, which must be unique to this stack, or
    // the alarm adds up every stack's API); ECS (also ECS/ContainerInsights): ClusterName and
    // ServiceName; RDS: DBInstanceIdentifier; Lambda: FunctionName.
    const [apiId, api] = resourcesOf(template, 'AWS::ApiGateway::RestApi')[0];
    expect(api.Properties.Name).toBe('Metaflow-metaflow-metadata');
    const service = resourcesOf(template, 'AWS::ECS::Service')[0][0];
    const cluster = resourcesOf(template, 'AWS::ECS::Cluster')[0][0];
    const database = resourcesOf(template, 'AWS::RDS::DBInstance')[0][0];
    const ecs = [{ Name: 'ClusterName', Value: { Ref: cluster } }, { Name: 'ServiceName', Value: { 'Fn::GetAtt': [service, 'Name'] } }];
    const expected: Record<string, [string, unknown]> = {
      ApiServerErrors: ['AWS/ApiGateway', [{ Name: 'ApiName', Value: api.Properties.Name }]],
      ApiLatency: ['AWS/ApiGateway', [{ Name: 'ApiName', Value: api.Properties.Name }]],
      ServiceCpu: ['AWS/ECS', ecs],
      ServiceMemory: ['AWS/ECS', ecs],
      ServiceDown: ['ECS/ContainerInsights', ecs],
      DatabaseCpu: ['AWS/RDS', [{ Name: 'DBInstanceIdentifier', Value: { Ref: database } }]],
      DatabaseStorage: ['AWS/RDS', [{ Name: 'DBInstanceIdentifier', Value: { Ref: database } }]],
      QueueMetricsFailing: ['AWS/Lambda', [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^MonitoringQueueMetrics/) } }]],
    };
    for (const [alarm, [namespace, dimensions]] of Object.entries(expected)) {
      expect({ alarm, namespace: alarms[alarm].Namespace, dimensions: alarms[alarm].Dimensions }).toEqual({ alarm, namespace, dimensions });
    }
    expect(apiId).toMatch(/^MetadataServiceApiRestApi/);
    // Container Insights is what publishes RunningTaskCount.
    expect(resourcesOf(template, 'AWS::ECS::Cluster')[0][1].Properties.ClusterSettings).toEqual([{ Name: 'containerInsights', Value: 'enabled' }]);
  });

  test('the alarm topic requires TLS and lets CloudWatch alarms of this account publish; its ARN and the dashboard name are outputs', () => {
    // The topic policy replaces SNS's default policy, so the CloudWatch service principal needs
    // its own Allow, or every alarm action fails ("Failed to execute action" in alarm history).
    const [, policy] = resourcesOf(template, 'AWS::SNS::TopicPolicy')[0];
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      expect.objectContaining({ Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      {
        Sid: 'CloudWatchAlarmsOfThisAccount', Effect: 'Allow', Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: 'sns:Publish', Resource: { Ref: topic },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:*']] } },
        },
      },
    ]);
    expect(json.Outputs[METAFLOW_STACK_OUTPUTS.ALARM_TOPIC_ARN].Value).toEqual({ Ref: topic });
    expect(json.Outputs[METAFLOW_STACK_OUTPUTS.DASHBOARD_NAME].Value).toEqual({ Ref: expect.stringMatching(/^MonitoringDashboard/) });
  });

  test('this stack\'s Batch job state changes go to a /aws/events/ log group whose filters count FAILED and SUCCEEDED jobs', () => {
    const [, rule] = resourcesOf(template, 'AWS::Events::Rule').find(([id]) => id.startsWith('MonitoringJobStateChanges'))!;
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.batch'], 'detail-type': ['Batch Job State Change'],
      detail: { jobQueue: [{ 'Fn::GetAtt': [expect.stringMatching(/^ComputeDefaultQueue/), 'JobQueueArn'] }, { 'Fn::GetAtt': [expect.stringMatching(/^ComputeGpuQueue/), 'JobQueueArn'] }] },
    });
    const [logGroupId, logGroup] = resourcesOf(template, 'AWS::Logs::LogGroup').find(([id]) => id.startsWith('MonitoringJobEvents'))!;
    expect(logGroup.Properties.LogGroupName).toBe('/aws/events/metaflow/Metaflow/batch-jobs');
    expect(JSON.stringify(rule.Properties.Targets[0].Arn)).toContain(`:log-group:",{"Ref":"${logGroupId}"}]]`);
    const [, policy] = resourcesOf(template, 'AWS::Logs::ResourcePolicy')[0];
    const document = JSON.stringify(policy.Properties.PolicyDocument);
    expect(document).toContain('\\"Service\\":[\\"events.amazonaws.com\\",\\"delivery.logs.amazonaws.com\\"]');
    expect(document).toContain('logs:PutLogEvents');
    expect((rule as any).DependsOn).toEqual([expect.stringMatching(/^MonitoringJobEventsPolicy/)]);
    const filters = resourcesOf(template, 'AWS::Logs::MetricFilter').map(([, f]) => [f.Properties.FilterPattern, f.Properties.MetricTransformations[0].MetricName]);
    expect(filters).toEqual([['{ $.detail.status = "FAILED" }', 'JobsFailed'], ['{ $.detail.status = "SUCCEEDED" }', 'JobsSucceeded']]);
  });

  test('the queue-metrics function: every queue and environment, one namespace, its own narrow role, every minute', () => {
    const [fnId, fn] = resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('MonitoringQueueMetrics'))!;
    const env = fn.Properties.Environment.Variables;
    expect(env.METRIC_NAMESPACE).toBe('Metaflow/Metaflow');
    expect(JSON.stringify(env.JOB_QUEUES)).toMatch(/ComputeDefaultQueue.*ComputeGpuQueue/);
    expect(JSON.stringify(env.COMPUTE_ENVIRONMENTS)).toMatch(/ComputeSpotEnvironment.*ComputeOnDemandEnvironment.*ComputeGpuEnvironment/);
    expect(fn.Properties.Runtime).toBe('nodejs24.x');
    const [, policy] = resourcesOf(template, 'AWS::IAM::Policy').find(([id]) => id.startsWith('MonitoringQueueMetricsRole'))!;
    const statements = policy.Properties.PolicyDocument.Statement.map((s: any) => [[s.Action].flat().sort().join(','), s.Condition ?? null]);
    expect(statements).toEqual([
      ['logs:CreateLogStream,logs:PutLogEvents', null],
      ['batch:DescribeComputeEnvironments,batch:ListJobs', null],
      ['cloudwatch:PutMetricData', { StringEquals: { 'cloudwatch:namespace': 'Metaflow/Metaflow' } }],
    ]);
    const [, role] = resourcesOf(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('MonitoringQueueMetricsRole'))!;
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const [, schedule] = resourcesOf(template, 'AWS::Events::Rule').find(([id]) => id.startsWith('MonitoringQueueMetricsSchedule'))!;
    expect(schedule.Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(schedule.Properties.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
  });

  test('the dashboard charts queue depth by state, vCPUs, job outcomes, the service, the API and the database', () => {
    const [, dashboard] = resourcesOf(template, 'AWS::CloudWatch::Dashboard')[0];
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const text of ['Jobs RUNNABLE', 'Jobs RUNNING', 'JobsInState', 'DesiredvCpus', 'MaxvCpus', 'JobsFailed', 'JobsSucceeded',
      'AWS/ECS', 'RunningTaskCount', 'AWS/ApiGateway', '4XXError', '5XXError', 'Latency', 'AWS/RDS', 'DatabaseConnections', 'FreeStorageSpace', 'Alarms']) {
      expect(body).toContain(text);
    }
    expect(dashboard.Properties.DashboardName).toEqual({ 'Fn::Join': ['', ['Metaflow-metaflow-', { Ref: 'AWS::Region' }]] });
  });
});

test('-c monitoring=false and -c userAccessPolicy=false: no dashboard, alarms, topic, queue-metrics function or access policy', () => {
  const off = templateFromContext({ monitoring: 'false', userAccessPolicy: 'false', metadataService: 'false' });
  for (const type of ['AWS::CloudWatch::Dashboard', 'AWS::CloudWatch::Alarm', 'AWS::SNS::Topic', 'AWS::Logs::MetricFilter', 'AWS::IAM::ManagedPolicy']) off.resourceCountIs(type, 0);
  expect(Object.keys(off.toJSON().Resources).filter((id) => id.startsWith('Monitoring') || id.startsWith('UserAccess'))).toEqual([]);
  for (const id of [METAFLOW_STACK_OUTPUTS.ALARM_TOPIC_ARN, METAFLOW_STACK_OUTPUTS.DASHBOARD_NAME, METAFLOW_STACK_OUTPUTS.USER_ACCESS_POLICY_ARN]) {
    expect(off.toJSON().Outputs[id]).toBeUndefined();
  }
});

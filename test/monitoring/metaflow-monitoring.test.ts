import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { METAFLOW_STACK_OUTPUTS } from '../../lib/config/metaflow-config-keys';
import { MetaflowMonitoring } from '../../lib/monitoring/metaflow-monitoring';
import { appFromContext, emptyStack, resourcesOf, templateFromContext } from '../support/synth';

describe('monitoring in the default stack', () => {
  const template = templateFromContext();
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

  test('the alarm topic requires TLS; its ARN and the dashboard name are outputs', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: [{ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }] },
    });
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
    expect(dashboard.Properties.DashboardName).toBe('Metaflow-metaflow');
  });
});

describe('monitoring options', () => {
  test('-c monitoring=false: no dashboard, alarms, topic or queue-metrics function', () => {
    const template = templateFromContext({ monitoring: 'false', metadataService: 'false', userAccessPolicy: 'false' });
    for (const type of ['AWS::CloudWatch::Dashboard', 'AWS::CloudWatch::Alarm', 'AWS::SNS::Topic', 'AWS::Logs::MetricFilter']) template.resourceCountIs(type, 0);
    expect(Object.keys(template.toJSON().Resources).filter((id) => id.startsWith('Monitoring'))).toEqual([]);
    expect(template.toJSON().Outputs[METAFLOW_STACK_OUTPUTS.ALARM_TOPIC_ARN]).toBeUndefined();
  });

  test('-c alarmTopicArn uses your topic; -c alarmEmail subscribes an address to the created one', () => {
    const arn = 'arn:aws:sns:us-east-1:123456789012:ops-alarms';
    const own = templateFromContext({ alarmTopicArn: arn, metadataService: 'false', stepFunctions: 'false' });
    own.resourceCountIs('AWS::SNS::Topic', 0);
    for (const [, alarm] of resourcesOf(own, 'AWS::CloudWatch::Alarm')) expect(alarm.Properties.AlarmActions).toEqual([arn]);
    const mailed = templateFromContext({ alarmEmail: 'ops@example.com', failedJobsAlarmThreshold: '3', metadataService: 'false', stepFunctions: 'false' });
    mailed.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    mailed.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'JobsFailed', Threshold: 3 });
  });

  test.each([
    [{ alarmEmail: 'ops' }, 'context key alarmEmail: expected an email address, got "ops"'],
    [{ alarmTopicArn: 'ops-alarms' }, 'context key alarmTopicArn: expected an SNS topic ARN'],
    [{ failedJobsAlarmThreshold: '0' }, 'context key failedJobsAlarmThreshold: expected an integer from 1 to 100000, got "0"'],
    [{ monitoring: 'false', alarmEmail: 'ops@example.com' }, 'Metaflow: monitoring must be left unset when monitoring.enabled is false, got {"alarmEmail":"ops@example.com"}'],
  ])('bad monitoring settings %j are refused clearly', (context, message) => {
    expect(() => appFromContext(context as Record<string, string>)).toThrow(message);
  });

  test('standalone on imported compute: Batch metrics and alarms only; bad props name the construct and value', () => {
    const stack = emptyStack();
    const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
      defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default', jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    });
    const topic = new sns.Topic(stack, 'Ops', { enforceSSL: true });
    new MetaflowMonitoring(stack, 'Monitoring', { compute, alarmTopic: topic, metricNamespace: 'Team/Flows', queueMetricsInterval: Duration.minutes(5) });
    const template = Template.fromStack(stack);
    expect(resourcesOf(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties.MetricName).sort()).toEqual(['Errors', 'JobsFailed']);
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)' });
    template.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { JOB_QUEUES: 'arn:aws:batch:us-east-1:123456789012:job-queue/default', COMPUTE_ENVIRONMENTS: '' } } });
    const body = JSON.stringify(resourcesOf(template, 'AWS::CloudWatch::Dashboard')[0][1].Properties.DashboardBody);
    expect(body).toContain('\\"JobQueue\\",\\"default\\"');

    const other = emptyStack('Other');
    const imported = MetaflowBatchCompute.fromAttributes(other, 'Compute', { defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/q', jobRoleArn: 'arn:aws:iam::123456789012:role/job' });
    expect(() => new MetaflowMonitoring(other, 'M1', { compute: imported, queueMetricsInterval: Duration.seconds(30) }))
      .toThrow('Other/M1: queueMetricsInterval must be a whole number of minutes from 1 to 60, got "0.5 minutes"');
    expect(() => new MetaflowMonitoring(other, 'M2', { compute: imported, metricNamespace: 'AWS/Batch' }))
      .toThrow('Other/M2: metricNamespace must be a CloudWatch namespace');
  });
});

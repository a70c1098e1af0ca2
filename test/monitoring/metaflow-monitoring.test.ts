import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowMonitoring } from '../../lib/monitoring/metaflow-monitoring';
import { appFromContext, emptyStack, resourcesOf, templateFromContext } from '../support/synth';


describe('monitoring options', () => {
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
    [{ monitoring: 'false', alarmEmail: 'ops@example.com' }, 'context key alarmEmail: "ops@example.com" needs -c monitoring=true, got monitoring=false'],
  ])('bad monitoring settings %j are refused clearly', (context, message) => {
    expect(() => appFromContext(context as Record<string, string>)).toThrow(message);
  });

  test('the default dashboard name carries the region: the same stack in two regions of one account does not collide', () => {
    // Dashboard names are account-global (CloudFormation AWS::CloudWatch::Dashboard reference).
    const app = new App({ context: require('../../cdk.json').context });
    const stacks = ['us-east-1', 'eu-west-1'].map((region) => {
      const stack = new Stack(app, `Metaflow-${region}`, { stackName: 'Metaflow', env: { account: '123456789012', region } });
      const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
        defaultQueueArn: `arn:aws:batch:${region}:123456789012:job-queue/default`, jobRoleArn: 'arn:aws:iam::123456789012:role/job',
      });
      new MetaflowMonitoring(stack, 'Monitoring', { compute });
      return stack;
    });
    const names = stacks.map((stack) => resourcesOf(Template.fromStack(stack), 'AWS::CloudWatch::Dashboard')[0][1].Properties.DashboardName);
    expect(names).toEqual(['Metaflow-metaflow-us-east-1', 'Metaflow-metaflow-eu-west-1']);
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

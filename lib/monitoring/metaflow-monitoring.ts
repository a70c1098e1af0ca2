import { ArnFormat, Duration, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { IMetaflowBatchCompute } from '../compute/metaflow-batch-compute';
import { MetaflowMetadataService } from '../metadata/metaflow-metadata-service';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { checkIntegerInRange, invalidProp } from '../validation';
import { queueMetricsHandlerCode } from './queue-metrics-handler/code';
import { nameFromArn, QUEUE_METRICS, QUEUE_METRICS_ENV } from './queue-metrics-handler/contract';

/** Metrics the Batch job state-change events become (metric filters on the events log group). */
export const JOB_EVENT_METRICS = {
  /** Jobs (array children included) that reached FAILED. */
  FAILED: 'JobsFailed',
  /** Jobs (array children included) that reached SUCCEEDED. */
  SUCCEEDED: 'JobsSucceeded',
} as const;

/** Properties of {@link MetaflowMonitoring}. */
export interface MetaflowMonitoringProps {
  /** The Batch compute layer whose queues are watched. */
  readonly compute: IMetaflowBatchCompute;

  /**
   * Compute environments whose desired and maximum vCPUs are published and charted.
   *
   * @default - none (no vCPU metrics)
   */
  readonly computeEnvironments?: batch.IComputeEnvironment[];

  /**
   * The metadata service to chart and alarm on (tasks, API Gateway, database).
   *
   * @default - none
   */
  readonly metadataService?: MetaflowMetadataService;

  /**
   * The SNS topic alarms notify (and notify again when they recover).
   *
   * @default - a topic is created
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * An email address to subscribe to a created alarm topic (AWS sends a confirmation mail).
   *
   * @default - no subscription
   */
  readonly alarmEmail?: string;

  /**
   * CloudWatch namespace of the custom metrics.
   *
   * @default `Metaflow/<stack name>`
   */
  readonly metricNamespace?: string;

  /**
   * Name of the dashboard. "All dashboards in your account are global, not region-specific"
   * (CloudFormation AWS::CloudWatch::Dashboard reference), so the default carries the region: the
   * same stack in a second region would otherwise collide with (and fail on) the first one's.
   *
   * @default `<stack name>-metaflow-<region>`
   */
  readonly dashboardName?: string;

  /**
   * Alarm when at least this many jobs fail within 15 minutes.
   *
   * @default 10
   */
  readonly failedJobsThreshold?: number;

  /**
   * How often the queue-metrics function counts jobs (1–60 minutes).
   *
   * @default Duration.minutes(1)
   */
  readonly queueMetricsInterval?: Duration;

  /**
   * Retention of the Batch job events and of the function's logs.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
}

/** A job queue's or compute environment's name from its ARN (a token at synth for created ones). */
function batchName(arn: string): string {
  return Token.isUnresolved(arn) ? Fn.select(1, Fn.split('/', arn)) : nameFromArn(arn);
}

/**
 * Day-two monitoring of a Metaflow deployment: a CloudWatch dashboard and alarms notifying an SNS
 * topic. AWS Batch publishes no queue metrics, so
 * - a small scheduled function (bundled with esbuild when the package is built, or at synth time from the sources; never Docker) counts each queue's jobs per active
 *   state (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING — a gauge events cannot give) and reads
 *   the compute environments' desired/maximum vCPUs, publishing them with PutMetricData;
 * - an EventBridge rule sends this deployment's "Batch Job State Change" events to a log group
 *   whose metric filters count jobs reaching FAILED and SUCCEEDED (exact, no polling).
 * With a metadata service it also charts and alarms on its tasks (CPU, memory, running count), the
 * REST API (4XX including 429 throttles, 5XX, latency, requests) and the database (CPU,
 * connections, free storage).
 */
export class MetaflowMonitoring extends Construct {
  /** The topic alarms notify. */
  public readonly alarmTopic: sns.ITopic;
  /** The CloudWatch dashboard of the compute layer, metadata service, API and database. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** Every alarm, by id. */
  public readonly alarms: Record<string, cloudwatch.Alarm> = {};
  /** The function publishing queue depth and vCPUs. */
  public readonly queueMetricsFunction: lambda.Function;
  /** The log group Batch job state-change events go to. */
  public readonly jobEventsLogGroup: logs.LogGroup;
  /** Namespace of the custom metrics. */
  public readonly metricNamespace: string;

  constructor(scope: Construct, id: string, props: MetaflowMonitoringProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.metricNamespace = props.metricNamespace ?? `Metaflow/${stack.stackName}`;
    if (!/^[A-Za-z0-9./#:_-]{1,255}$/.test(this.metricNamespace) || this.metricNamespace.startsWith('AWS/')) {
      invalidProp(this, 'metricNamespace', this.metricNamespace, 'a CloudWatch namespace (letters, digits, . / # : _ -; not starting with "AWS/")');
    }
    const failedJobsThreshold = props.failedJobsThreshold ?? 10;
    checkIntegerInRange(this, 'failedJobsThreshold', failedJobsThreshold, 1, 100000);
    const interval = props.queueMetricsInterval ?? Duration.minutes(1);
    const intervalMinutes = interval.toMinutes({ integral: false });
    if (!Number.isInteger(intervalMinutes) || intervalMinutes < 1 || intervalMinutes > 60) {
      invalidProp(this, 'queueMetricsInterval', `${intervalMinutes} minutes`, 'a whole number of minutes from 1 to 60');
    }
    if (props.alarmEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(props.alarmEmail)) {
      invalidProp(this, 'alarmEmail', props.alarmEmail, 'an email address');
    }
    if (props.alarmEmail !== undefined && props.alarmTopic) {
      invalidProp(this, 'alarmEmail', props.alarmEmail, 'left unset with alarmTopic (subscribe to your own topic yourself)');
    }
    const retention = props.logRetention ?? logs.RetentionDays.THREE_MONTHS;

    this.alarmTopic = props.alarmTopic ?? this.createTopic(props.alarmEmail);
    const queues = props.compute.jobQueues;
    const environments = props.computeEnvironments ?? [];

    this.queueMetricsFunction = this.createQueueMetricsFunction(queues, environments, interval, retention);
    this.jobEventsLogGroup = this.createJobEvents(queues, retention);

    const jobsInState = (queue: batch.IJobQueue, state: string) => new cloudwatch.Metric({
      namespace: this.metricNamespace,
      metricName: QUEUE_METRICS.JOBS_IN_STATE,
      dimensionsMap: { JobQueue: batchName(queue.jobQueueArn), State: state },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(5),
      label: `${queue.node.id} ${state}`,
    });
    const jobEvents = (metricName: string, label: string) => new cloudwatch.Metric({
      namespace: this.metricNamespace, metricName, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5), label,
    });
    const vcpus = (environment: batch.IComputeEnvironment, metricName: string) => new cloudwatch.Metric({
      namespace: this.metricNamespace,
      metricName,
      dimensionsMap: { ComputeEnvironment: batchName(environment.computeEnvironmentArn) },
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(5),
      label: `${environment.node.id} ${metricName === QUEUE_METRICS.DESIRED_VCPUS ? 'desired' : 'max'}`,
    });

    const failedJobs = new cloudwatch.Metric({ namespace: this.metricNamespace, metricName: JOB_EVENT_METRICS.FAILED, statistic: cloudwatch.Stats.SUM, period: Duration.minutes(15) });
    this.alarm('FailedJobs', failedJobs, {
      threshold: failedJobsThreshold, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `${failedJobsThreshold} or more Metaflow Batch jobs failed within 15 minutes`,
    });
    this.alarm('QueueMetricsFailing', this.queueMetricsFunction.metricErrors({ period: Duration.minutes(5) }), {
      threshold: 1, evaluationPeriods: 3, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'The queue-metrics function failed for 15 minutes: queue depth and vCPU metrics are missing (see its logs)',
    });

    const widgets: cloudwatch.IWidget[][] = [
      [new cloudwatch.TextWidget({ markdown: '## AWS Batch\nJobs per queue and state (array jobs count once); jobs failed/succeeded per 5 minutes (array children count each).', width: 24, height: 2 })],
      ['RUNNABLE', 'RUNNING', 'SUBMITTED'].map((state) => new cloudwatch.GraphWidget({
        title: `Jobs ${state}`, width: 8, left: queues.map((q) => jobsInState(q, state)),
      })),
      [
        new cloudwatch.GraphWidget({
          title: 'Jobs failed / succeeded', width: 8,
          left: [jobEvents(JOB_EVENT_METRICS.FAILED, 'failed'), jobEvents(JOB_EVENT_METRICS.SUCCEEDED, 'succeeded')],
        }),
        new cloudwatch.GraphWidget({
          title: 'Compute environment vCPUs (desired / max)', width: 8,
          left: environments.flatMap((e) => [vcpus(e, QUEUE_METRICS.DESIRED_VCPUS), vcpus(e, QUEUE_METRICS.MAX_VCPUS)]),
        }),
        new cloudwatch.GraphWidget({
          title: 'Jobs STARTING / PENDING', width: 8,
          left: queues.flatMap((q) => [jobsInState(q, 'STARTING'), jobsInState(q, 'PENDING')]),
        }),
      ],
    ];
    if (props.metadataService) widgets.push(...this.metadataServiceWidgets(props.metadataService));
    widgets.push([new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 24, alarms: Object.values(this.alarms) })]);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName ?? `${stack.stackName}-metaflow-${stack.region}`,
      widgets,
    });
  }

  private createTopic(email?: string): sns.Topic {
    const topic = new sns.Topic(this, 'AlarmTopic', { displayName: `Metaflow alarms (${Stack.of(this).stackName})`, enforceSSL: true });
    // A topic policy replaces SNS's default one (which admits publishers of the owner account
    // through AWS:SourceOwner); with only the TLS deny left, nothing would allow CloudWatch's
    // service principal to publish. Allow it for this account's alarms only (confused deputy).
    const stack = Stack.of(this);
    topic.addToResourcePolicy(new iam.PolicyStatement({
      sid: 'CloudWatchAlarmsOfThisAccount',
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
      },
    }));
    if (email) topic.addSubscription(new subscriptions.EmailSubscription(email));
    acknowledge(topic, ['AwsSolutions-SNS2'],
      'Alarm notifications carry alarm names and states only; CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer key would cost more than the data warrants. Pass alarmTopic to use an encrypted topic of your own.');
    return topic;
  }

  private createQueueMetricsFunction(queues: batch.IJobQueue[], environments: batch.IComputeEnvironment[], interval: Duration, retention: logs.RetentionDays): lambda.Function {
    const logGroup = new logs.LogGroup(this, 'QueueMetricsLogs', { retention, removalPolicy: RemovalPolicy.DESTROY });
    // Its own role: log writes to its own group only, no AWS-managed policy.
    const role = new iam.Role(this, 'QueueMetricsRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Metaflow queue metrics: ListJobs, DescribeComputeEnvironments, PutMetricData into one namespace',
    });
    logGroup.grantWrite(role);
    role.addToPolicy(new iam.PolicyStatement({ actions: ['batch:ListJobs', 'batch:DescribeComputeEnvironments'], resources: ['*'] }));
    role.addToPolicy(new iam.PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': this.metricNamespace } },
    }));
    acknowledge(role, [wildcardResourceFinding(this, '*')],
      'batch:ListJobs, batch:DescribeComputeEnvironments and cloudwatch:PutMetricData support no resource-level permissions; PutMetricData is limited to this namespace by condition.');
    acknowledge(role, [wildcardResourceFinding(this, logGroup.logGroupArn)],
      'The function writes log streams it names at run time, in its own log group only.');

    const fn = new lambda.Function(this, 'QueueMetrics', {
      description: 'Publishes Metaflow Batch queue depth per state and compute environment vCPUs (AWS Batch publishes neither)',
      code: queueMetricsHandlerCode(),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.seconds(50),
      memorySize: 256,
      role,
      logGroup,
      environment: {
        [QUEUE_METRICS_ENV.JOB_QUEUES]: queues.map((q) => q.jobQueueArn).join(','),
        [QUEUE_METRICS_ENV.COMPUTE_ENVIRONMENTS]: environments.map((e) => e.computeEnvironmentArn).join(','),
        [QUEUE_METRICS_ENV.NAMESPACE]: this.metricNamespace,
      },
    });
    // Runs every interval; a slow run must not overlap the next one into throttling.
    new events.Rule(this, 'QueueMetricsSchedule', {
      description: 'Count Metaflow Batch jobs per queue and state',
      schedule: events.Schedule.rate(interval),
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
    return fn;
  }

  private createJobEvents(queues: batch.IJobQueue[], retention: logs.RetentionDays): logs.LogGroup {
    const stack = Stack.of(this);
    // EventBridge delivers to log groups named /aws/events/… only.
    const logGroup = new logs.LogGroup(this, 'JobEvents', {
      logGroupName: `/aws/events/metaflow/${stack.stackName}/batch-jobs`,
      retention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const rule = new events.Rule(this, 'JobStateChanges', {
      description: 'Metaflow Batch job state changes on this stack\'s queues, into a log group for metrics',
      eventPattern: { source: ['aws.batch'], detailType: ['Batch Job State Change'], detail: { jobQueue: queues.map((q) => q.jobQueueArn) } },
    });
    // A plain target plus the log group's resource policy (what targets.CloudWatchLogGroup sets up
    // through a custom resource and its own Lambda).
    rule.addTarget({
      bind: () => ({ arn: stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME }) }),
    });
    const policy = new logs.CfnResourcePolicy(this, 'JobEventsPolicy', {
      policyName: `${stack.stackName}-metaflow-batch-job-events`,
      policyDocument: stack.toJsonString({
        Version: '2012-10-17',
        Statement: [{
          Effect: 'Allow',
          Principal: { Service: ['events.amazonaws.com', 'delivery.logs.amazonaws.com'] },
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: logGroup.logGroupArn,
        }],
      }),
    });
    rule.node.addDependency(policy);

    for (const [status, metricName] of [['FAILED', JOB_EVENT_METRICS.FAILED], ['SUCCEEDED', JOB_EVENT_METRICS.SUCCEEDED]] as const) {
      new logs.MetricFilter(this, `Jobs${status}`, {
        logGroup,
        filterPattern: logs.FilterPattern.stringValue('$.detail.status', '=', status),
        metricNamespace: this.metricNamespace,
        metricName,
        metricValue: '1',
        defaultValue: 0,
        unit: cloudwatch.Unit.COUNT,
      });
    }
    return logGroup;
  }

  private metadataServiceWidgets(service: MetaflowMetadataService): cloudwatch.IWidget[][] {
    const api = service.api.restApi;
    const database = service.database.instance;
    const fiveMinutes = { period: Duration.minutes(5) };
    const runningTasks = new cloudwatch.Metric({
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensionsMap: { ClusterName: service.cluster.clusterName, ServiceName: service.service.serviceName },
      statistic: cloudwatch.Stats.MINIMUM,
      period: Duration.minutes(5),
    });

    this.alarm('ApiServerErrors', api.metricServerError({ ...fiveMinutes, statistic: cloudwatch.Stats.SUM }), {
      threshold: 5, evaluationPeriods: 2, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'The metadata API returned 5 or more 5XX responses in each of 2 five-minute periods',
    });
    this.alarm('ApiLatency', api.metricLatency({ ...fiveMinutes, statistic: cloudwatch.Stats.p(99) }), {
      threshold: 5000, evaluationPeriods: 3, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: 'p99 latency of the metadata API above 5 seconds for 15 minutes',
    });
    this.alarm('ServiceCpu', service.service.metricCpuUtilization(fiveMinutes), {
      threshold: 85, evaluationPeriods: 3, alarmDescription: 'Metadata service CPU above 85% for 15 minutes',
    });
    this.alarm('ServiceMemory', service.service.metricMemoryUtilization(fiveMinutes), {
      threshold: 85, evaluationPeriods: 3, alarmDescription: 'Metadata service memory above 85% for 15 minutes',
    });
    const desiredCount = (service.service.node.defaultChild as ecs.CfnService).desiredCount;
    if (typeof desiredCount === 'number' && desiredCount > 0) {
      this.alarm('ServiceDown', runningTasks, {
        threshold: 1, evaluationPeriods: 2, comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: 'No metadata service task running for 10 minutes (Container Insights RunningTaskCount)',
      });
    }
    this.alarm('DatabaseCpu', database.metricCPUUtilization(fiveMinutes), {
      threshold: 80, evaluationPeriods: 3, alarmDescription: 'Metadata database CPU above 80% for 15 minutes',
    });
    this.alarm('DatabaseStorage', database.metricFreeStorageSpace({ ...fiveMinutes, statistic: cloudwatch.Stats.MINIMUM }), {
      threshold: 2 * 1024 ** 3, evaluationPeriods: 1, comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      alarmDescription: 'Less than 2 GiB free storage on the metadata database (storage autoscaling may be at its limit)',
    });

    return [
      [new cloudwatch.TextWidget({ markdown: '## Metadata service\nAPI Gateway counts throttled requests (429) among 4XX.', width: 24, height: 2 })],
      [
        new cloudwatch.GraphWidget({ title: 'Service CPU / memory %', width: 8, left: [service.service.metricCpuUtilization(fiveMinutes), service.service.metricMemoryUtilization(fiveMinutes)], right: [runningTasks.with({ label: 'running tasks' })] }),
        new cloudwatch.GraphWidget({
          title: 'API requests and errors', width: 8,
          left: [api.metricClientError({ ...fiveMinutes, statistic: cloudwatch.Stats.SUM, label: '4XX (incl. 429 throttled)' }), api.metricServerError({ ...fiveMinutes, statistic: cloudwatch.Stats.SUM, label: '5XX' })],
          right: [api.metricCount({ ...fiveMinutes, statistic: cloudwatch.Stats.SUM, label: 'requests' })],
        }),
        new cloudwatch.GraphWidget({
          title: 'API latency (ms)', width: 8,
          left: [api.metricLatency({ ...fiveMinutes, statistic: cloudwatch.Stats.p(50), label: 'p50' }), api.metricLatency({ ...fiveMinutes, statistic: cloudwatch.Stats.p(99), label: 'p99' })],
        }),
      ],
      [
        new cloudwatch.GraphWidget({ title: 'Database CPU %', width: 8, left: [database.metricCPUUtilization(fiveMinutes)] }),
        new cloudwatch.GraphWidget({ title: 'Database connections', width: 8, left: [database.metricDatabaseConnections(fiveMinutes)] }),
        new cloudwatch.GraphWidget({ title: 'Database free storage (bytes)', width: 8, left: [database.metricFreeStorageSpace(fiveMinutes)] }),
      ],
    ];
  }

  private alarm(id: string, metric: cloudwatch.IMetric, props: Omit<cloudwatch.CreateAlarmOptions, 'metric'>): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      metric,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      ...props,
    });
    const action = new cwActions.SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms[id] = alarm;
    return alarm;
  }
}

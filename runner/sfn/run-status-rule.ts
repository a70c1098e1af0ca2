/**
 * The run record of an execution that ended outside the state machine's own states (stopped,
 * timed out, failed outside the `Run.steps` Catch) is written by a second, tiny state machine:
 * an EventBridge rule on the flow's "Step Functions Execution Status Change" events (FAILED,
 * TIMED_OUT, ABORTED) starts the **run status recorder**, an Express workflow of four aws-sdk S3
 * calls' worth of states — read `<flow>/<run>/run.json`; when it still says `running`, write it
 * back with the final status, the event's time as `finishedAt` and a one-line reason. No
 * long-running process, no Lambda. A record already final (the machine's own Catch wrote
 * `failed`) is left as it is; a run without a record (it failed before writing one) is skipped.
 *
 * Delivery is best-effort (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html):
 * `runs` and `show` still reconcile a `running` record with DescribeExecution (reconcile.ts).
 * Status change events are sent for Standard workflows only, so the recorder (Express) does not
 * trigger itself (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html).
 *
 * Pure: the pattern, the input transformer and the recorder's definition; deploy (CLI) and
 * FlowStateMachine (CDK) create them.
 */
import { createHash } from 'node:crypto';

/** The execution statuses the rule reacts to, and what the run record then says (as reconcile.ts). */
export const ENDED_STATUSES: Readonly<Record<string, { status: string; error: string }>> = {
  ABORTED: { status: 'stopped', error: 'the execution was stopped (StopExecution)' },
  TIMED_OUT: { status: 'timed out', error: "the execution timed out (the state machine's TimeoutSeconds)" },
  FAILED: { status: 'failed', error: "the execution failed outside the run record's Catch" },
};

/** The status rule's pattern: this state machine's executions that ended outside its own states. */
export function runStatusEventPattern(stateMachineArn: string): Record<string, unknown> {
  return {
    source: ['aws.states'],
    'detail-type': ['Step Functions Execution Status Change'],
    detail: { status: Object.keys(ENDED_STATUSES), stateMachineArn: [stateMachineArn] },
  };
}

/**
 * The recorder's input: the run record's bucket and key (`<sysroot>/<flow>/<execution name>/run.json`,
 * the run id being the execution name), the execution's status and the event's time as stoppedAt (ISO 8601;
 * the event's `stopDate` is epoch milliseconds, which ASL cannot format).
 */
export function runStatusInputTransformer(datastore: { bucket: string; prefix: string }, flow: string): { InputPathsMap: Record<string, string>; InputTemplate: string } {
  const key = `${datastore.prefix ? `${datastore.prefix}/` : ''}${flow}/<name>/run.json`;
  return {
    InputPathsMap: { name: '$.detail.name', status: '$.detail.status', time: '$.time', execution: '$.detail.executionArn' },
    InputTemplate: `{"bucket": ${JSON.stringify(datastore.bucket)}, "key": ${JSON.stringify(key)}, "status": "<status>", "stoppedAt": "<time>", "executionArn": "<execution>"}`,
  };
}

/** The recorder's definition (ASL); `partition` for its aws-sdk resources. */
export function runStatusRecorderDefinition(partition: string): Record<string, unknown> {
  const s3 = (action: string) => `arn:${partition}:states:::aws-sdk:s3:${action}`;
  const retry = [{ ErrorEquals: ['S3.SdkClientException', 'S3.S3Exception', 'States.Timeout'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2 }];
  const ended = Object.fromEntries(Object.entries(ENDED_STATUSES).map(([status, end]) => [`Record ${status}`, {
    Type: 'Pass',
    Parameters: { status: end.status, error: end.error, 'finishedAt.$': '$.stoppedAt' },
    ResultPath: '$.end',
    Next: 'Write',
  }]));
  return {
    Comment: 'metaflow-cdk run status recorder: writes the final status of a run whose execution ended outside its own states (runner/sfn/run-status-rule.ts)',
    StartAt: 'Read',
    States: {
      Read: {
        Type: 'Task',
        Resource: s3('getObject'),
        Parameters: { 'Bucket.$': '$.bucket', 'Key.$': '$.key' },
        ResultSelector: { 'record.$': 'States.StringToJson($.Body)' },
        ResultPath: '$.read',
        Retry: retry,
        // A run that failed before writing its record has none: nothing to record.
        // (aws-sdk errors are `<Service>.<Error>Exception`: https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html)
        Catch: [{ ErrorEquals: ['S3.NoSuchKeyException'], ResultPath: null, Next: 'No record' }],
        Next: 'Still running?',
      },
      'Still running?': {
        Type: 'Choice',
        Choices: [{ Variable: '$.read.record.status', StringEquals: 'running', Next: 'How it ended' }],
        Default: 'Already final',
      },
      'How it ended': {
        Type: 'Choice',
        Choices: Object.keys(ENDED_STATUSES).map((status) => ({ Variable: '$.status', StringEquals: status, Next: `Record ${status}` })),
        Default: 'Already final',
      },
      ...ended,
      Write: {
        Type: 'Task',
        Resource: s3('putObject'),
        Parameters: {
          'Bucket.$': '$.bucket',
          'Key.$': '$.key',
          ContentType: 'application/json',
          'Body.$': 'States.JsonToString(States.JsonMerge($.read.record, $.end, false))',
        },
        Retry: retry,
        End: true,
      },
      'Already final': { Type: 'Succeed' },
      'No record': { Type: 'Succeed' },
    },
  };
}

/** EventBridge rule names: at most 64 characters of `[.-_A-Za-z0-9]`. */
const RULE_NAME_MAX = 64;
/** The longest suffix: `trigger-100`, plus room. */
const SUFFIX_MAX = 12;

/**
 * The name of one of a state machine's event rules: `<state machine>.<suffix>` (`.` never occurs
 * in state machine names, so these never meet a schedule rule, which is named exactly like its
 * state machine). A state machine name too long for that is cut and a hash of it appended, the
 * same base for every suffix.
 */
export function eventRuleName(stateMachine: string, suffix: string): string {
  const room = RULE_NAME_MAX - 1 - SUFFIX_MAX;
  const base = stateMachine.length <= room
    ? stateMachine
    : `${stateMachine.slice(0, room - 9)}-${createHash('sha256').update(stateMachine).digest('hex').slice(0, 8)}`;
  return `${base}.${suffix}`;
}

/** The status rule of a state machine. */
export const statusRuleName = (stateMachine: string) => eventRuleName(stateMachine, 'status');
/** The rule of a state machine's `index`th trigger (0-based; named from 1). */
export const triggerRuleName = (stateMachine: string, index: number) => eventRuleName(stateMachine, `trigger-${index + 1}`);
/** At most this many triggers per flow (the suffix stays within its room). */
export const MAX_TRIGGERS = 100;
/**
 * The run status recorder `sfn deploy` creates once per prefix: `<prefix>_metaflow-run-status`
 * (inside the stack's `stateMachine:<prefix>_*` grants); a flow of that name is refused.
 */
export const RUN_STATUS_RECORDER_FLOW_NAME = 'metaflow-run-status';

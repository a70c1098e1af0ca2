/**
 * The Step Functions deployer with aws-sdk-client-mock: exact payloads of every call, what is
 * rejected before any call, and the AWS faults that become one line.
 */
import {
  DeleteRuleCommand,
  EventBridgeClient,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  DescribeExecutionCommand,
  DescribeStateMachineCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  ListStateMachinesCommand,
  SFNClient,
  StartExecutionCommand,
  TagResourceCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { UserInputError } from '../../../runner/errors';
import {
  deleteStateMachine,
  deployStateMachine,
  executionStatus,
  listStateMachines,
  scheduleStateMachine,
  SfnContext,
  triggerExecution,
  unscheduleStateMachine,
} from '../../../runner/sfn';
import { ACCOUNT, EVENTS_ROLE, LOG_GROUP, PASS_DEFINITION, PREFIX, ROLE, sfnSettingsFor } from './support';

const sfnMock = mockClient(SFNClient);
const eventsMock = mockClient(EventBridgeClient);
const clientConfig = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
const NAME = `${PREFIX}_HelloFlow`;
const ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${NAME}`;
const DEPLOY = { flow: 'HelloFlow', deployedBy: 'alice' };

function context(overrides: Record<string, string | undefined> = {}): SfnContext {
  return { sfn: new SFNClient(clientConfig), events: new EventBridgeClient(clientConfig), settings: sfnSettingsFor(overrides) };
}

function notFound(name: string): Error {
  return Object.assign(new Error(`${name}: not there`), { name });
}

beforeEach(() => {
  sfnMock.reset();
  eventsMock.reset();
});

describe('deploy', () => {
  test('creates a missing state machine: role, logging ALL with execution data, tracing, tags', async () => {
    sfnMock.on(DescribeStateMachineCommand).rejects(notFound('StateMachineDoesNotExist'));
    sfnMock.on(CreateStateMachineCommand).resolves({ stateMachineArn: ARN, creationDate: new Date() });
    expect(await deployStateMachine(context(), NAME, PASS_DEFINITION, DEPLOY)).toEqual({ stateMachineArn: ARN, created: true });
    expect(sfnMock.commandCalls(DescribeStateMachineCommand)[0].args[0].input).toEqual({ stateMachineArn: ARN });
    expect(sfnMock.commandCalls(CreateStateMachineCommand)[0].args[0].input).toEqual({
      name: NAME,
      definition: JSON.stringify(PASS_DEFINITION),
      roleArn: ROLE,
      type: 'STANDARD',
      loggingConfiguration: { level: 'ALL', includeExecutionData: true, destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: `${LOG_GROUP}:*` } }] },
      tracingConfiguration: { enabled: true },
      tags: [{ key: 'metaflow.flow', value: 'HelloFlow' }, { key: 'metaflow.deployed-by', value: 'alice' }],
    });
    expect(sfnMock.commandCalls(UpdateStateMachineCommand)).toHaveLength(0);
  });

  test('updates an existing one (never creates a second), re-tags it, and turns logging off without a log group', async () => {
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: ARN, name: NAME, status: 'ACTIVE' } as never);
    sfnMock.on(UpdateStateMachineCommand).resolves({ updateDate: new Date() });
    sfnMock.on(TagResourceCommand).resolves({});
    const ctx = context({ METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: undefined });
    expect(await deployStateMachine(ctx, NAME, PASS_DEFINITION, { ...DEPLOY, logLevel: 'ERROR' })).toEqual({ stateMachineArn: ARN, created: false });
    expect(sfnMock.commandCalls(CreateStateMachineCommand)).toHaveLength(0);
    expect(sfnMock.commandCalls(UpdateStateMachineCommand)[0].args[0].input).toEqual({
      stateMachineArn: ARN,
      definition: JSON.stringify(PASS_DEFINITION),
      roleArn: ROLE,
      loggingConfiguration: { level: 'OFF' },
      tracingConfiguration: { enabled: true },
    });
    expect(sfnMock.commandCalls(TagResourceCommand)[0].args[0].input).toEqual({
      resourceArn: ARN,
      tags: [{ key: 'metaflow.flow', value: 'HelloFlow' }, { key: 'metaflow.deployed-by', value: 'alice' }],
    });
  });

  test('a create race (StateMachineAlreadyExists) turns into an update', async () => {
    sfnMock.on(DescribeStateMachineCommand).rejects(notFound('StateMachineDoesNotExist'));
    sfnMock.on(CreateStateMachineCommand).rejects(notFound('StateMachineAlreadyExists'));
    sfnMock.on(UpdateStateMachineCommand).resolves({});
    sfnMock.on(TagResourceCommand).resolves({});
    const result = await deployStateMachine(context(), NAME, PASS_DEFINITION, { ...DEPLOY, logLevel: 'ERROR', includeExecutionData: false });
    expect(result.created).toBe(false);
    expect(sfnMock.commandCalls(UpdateStateMachineCommand)[0].args[0].input.loggingConfiguration).toEqual({
      level: 'ERROR', includeExecutionData: false, destinations: [{ cloudWatchLogsLogGroup: { logGroupArn: `${LOG_GROUP}:*` } }],
    });
  });

  test.each([
    ['a name over 80 characters', `${PREFIX}_${'F'.repeat(80)}`, /state machine name must be 1–80 letters, digits, "_" or "-", got "mfstack_F+" \(88 characters\)/],
    ['a name with a space', `${PREFIX}_Hello Flow`, /state machine name must be 1–80 .*got "mfstack_Hello Flow"/],
    ['a name outside the prefix', 'other_HelloFlow', /must start with "mfstack_" followed by the flow name .*got "other_HelloFlow"/],
    ['the bare prefix', `${PREFIX}_`, /must start with "mfstack_" followed by the flow name/],
  ])('%s is rejected before any call', async (_what, name, message) => {
    await expect(deployStateMachine(context(), name, PASS_DEFINITION, DEPLOY)).rejects.toThrow(message);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('a definition that is not ASL, or whose StartAt names no state, is rejected before any call', async () => {
    await expect(deployStateMachine(context(), NAME, { StartAt: 'nope', States: {} }, DEPLOY))
      .rejects.toThrow(/definition of "mfstack_HelloFlow" must be an ASL object whose StartAt names one of its States, got \{"StartAt":"nope","States":\{\}\}/);
    await expect(deployStateMachine(context(), NAME, [] as never, DEPLOY)).rejects.toThrow(UserInputError);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('a missing or malformed SFN_IAM_ROLE is one line naming the key, before any call', async () => {
    await expect(deployStateMachine(context({ METAFLOW_SFN_IAM_ROLE: undefined }), NAME, PASS_DEFINITION, DEPLOY))
      .rejects.toThrow(/^missing Metaflow config key METAFLOW_SFN_IAM_ROLE: set it in .*config\.json or the environment, or pass --role/);
    await expect(deployStateMachine(context({ METAFLOW_SFN_IAM_ROLE: 'sfn-role' }), NAME, PASS_DEFINITION, DEPLOY))
      .rejects.toThrow('SFN_IAM_ROLE must be an IAM role ARN (arn:<partition>:iam::<account>:role/<name>), got "sfn-role"');
    expect(sfnMock.calls()).toHaveLength(0);
  });
});

describe('trigger', () => {
  const now = new Date('2026-11-21T17:22:05Z');

  test('validates the input, then starts an execution whose name is the run id', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: 'arn:exec', startDate: now });
    const validateInput = jest.fn((input: Readonly<Record<string, unknown>>) => ({ alpha: 0.5, ...input }));
    const result = await triggerExecution(context(), NAME, { n: 3 }, { validateInput, now, randomSuffix: () => 'abc123' });
    expect(validateInput).toHaveBeenCalledWith({ n: 3 });
    expect(result).toEqual({ executionArn: 'arn:exec', executionName: 'sfn-20261121-172205-abc123', runId: 'sfn-20261121-172205-abc123', startDate: now });
    expect(sfnMock.commandCalls(StartExecutionCommand)[0].args[0].input).toEqual({
      stateMachineArn: ARN,
      name: 'sfn-20261121-172205-abc123',
      input: '{"alpha":0.5,"n":3}',
    });
  });

  test('a rejected parameter stops it before any call', async () => {
    const validateInput = () => {
      throw new UserInputError('--param n: expected an integer, got "x"');
    };
    await expect(triggerExecution(context(), NAME, { n: 'x' }, { validateInput })).rejects.toThrow('--param n: expected an integer, got "x"');
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('input over 256 KiB is rejected before any call', async () => {
    await expect(triggerExecution(context(), NAME, { blob: 'x'.repeat(256 * 1024) }))
      .rejects.toThrow(/^input of "mfstack_HelloFlow" is 262155 bytes; Step Functions allows 262144 \(256 KiB\)$/);
    expect(sfnMock.calls()).toHaveLength(0);
  });

  test('StateMachineDoesNotExist is one line naming the state machine', async () => {
    sfnMock.on(StartExecutionCommand).rejects(notFound('StateMachineDoesNotExist'));
    await expect(triggerExecution(context(), NAME, {})).rejects.toThrow(
      new UserInputError(`no state machine "${NAME}" (${ARN}): deploy the flow first (see \`metaflow-cdk sfn list\`)`),
    );
  });
});

describe('status', () => {
  const EXEC = `arn:aws:states:us-east-1:${ACCOUNT}:execution:${NAME}:sfn-1`;
  const t = (s: number) => new Date(Date.UTC(2026, 10, 21, 17, 0, s));
  const batchOut = (id: string) => JSON.stringify({ JobId: id, JobName: `job-${id}` });

  test('per-state view from every history page: retries, Batch job ids, timings, parallel branches', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, name: 'sfn-1', status: 'RUNNING', startDate: t(0) } as never);
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: EXEC, maxResults: 1000 }).resolves({
      nextToken: 'page2',
      events: [
        { id: 1, type: 'ExecutionStarted', timestamp: t(0) },
        { id: 2, previousEventId: 1, type: 'TaskStateEntered', timestamp: t(1), stateEnteredEventDetails: { name: 'start' } },
        { id: 3, previousEventId: 2, type: 'TaskScheduled', timestamp: t(1) },
        { id: 4, previousEventId: 3, type: 'TaskSubmitted', timestamp: t(2), taskSubmittedEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-a') } },
        { id: 5, previousEventId: 4, type: 'TaskFailed', timestamp: t(5), taskFailedEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', error: 'States.TaskFailed', cause: batchOut('job-a') } },
        { id: 6, previousEventId: 5, type: 'TaskScheduled', timestamp: t(7) },
        { id: 7, previousEventId: 6, type: 'TaskSubmitted', timestamp: t(8), taskSubmittedEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-b') } },
      ],
    } as never);
    sfnMock.on(GetExecutionHistoryCommand, { executionArn: EXEC, maxResults: 1000, nextToken: 'page2' }).resolves({
      events: [
        { id: 8, previousEventId: 7, type: 'TaskSucceeded', timestamp: t(10), taskSucceededEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-b') } },
        { id: 9, previousEventId: 8, type: 'TaskStateExited', timestamp: t(10), stateExitedEventDetails: { name: 'start' } },
        { id: 10, previousEventId: 9, type: 'ParallelStateEntered', timestamp: t(11), stateEnteredEventDetails: { name: 'branches' } },
        { id: 11, previousEventId: 10, type: 'ParallelStateStarted', timestamp: t(11) },
        { id: 12, previousEventId: 11, type: 'TaskStateEntered', timestamp: t(11), stateEnteredEventDetails: { name: 'left' } },
        { id: 13, previousEventId: 11, type: 'TaskStateEntered', timestamp: t(11), stateEnteredEventDetails: { name: 'right' } },
        { id: 14, previousEventId: 13, type: 'TaskScheduled', timestamp: t(12) },
        { id: 15, previousEventId: 12, type: 'TaskScheduled', timestamp: t(12) },
        { id: 16, previousEventId: 14, type: 'TaskSubmitted', timestamp: t(13), taskSubmittedEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-r') } },
        { id: 17, previousEventId: 15, type: 'TaskSubmitted', timestamp: t(13), taskSubmittedEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-l') } },
        { id: 18, previousEventId: 17, type: 'TaskSucceeded', timestamp: t(20), taskSucceededEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', output: batchOut('job-l') } },
        { id: 19, previousEventId: 18, type: 'TaskStateExited', timestamp: t(20), stateExitedEventDetails: { name: 'left' } },
      ],
    } as never);

    const status = await executionStatus(context(), EXEC);
    expect(sfnMock.commandCalls(GetExecutionHistoryCommand)).toHaveLength(2);
    expect(status).toMatchObject({ executionArn: EXEC, stateMachine: NAME, runId: 'sfn-1', status: 'RUNNING' });
    expect(status.states.map(({ name, type, status: s, attempts, retries, batchJobIds, durationMs }) => ({ name, type, s, attempts, retries, batchJobIds, durationMs }))).toEqual([
      { name: 'start', type: 'Task', s: 'SUCCEEDED', attempts: 2, retries: 1, batchJobIds: ['job-a', 'job-b'], durationMs: 9000 },
      { name: 'branches', type: 'Parallel', s: 'RUNNING', attempts: 1, retries: 0, batchJobIds: [], durationMs: undefined },
      { name: 'left', type: 'Task', s: 'SUCCEEDED', attempts: 1, retries: 0, batchJobIds: ['job-l'], durationMs: 9000 },
      { name: 'right', type: 'Task', s: 'RUNNING', attempts: 1, retries: 0, batchJobIds: ['job-r'], durationMs: undefined },
    ]);
    expect(status.states[0].lastError).toEqual({ error: 'States.TaskFailed', cause: batchOut('job-a') });
  });

  test('a failed execution: the state whose last attempt failed is FAILED, with the error', async () => {
    sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, name: 'sfn-1', status: 'FAILED', error: 'States.TaskFailed', cause: 'boom' } as never);
    sfnMock.on(GetExecutionHistoryCommand).resolves({
      events: [
        { id: 1, type: 'TaskStateEntered', timestamp: t(1), stateEnteredEventDetails: { name: 'start' } },
        { id: 2, previousEventId: 1, type: 'TaskScheduled', timestamp: t(1) },
        { id: 3, previousEventId: 2, type: 'TaskTimedOut', timestamp: t(9), taskTimedOutEventDetails: { resourceType: 'batch', resource: 'submitJob.sync', error: 'States.Timeout' } },
        { id: 4, previousEventId: 3, type: 'ExecutionFailed', timestamp: t(9) },
      ],
    } as never);
    const status = await executionStatus(context(), EXEC);
    expect(status).toMatchObject({ status: 'FAILED', error: 'States.TaskFailed', cause: 'boom' });
    expect(status.states).toMatchObject([{ name: 'start', status: 'FAILED', attempts: 1, lastError: { error: 'States.Timeout' } }]);
  });

  test('a bad or unknown execution is one line', async () => {
    await expect(executionStatus(context(), 'sfn-1')).rejects.toThrow(/^execution must be an execution ARN .*got "sfn-1"$/);
    sfnMock.on(DescribeExecutionCommand).rejects(notFound('ExecutionDoesNotExist'));
    await expect(executionStatus(context(), EXEC)).rejects.toThrow(new UserInputError(`no execution "${EXEC}"`));
  });
});

describe('list and delete', () => {
  test('lists only this prefix\'s state machines across pages, each with its latest execution', async () => {
    const sm = (name: string) => ({ name, stateMachineArn: `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${name}`, type: 'STANDARD', creationDate: new Date(0) });
    sfnMock.on(ListStateMachinesCommand, {}).resolves({ stateMachines: [sm(`${PREFIX}_B`), sm('other_A')], nextToken: 'n' } as never);
    sfnMock.on(ListStateMachinesCommand, { nextToken: 'n' }).resolves({ stateMachines: [sm(`${PREFIX}_A`), sm(`${PREFIX}-dev_A`)] } as never);
    sfnMock.on(ListExecutionsCommand, { stateMachineArn: sm(`${PREFIX}_A`).stateMachineArn, maxResults: 1 }).resolves({
      executions: [{ executionArn: 'arn:e', name: 'sfn-9', status: 'SUCCEEDED', startDate: new Date(5), stateMachineArn: 'x' }],
    } as never);
    sfnMock.on(ListExecutionsCommand, { stateMachineArn: sm(`${PREFIX}_B`).stateMachineArn, maxResults: 1 }).resolves({ executions: [] });
    const listed = await listStateMachines(context());
    expect(listed).toEqual([
      { name: `${PREFIX}_A`, stateMachineArn: sm(`${PREFIX}_A`).stateMachineArn, creationDate: new Date(0), latest: { executionArn: 'arn:e', runId: 'sfn-9', status: 'SUCCEEDED', startDate: new Date(5), stopDate: undefined } },
      { name: `${PREFIX}_B`, stateMachineArn: sm(`${PREFIX}_B`).stateMachineArn, creationDate: new Date(0), latest: undefined },
    ]);
    expect(sfnMock.commandCalls(ListStateMachinesCommand)).toHaveLength(2);
  });

  test('delete removes the schedule rule (targets first), the trigger and status rules, and the state machine', async () => {
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: ARN, name: NAME } as never);
    sfnMock.on(DeleteStateMachineCommand).resolves({});
    eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [{ Id: 'metaflow-cdk-state-machine', Arn: ARN }] });
    eventsMock.on(ListTargetsByRuleCommand, { Rule: `${NAME}.trigger-2` }).rejects(notFound('ResourceNotFoundException'));
    eventsMock.on(RemoveTargetsCommand).resolves({ FailedEntryCount: 0 });
    eventsMock.on(DeleteRuleCommand).resolves({});
    expect(await deleteStateMachine(context(), NAME)).toEqual({ stateMachineArn: ARN, unscheduled: true, eventRulesRemoved: 2 });
    expect(eventsMock.commandCalls(RemoveTargetsCommand)[0].args[0].input).toEqual({ Rule: NAME, Ids: ['metaflow-cdk-state-machine'] });
    expect(eventsMock.commandCalls(DeleteRuleCommand).map((c) => c.args[0].input)).toEqual([{ Name: NAME }, { Name: `${NAME}.trigger-1` }, { Name: `${NAME}.status` }]);
    expect(sfnMock.commandCalls(DeleteStateMachineCommand)[0].args[0].input).toEqual({ stateMachineArn: ARN });
  });

  test('delete of an unscheduled state machine; delete of a missing one is one line and deletes nothing', async () => {
    sfnMock.on(DescribeStateMachineCommand).resolvesOnce({ stateMachineArn: ARN } as never).rejects(notFound('StateMachineDoesNotExist'));
    sfnMock.on(DeleteStateMachineCommand).resolves({});
    eventsMock.on(ListTargetsByRuleCommand).rejects(notFound('ResourceNotFoundException'));
    expect(await deleteStateMachine(context(), NAME)).toEqual({ stateMachineArn: ARN, unscheduled: false, eventRulesRemoved: 0 });
    await expect(deleteStateMachine(context(), NAME)).rejects.toThrow(`no state machine "${NAME}" (${ARN})`);
    expect(sfnMock.commandCalls(DeleteStateMachineCommand)).toHaveLength(1);
  });
});

describe('schedule', () => {
  test('a rule named after the state machine, its target the state machine with the events role', async () => {
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: ARN } as never);
    eventsMock.on(PutRuleCommand).resolves({ RuleArn: `arn:aws:events:us-east-1:${ACCOUNT}:rule/${NAME}` });
    eventsMock.on(PutTargetsCommand).resolves({ FailedEntryCount: 0 });
    expect(await scheduleStateMachine(context(), NAME, ' cron(0 6 ? * MON-FRI *) ', { n: 1 })).toEqual({
      ruleArn: `arn:aws:events:us-east-1:${ACCOUNT}:rule/${NAME}`, ruleName: NAME, expression: 'cron(0 6 ? * MON-FRI *)',
    });
    expect(eventsMock.commandCalls(PutRuleCommand)[0].args[0].input).toEqual({
      Name: NAME, ScheduleExpression: 'cron(0 6 ? * MON-FRI *)', State: 'ENABLED', Description: `metaflow-cdk schedule of state machine ${NAME}`,
    });
    expect(eventsMock.commandCalls(PutTargetsCommand)[0].args[0].input).toEqual({
      Rule: NAME, Targets: [{ Id: 'metaflow-cdk-state-machine', Arn: ARN, RoleArn: EVENTS_ROLE, Input: '{"n":1}' }],
    });
  });

  test('a refused target is reported', async () => {
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: ARN } as never);
    eventsMock.on(PutRuleCommand).resolves({ RuleArn: 'arn:rule' });
    eventsMock.on(PutTargetsCommand).resolves({ FailedEntryCount: 1, FailedEntries: [{ TargetId: 't', ErrorCode: 'AccessDenied', ErrorMessage: 'no PassRole' }] });
    await expect(scheduleStateMachine(context(), NAME, 'rate(1 day)')).rejects.toThrow('schedule of "mfstack_HelloFlow": EventBridge refused the target: AccessDenied no PassRole');
  });

  test('nothing is called for a bad expression, a missing events role, a name too long for a rule, or a missing state machine', async () => {
    await expect(scheduleStateMachine(context(), NAME, 'cron(0 6 * * MON-FRI *)')).rejects.toThrow(
      'bad schedule expression "cron(0 6 * * MON-FRI *)": exactly one of day-of-month and day-of-week must be "?" (EventBridge syntax: cron(minutes hours day-of-month month day-of-week year) or rate(<n> minute[s]|hour[s]|day[s]))',
    );
    await expect(scheduleStateMachine(context({ METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: undefined }), NAME, 'rate(5 minutes)'))
      .rejects.toThrow(/^missing Metaflow config key METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE/);
    const long = `${PREFIX}_${'F'.repeat(60)}`;
    await expect(scheduleStateMachine(context(), long, 'rate(5 minutes)')).rejects.toThrow(
      `state machine "${long}" cannot be scheduled: its EventBridge rule is named after it and rule names are 1–64 characters of [.-_A-Za-z0-9] (68 given)`,
    );
    expect(sfnMock.calls()).toHaveLength(0);
    expect(eventsMock.calls()).toHaveLength(0);
    sfnMock.on(DescribeStateMachineCommand).rejects(notFound('StateMachineDoesNotExist'));
    await expect(scheduleStateMachine(context(), NAME, 'rate(5 minutes)')).rejects.toThrow(`no state machine "${NAME}"`);
    expect(eventsMock.calls()).toHaveLength(0);
  });

  test('unschedule without a rule says so', async () => {
    eventsMock.on(ListTargetsByRuleCommand).rejects(notFound('ResourceNotFoundException'));
    expect(await unscheduleStateMachine(context(), NAME)).toBe(false);
    expect(eventsMock.commandCalls(DeleteRuleCommand)).toHaveLength(0);
  });
});

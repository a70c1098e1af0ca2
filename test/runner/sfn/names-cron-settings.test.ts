/** Pure checks of the Step Functions deployer: schedule expressions, names and run ids, settings. */
import { checkScheduleExpression, executionNameOfRunId, flowStateMachineName, runIdOfExecution } from '../../../runner/sfn';
import { newExecutionName, parseExecutionArn } from '../../../runner/sfn/names';
import { LOG_GROUP, sfnSettingsFor } from './support';

describe('schedule expressions', () => {
  test.each([
    'cron(0 6 ? * MON-FRI *)',
    'cron(15 10 ? * 6L 2026-2030)',
    'cron(0/15 * * * ? *)',
    'cron(0 8 1,15 JAN-MAR ? *)',
    'cron(0 12 L * ? *)',
    'cron(0 12 15W * ? *)',
    'cron(0 12 ? * 2#1 *)',
    'cron(*/5 9-17 ? * * *)',
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 day)',
    'rate(12 hours)',
  ])('%s is valid', (expression) => {
    expect(checkScheduleExpression(expression)).toBe(expression);
  });

  test.each([
    ['0 6 * * ? *', 'must be cron(...) or rate(...)'],
    ['cron(0 6 * * ?)', 'cron needs 6 fields, got 5'],
    ['cron(0 6 * * * *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(0 6 ? * ? *)', 'exactly one of day-of-month and day-of-week must be "?"'],
    ['cron(60 6 ? * MON *)', 'minutes "60": "60" is not 0–59'],
    ['cron(0 24 ? * MON *)', 'hours "24": "24" is not 0–23'],
    ['cron(0 6 ? 13 MON *)', 'month "13": "13" is not 1–12 or JAN–DEC'],
    ['cron(0 6 ? * FUNDAY *)', 'day-of-week "FUNDAY": "FUNDAY" is not 1–7 or SUN–SAT'],
    ['cron(0 6 ? * 2#6 *)', 'day-of-week "2#6": "#6" must be #1 to #5'],
    ['cron(0/0 6 ? * MON *)', 'minutes "0/0": step "0" must be a positive whole number'],
    ['cron(0 6 ? * MON 1969)', 'year "1969": "1969" is not 1970–2199'],
    ['cron(0 6 ? * MON,, *)', 'day-of-week "MON,,": empty list item'],
    ['rate(0 minutes)', 'the rate must be at least 1'],
    ['rate(1 minutes)', 'use the singular unit for 1 (minute)'],
    ['rate(5 hour)', 'use the plural unit for 5 (hours)'],
    ['rate(5 weeks)', 'rate takes "<positive whole number> <minute|minutes|hour|hours|day|days>"'],
  ])('%s is rejected: %s', (expression, problem) => {
    expect(() => checkScheduleExpression(expression)).toThrow(`bad schedule expression ${JSON.stringify(expression)}: ${problem} (EventBridge syntax:`);
  });
});

describe('names and run ids', () => {
  test('the state machine of a flow is <prefix>_<flow>; a bad prefix is one line', () => {
    expect(flowStateMachineName('mfstack', 'HelloFlow')).toBe('mfstack_HelloFlow');
    expect(() => flowStateMachineName('my_stack', 'HelloFlow')).toThrow(
      'SFN_STATE_MACHINE_PREFIX must be 1–40 letters, digits or "-" (state machines are named <prefix>_<flow>), got "my_stack"',
    );
  });

  test('an execution started by trigger is named sfn-<UTC stamp>-<hex>, and that name is the run id both ways', () => {
    const name = newExecutionName(new Date('2026-01-02T03:04:05.678Z'), () => 'a1b2c3');
    expect(name).toBe('sfn-20260102-030405-a1b2c3');
    expect(runIdOfExecution(name)).toBe(name);
    expect(executionNameOfRunId(name)).toBe(name);
    expect(() => executionNameOfRunId('has space')).toThrow('run id (the execution name) must be 1–80 letters, digits, "_" or "-", got "has space"');
    // an EventBridge-started execution's name (a UUID, 36 characters) is a run id too
    expect(executionNameOfRunId('0c6c1a4e-6f63-4b4e-9a57-2d1f3c1e9b11')).toBe('0c6c1a4e-6f63-4b4e-9a57-2d1f3c1e9b11');
    expect(() => executionNameOfRunId('x'.repeat(81))).toThrow(/must be 1–80/);
  });

  test('execution ARNs name their state machine and execution', () => {
    expect(parseExecutionArn('arn:aws-cn:states:cn-north-1:123456789012:execution:mf_F:sfn-1')).toEqual({ stateMachine: 'mf_F', execution: 'sfn-1' });
    expect(parseExecutionArn('arn:aws:states:us-east-1:123456789012:stateMachine:mf_F')).toBeUndefined();
  });
});

describe('settings', () => {
  test('values from the config; the log group ARN in the form logging takes; no log group means undefined', () => {
    const settings = sfnSettingsFor();
    expect([settings.prefix, settings.dynamoDbTable, settings.logGroupArn]).toEqual(['mfstack', 'mf-sfn-table', `${LOG_GROUP}:*`]);
    expect(sfnSettingsFor({ METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: `${LOG_GROUP}:*` }).logGroupArn).toBe(`${LOG_GROUP}:*`);
    expect(sfnSettingsFor({ METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: undefined }).logGroupArn).toBeUndefined();
  });

  test.each([
    [{ METAFLOW_SFN_STATE_MACHINE_PREFIX: undefined }, 'prefix', /^missing Metaflow config key METAFLOW_SFN_STATE_MACHINE_PREFIX: .*, or pass --prefix/],
    [{ METAFLOW_SFN_DYNAMO_DB_TABLE: undefined }, 'dynamoDbTable', /^missing Metaflow config key METAFLOW_SFN_DYNAMO_DB_TABLE/],
    [{ METAFLOW_SFN_DYNAMO_DB_TABLE: 'a b' }, 'dynamoDbTable', /^SFN_DYNAMO_DB_TABLE must be a DynamoDB table name .*got "a b"$/],
    [{ METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: 'arn:aws:iam::1:role/x' }, 'eventsRoleArn', /^EVENTS_SFN_ACCESS_IAM_ROLE must be an IAM role ARN .*got "arn:aws:iam::1:role\/x"$/],
    [{ METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: '/metaflow/sfn' }, 'logGroupArn', /^SFN_EXECUTION_LOG_GROUP_ARN must be a CloudWatch Logs log group ARN .*got "\/metaflow\/sfn"$/],
  ])('%j: %s is one line naming the key', (overrides, setting, message) => {
    const settings = sfnSettingsFor(overrides as Record<string, string | undefined>);
    expect(() => settings[setting as 'prefix']).toThrow(message);
  });
});

/**
 * The Step Functions deployer against moto_server on 127.0.0.1 (real API validation and state):
 * deploy twice (an update, not a second state machine), trigger, status from the real history,
 * schedule on/off, list, delete. moto cannot run `batch:submitJob.sync` (DESIGN §5), so the
 * definition is Pass states, which moto executes with `stepfunctions.execute_state_machine`.
 */
import { DescribeRuleCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { DescribeStateMachineCommand, ListStateMachinesCommand } from '@aws-sdk/client-sfn';
import { AwsClients } from '../../../runner/aws/clients';
import {
  deleteStateMachine,
  deployStateMachine,
  executionStatus,
  ExecutionStatus,
  flowStateMachineName,
  listStateMachines,
  scheduleStateMachine,
  SfnContext,
  triggerExecution,
  unscheduleStateMachine,
} from '../../../runner/sfn';
import { describeWithTool } from '../../support/external-tool';
import { EVENTS_ROLE, PASS_DEFINITION, PREFIX, ROLE, SfnMoto, startSfnMoto } from './support';
import { MOTO_START_TIMEOUT_MS } from '../../support/moto';

describeWithTool('moto_server', 'Step Functions deployer against moto_server', () => {
  let sfnMoto: SfnMoto;
  let aws: AwsClients;
  let ctx: SfnContext;
  const name = flowStateMachineName(PREFIX, 'HelloFlow');

  beforeAll(async () => {
    // moto accepts the log group ARN without the log group existing; logging stays configured.
    sfnMoto = await startSfnMoto();
    ({ aws, ctx } = sfnMoto);
  }, MOTO_START_TIMEOUT_MS);
  afterAll(() => sfnMoto?.stop());

  async function waitForEnd(arn: string): Promise<ExecutionStatus> {
    for (let i = 0; i < 100; i++) {
      const status = await executionStatus(ctx, arn);
      if (status.status !== 'RUNNING') return status;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`execution ${arn} did not finish`);
  }

  test('deploy twice updates the one state machine; trigger; status; list; schedule on/off; delete', async () => {
    const first = await deployStateMachine(ctx, name, PASS_DEFINITION, { flow: 'HelloFlow', deployedBy: 'alice' });
    expect(first.created).toBe(true);
    const changed = { ...PASS_DEFINITION, Comment: 'second deploy' };
    const second = await deployStateMachine(ctx, name, changed, { flow: 'HelloFlow', deployedBy: 'bob' });
    expect(second).toEqual({ stateMachineArn: first.stateMachineArn, created: false });
    const all = await aws.sfn.send(new ListStateMachinesCommand({}));
    expect(all.stateMachines?.filter((sm) => sm.name === name)).toHaveLength(1);
    const described = await aws.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: first.stateMachineArn }));
    expect(JSON.parse(described.definition!)).toEqual(changed);
    expect(described.roleArn).toBe(ROLE);

    const started = await triggerExecution(ctx, name, { n: 3 });
    expect(started.runId).toMatch(/^sfn-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(started.executionArn).toBe(`${first.stateMachineArn.replace(':stateMachine:', ':execution:')}:${started.runId}`);
    const status = await waitForEnd(started.executionArn);
    expect(status).toMatchObject({ status: 'SUCCEEDED', runId: started.runId, stateMachine: name });
    expect(status.states.map((s) => [s.name, s.type, s.status, s.attempts])).toEqual([
      ['start', 'Pass', 'SUCCEEDED', 1],
      ['end', 'Pass', 'SUCCEEDED', 1],
    ]);

    const scheduled = await scheduleStateMachine(ctx, name, 'cron(0 6 ? * MON-FRI *)', { n: 1 });
    expect(scheduled.ruleArn).toMatch(new RegExp(`:rule/${name}$`));
    const rule = await aws.events.send(new DescribeRuleCommand({ Name: name }));
    expect(rule).toMatchObject({ ScheduleExpression: 'cron(0 6 ? * MON-FRI *)', State: 'ENABLED' });
    const targets = await aws.events.send(new ListTargetsByRuleCommand({ Rule: name }));
    expect(targets.Targets).toEqual([expect.objectContaining({ Arn: first.stateMachineArn, RoleArn: EVENTS_ROLE, Input: '{"n":1}' })]);
    // Scheduling again replaces the expression; still one target.
    await scheduleStateMachine(ctx, name, 'rate(1 day)');
    expect((await aws.events.send(new DescribeRuleCommand({ Name: name }))).ScheduleExpression).toBe('rate(1 day)');
    expect((await aws.events.send(new ListTargetsByRuleCommand({ Rule: name }))).Targets).toHaveLength(1);
    expect(await unscheduleStateMachine(ctx, name)).toBe(true);
    await expect(aws.events.send(new DescribeRuleCommand({ Name: name }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(await unscheduleStateMachine(ctx, name)).toBe(false);

    const otherName = flowStateMachineName(PREFIX, 'Other');
    await deployStateMachine(ctx, otherName, PASS_DEFINITION, { flow: 'Other', deployedBy: 'alice' });
    const listed = await listStateMachines(ctx);
    expect(listed.map((s) => [s.name, s.latest?.runId, s.latest?.status])).toEqual([
      [name, started.runId, 'SUCCEEDED'],
      [otherName, undefined, undefined],
    ]);

    await scheduleStateMachine(ctx, name, 'rate(5 minutes)');
    expect(await deleteStateMachine(ctx, name)).toEqual({ stateMachineArn: first.stateMachineArn, unscheduled: true, eventRulesRemoved: 0 });
    await expect(aws.events.send(new DescribeRuleCommand({ Name: name }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect((await listStateMachines(ctx)).map((s) => s.name)).toEqual([otherName]);
    await expect(deleteStateMachine(ctx, name)).rejects.toThrow(`no state machine "${name}" (${first.stateMachineArn})`);
    await expect(triggerExecution(ctx, name, {})).rejects.toThrow(`no state machine "${name}"`);
  });
}, ['--help']);

/**
 * Schedules: an EventBridge rule named after the state machine (`<prefix>_<flow>`, which the
 * stack's access grants cover as `rule/<prefix>_*`) whose one target is the state machine,
 * started with EVENTS_SFN_ACCESS_IAM_ROLE. Scheduling again replaces the expression and target;
 * unscheduling removes the targets, then the rule.
 */
import {
  DeleteRuleCommand,
  ListTargetsByRuleCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { describeValue } from '../../core/describe-value';
import { CommandFailedError } from '../errors';
import { awsErrorName, requireStateMachine, SfnContext } from './context';
import { checkScheduleExpression } from './cron';
import { checkStateMachineName, scheduleRuleName } from './names';

/** The id of the rule's target. */
export const SCHEDULE_TARGET_ID = 'metaflow-cdk-state-machine';

export interface ScheduleResult {
  readonly ruleArn: string;
  readonly ruleName: string;
  readonly expression: string;
}

/** Schedule `name` with `expression` (cron(...) or rate(...)); `input` is each execution's input. */
export async function scheduleStateMachine(
  ctx: SfnContext,
  name: string,
  expression: string,
  input: Readonly<Record<string, unknown>> = {},
): Promise<ScheduleResult> {
  checkStateMachineName(ctx.settings.prefix, name);
  const ruleName = scheduleRuleName(name);
  const scheduleExpression = checkScheduleExpression(expression);
  const roleArn = ctx.settings.eventsRoleArn;
  const { stateMachineArn } = await requireStateMachine(ctx, name);
  const rule = await ctx.events.send(new PutRuleCommand({
    Name: ruleName,
    ScheduleExpression: scheduleExpression,
    State: 'ENABLED',
    Description: `metaflow-cdk schedule of state machine ${name}`,
  }));
  const targets = await ctx.events.send(new PutTargetsCommand({
    Rule: ruleName,
    Targets: [{ Id: SCHEDULE_TARGET_ID, Arn: stateMachineArn, RoleArn: roleArn, Input: JSON.stringify(input) }],
  }));
  if ((targets.FailedEntryCount ?? 0) > 0) {
    const failed = targets.FailedEntries?.[0];
    throw new CommandFailedError(`schedule of ${describeValue(name)}: EventBridge refused the target: ${failed?.ErrorCode ?? ''} ${failed?.ErrorMessage ?? ''}`.trim());
  }
  return { ruleArn: rule.RuleArn!, ruleName, expression: scheduleExpression };
}

/** Remove the schedule of `name`. Returns false when it had none. */
export async function unscheduleStateMachine(ctx: SfnContext, name: string): Promise<boolean> {
  checkStateMachineName(ctx.settings.prefix, name);
  return deleteRule(ctx, scheduleRuleName(name));
}

/** Remove an EventBridge rule and its targets; false when it did not exist. */
export async function deleteRule(ctx: SfnContext, ruleName: string): Promise<boolean> {
  try {
    const ids: string[] = [];
    let token: string | undefined; // the EventBridge SDK client has no paginators
    do {
      const page = await ctx.events.send(new ListTargetsByRuleCommand({ Rule: ruleName, NextToken: token }));
      ids.push(...(page.Targets ?? []).map((t) => t.Id!));
      token = page.NextToken;
    } while (token);
    if (ids.length > 0) await ctx.events.send(new RemoveTargetsCommand({ Rule: ruleName, Ids: ids }));
    await ctx.events.send(new DeleteRuleCommand({ Name: ruleName }));
    return true;
  } catch (err) {
    if (awsErrorName(err) === 'ResourceNotFoundException') return false;
    throw err;
  }
}

/**
 * `sfn deploy`'s EventBridge rules: one per trigger (runner/sfn/triggers.ts) and the status rule
 * whose target, the run status recorder, writes the final status of runs that ended outside their
 * own states (runner/sfn/run-status-rule.ts). Targets start state machines with
 * EVENTS_SFN_ACCESS_IAM_ROLE (the role schedules use: `states:StartExecution` on
 * `stateMachine:<prefix>_*`); the recorder runs as SFN_IAM_ROLE (datastore read and write). The
 * CLI creates no IAM role.
 *
 * S3 sends events to EventBridge only for buckets with EventBridge delivery on
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-event-notifications-eventbridge.html).
 * Turning it on is PutBucketNotificationConfiguration, which replaces the bucket's whole
 * notification configuration, so the CLI never calls it: it reads the configuration
 * (GetBucketNotificationConfiguration, `EventBridgeConfiguration` present) and refuses a bucket
 * without it.
 */
import { PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { GetBucketNotificationConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { describeValue } from '../../core/describe-value';
import { CommandFailedError, UserInputError } from '../errors';
import { arnOfStateMachine, awsErrorName, SfnContext } from './context';
import { deployStateMachine } from './deploy';
import { deleteRule } from './schedule';
import { checkStateMachineName } from './names';
import { stateMachineName } from '../../core/state-machine-names';
import {
  MAX_TRIGGERS,
  RUN_STATUS_RECORDER_FLOW_NAME,
  runStatusEventPattern,
  runStatusInputTransformer,
  runStatusRecorderDefinition,
  statusRuleName,
  triggerRuleName,
} from './run-status-rule';
import type { TriggerRule } from './triggers';

/** The id of each rule's one target. */
export const RULE_TARGET_ID = 'metaflow-cdk-state-machine';

/**
 * Refuse, in one line, a bucket that does not send events to EventBridge. Reading the
 * configuration needs `s3:GetBucketNotification` on the bucket, which a deployer may lack for a
 * bucket it does not own (the stack grants no access to other buckets): then the check cannot be
 * made, and the warning it returns says so; the deploy goes on.
 */
export async function checkEventBridgeDelivery(s3: S3Client, bucket: string, what: string): Promise<string | undefined> {
  let config;
  try {
    config = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  } catch (err) {
    const name = awsErrorName(err);
    if (name === 'NoSuchBucket') throw new UserInputError(`${what}: bucket ${describeValue(bucket)} does not exist`);
    if (name === 'AccessDenied' || name === 'AccessDeniedException') {
      return `${what}: cannot read bucket ${describeValue(bucket)}'s notification configuration (AccessDenied; it needs s3:GetBucketNotification), so whether it sends events to EventBridge is not checked: if it does not, this trigger never fires`;
    }
    throw err;
  }
  if (!config.EventBridgeConfiguration) {
    throw new UserInputError(
      `${what}: bucket ${describeValue(bucket)} does not send events to EventBridge; turn EventBridge delivery on for it (S3 console → Properties → Event notifications, or the stack's buckets) — metaflow-cdk never changes a bucket's notification configuration`,
    );
  }
  return undefined;
}

async function putRule(ctx: SfnContext, name: string, description: string, pattern: Record<string, unknown>, target: { arn: string; roleArn: string; transformer: TriggerRule['inputTransformer'] }): Promise<string> {
  const rule = await ctx.events.send(new PutRuleCommand({ Name: name, EventPattern: JSON.stringify(pattern), State: 'ENABLED', Description: description.slice(0, 512) }));
  const put = await ctx.events.send(new PutTargetsCommand({
    Rule: name,
    Targets: [{ Id: RULE_TARGET_ID, Arn: target.arn, RoleArn: target.roleArn, InputTransformer: target.transformer }],
  }));
  if ((put.FailedEntryCount ?? 0) > 0) {
    const failed = put.FailedEntries?.[0];
    throw new CommandFailedError(`rule ${describeValue(name)}: EventBridge refused the target: ${failed?.ErrorCode ?? ''} ${failed?.ErrorMessage ?? ''}`.trim());
  }
  return rule.RuleArn!;
}

/**
 * Remove the trigger rules of `name` from the `from`th on (0-based). They are numbered from 1
 * without gaps, so the first missing one ends the walk: only rule-scoped calls, no ListRules
 * (which has no resource-level permissions), so the stack's `rule/<prefix>_*` grant suffices.
 */
async function deleteTriggerRulesFrom(ctx: SfnContext, name: string, from: number): Promise<string[]> {
  const removed: string[] = [];
  for (let i = from; i < MAX_TRIGGERS && (await deleteRule(ctx, triggerRuleName(name, i))); i++) removed.push(triggerRuleName(name, i));
  return removed;
}

/**
 * The state machine `name`'s trigger rules become exactly `rules` (rule i named
 * `<name>.trigger-<i+1>`); trigger rules of an earlier deploy beyond them are removed.
 */
export async function putTriggerRules(ctx: SfnContext, name: string, rules: readonly TriggerRule[]): Promise<{ ruleNames: string[]; removed: string[] }> {
  checkStateMachineName(ctx.settings.prefix, name);
  const roleArn = rules.length ? ctx.settings.eventsRoleArn : '';
  const arn = await arnOfStateMachine(ctx, name);
  const ruleNames: string[] = [];
  for (const [i, rule] of rules.entries()) {
    const ruleName = triggerRuleName(name, i);
    await putRule(ctx, ruleName, `metaflow-cdk: ${rule.description}`, rule.eventPattern, { arn, roleArn, transformer: rule.inputTransformer });
    ruleNames.push(ruleName);
  }
  const removed = await deleteTriggerRulesFrom(ctx, name, rules.length);
  return { ruleNames, removed };
}

/** The run status recorder of the prefix: `<prefix>_metaflow-run-status`. */
export function runStatusRecorderName(prefix: string): string {
  return stateMachineName(prefix, RUN_STATUS_RECORDER_FLOW_NAME);
}

/**
 * The status rule of `name` (flow `flow`, datastore root `datastore`) and the prefix's run status
 * recorder (an Express state machine, created or updated).
 */
export async function putStatusRule(
  ctx: SfnContext,
  name: string,
  flow: string,
  datastore: { bucket: string; prefix: string },
  deployedBy: string,
  includeExecutionData = true,
): Promise<{ ruleName: string; recorderArn: string }> {
  checkStateMachineName(ctx.settings.prefix, name);
  const roleArn = ctx.settings.eventsRoleArn;
  const partition = /^arn:([^:]+):/.exec(ctx.settings.roleArn)![1];
  const recorder = await deployStateMachine(ctx, runStatusRecorderName(ctx.settings.prefix), runStatusRecorderDefinition(partition) as never, {
    flow: RUN_STATUS_RECORDER_FLOW_NAME,
    deployedBy,
    type: 'EXPRESS',
    // the records it reads hold the parameters
    includeExecutionData,
  });
  const ruleName = statusRuleName(name);
  const machine = await arnOfStateMachine(ctx, name);
  await putRule(ctx, ruleName, `metaflow-cdk: records how runs of ${name} ended when they end outside their own states`, runStatusEventPattern(machine), {
    arn: recorder.stateMachineArn,
    roleArn,
    transformer: runStatusInputTransformer(datastore, flow),
  });
  return { ruleName, recorderArn: recorder.stateMachineArn };
}

/**
 * After `sfn deploy` created or updated `name`: its trigger rules (stale ones removed) and, when
 * EVENTS_SFN_ACCESS_IAM_ROLE is configured, its status rule; one line each on `out`.
 */
export async function deployEventRules(
  ctx: SfnContext,
  name: string,
  flow: string,
  rules: readonly TriggerRule[],
  options: { datastore: { bucket: string; prefix: string }; deployedBy: string; statusRule: boolean; includeExecutionData: boolean; out: NodeJS.WritableStream },
): Promise<void> {
  const { ruleNames, removed } = await putTriggerRules(ctx, name, rules);
  ruleNames.forEach((rule, i) => options.out.write(`trigger rule ${rule}: ${rules[i].description}\n`));
  removed.forEach((rule) => options.out.write(`removed trigger rule ${rule} (no longer a trigger)\n`));
  if (!options.statusRule) {
    options.out.write('no status rule: EVENTS_SFN_ACCESS_IAM_ROLE is not set (--events-role); `runs` and `show` reconcile runs that ended outside their own states\n');
    return;
  }
  const { ruleName, recorderArn } = await putStatusRule(ctx, name, flow, options.datastore, options.deployedBy, options.includeExecutionData);
  options.out.write(`status rule ${ruleName}: runs that end stopped, timed out or failed are recorded by ${recorderArn}\n`);
}

/** Remove the trigger and status rules of `name` (sfn delete). */
export async function deleteEventRules(ctx: SfnContext, name: string): Promise<number> {
  const triggers = await deleteTriggerRulesFrom(ctx, name, 0);
  return triggers.length + ((await deleteRule(ctx, statusRuleName(name))) ? 1 : 0);
}


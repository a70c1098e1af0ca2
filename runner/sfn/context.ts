/**
 * What every Step Functions operation shares: the two SDK clients (from runner/aws/clients.ts, so
 * throttling is retried by the SDK's strategy there), the settings, and where the deployment's
 * state machines live — the client's region and the account and partition of SFN_IAM_ROLE (the
 * stack creates the role and the state machines in one account), so a name becomes an ARN without
 * listing state machines.
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DescribeStateMachineCommand, DescribeStateMachineCommandOutput, SFNClient } from '@aws-sdk/client-sfn';
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';
import { parseRoleArn, SfnLocation, stateMachineArn } from './names';
import { SfnSettings } from './settings';

export interface SfnContext {
  readonly sfn: SFNClient;
  readonly events: EventBridgeClient;
  readonly settings: SfnSettings;
}

/** The AWS error's name (`StateMachineDoesNotExist`, `ResourceNotFoundException`…), if any. */
export function awsErrorName(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'name' in err ? String((err as { name: unknown }).name) : undefined;
}

/** Partition, region and account of the deployment's state machines. */
export async function sfnLocation(ctx: SfnContext): Promise<SfnLocation> {
  const { partition, account } = parseRoleArn('SFN_IAM_ROLE', ctx.settings.roleArn);
  const region = await ctx.sfn.config.region();
  return { partition, account, region };
}

/** The ARN of the state machine `name` in this deployment's account and region. */
export async function arnOfStateMachine(ctx: SfnContext, name: string): Promise<string> {
  return stateMachineArn(await sfnLocation(ctx), name);
}

/** One line for a state machine that does not exist. */
export function noSuchStateMachine(name: string, arn: string): UserInputError {
  return new UserInputError(`no state machine ${describeValue(name)} (${arn}): deploy the flow first (see \`metaflow-cdk sfn list\`)`);
}

/** DescribeStateMachine, or undefined when it does not exist. */
export async function findStateMachine(ctx: SfnContext, arn: string): Promise<DescribeStateMachineCommandOutput | undefined> {
  try {
    return await ctx.sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
  } catch (err) {
    if (awsErrorName(err) === 'StateMachineDoesNotExist') return undefined;
    throw err;
  }
}

/** DescribeStateMachine of `name`; a missing one is one line naming it. */
export async function requireStateMachine(ctx: SfnContext, name: string): Promise<DescribeStateMachineCommandOutput & { stateMachineArn: string }> {
  const arn = await arnOfStateMachine(ctx, name);
  const found = await findStateMachine(ctx, arn);
  if (!found) throw noSuchStateMachine(name, arn);
  return { ...found, stateMachineArn: arn };
}

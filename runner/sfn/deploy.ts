/**
 * Deploy a compiled state machine definition idempotently: DescribeStateMachine by its ARN, then
 * CreateStateMachine when absent or UpdateStateMachine (+ TagResource) when present — deploying
 * twice updates, never duplicates. Role SFN_IAM_ROLE, execution logging to
 * SFN_EXECUTION_LOG_GROUP_ARN when set (off otherwise, also on update), X-Ray tracing on, tags
 * for the flow and who deployed it.
 */
import {
  CreateStateMachineCommand,
  LogLevel,
  LoggingConfiguration,
  TagResourceCommand,
  UpdateStateMachineCommand,
} from '@aws-sdk/client-sfn';
import { describeValue } from '../../core/describe-value';
import { METAFLOW_TAG_KEYS } from '../policy/batch';
import { UserInputError } from '../errors';
import { arnOfStateMachine, awsErrorName, findStateMachine, SfnContext } from './context';
import { checkStateMachineName } from './names';

/** Step Functions' limit on a definition (CreateStateMachine `definition`): 1,048,576 characters. */
export const SFN_DEFINITION_MAX_LENGTH = 1_048_576;
/** Tag naming who deployed a state machine. */
export const DEPLOYED_BY_TAG = 'metaflow.deployed-by';

/** An Amazon States Language definition, as the compiler produces it. */
export interface AslDefinition {
  readonly StartAt: string;
  readonly States: Readonly<Record<string, unknown>>;
  readonly [key: string]: unknown;
}

export interface DeployOptions {
  /** The flow the state machine runs (tag `metaflow.flow`). */
  readonly flow: string;
  /** Who deployed it (tag `metaflow.deployed-by`), e.g. the OS user. */
  readonly deployedBy: string;
  /**
   * Execution log level when SFN_EXECUTION_LOG_GROUP_ARN is set.
   * @default 'ALL' (as Metaflow)
   */
  readonly logLevel?: Exclude<LogLevel, 'OFF'>;
  /**
   * Log execution input, output and state data (parameters included) when logging.
   * @default true (as Metaflow)
   */
  readonly includeExecutionData?: boolean;
  /**
   * The workflow type when the state machine is created (the type of an existing one cannot change).
   * @default 'STANDARD'
   */
  readonly type?: 'STANDARD' | 'EXPRESS';
}

export interface DeployResult {
  readonly stateMachineArn: string;
  /** True when CreateStateMachine made it, false when an existing one was updated. */
  readonly created: boolean;
}

/** Check a definition before any call: an object with StartAt and States, within the size limit. */
export function serializeDefinition(name: string, definition: unknown): string {
  const d = definition as Partial<AslDefinition> | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d) || typeof d.StartAt !== 'string'
    || typeof d.States !== 'object' || d.States === null || !(d.StartAt in d.States)) {
    throw new UserInputError(`definition of ${describeValue(name)} must be an ASL object whose StartAt names one of its States, got ${describeValue(definition)}`);
  }
  const text = JSON.stringify(definition);
  if (text.length > SFN_DEFINITION_MAX_LENGTH) {
    throw new UserInputError(`definition of ${describeValue(name)} is ${text.length} characters; Step Functions allows ${SFN_DEFINITION_MAX_LENGTH}`);
  }
  return text;
}

function loggingConfiguration(ctx: SfnContext, options: DeployOptions): LoggingConfiguration {
  const logGroupArn = ctx.settings.logGroupArn;
  if (logGroupArn === undefined) return { level: 'OFF' };
  return {
    level: options.logLevel ?? 'ALL',
    includeExecutionData: options.includeExecutionData ?? true,
    destinations: [{ cloudWatchLogsLogGroup: { logGroupArn } }],
  };
}

/** Create or update the state machine `name` (`<prefix>_<flow>`) with `definition`. */
export async function deployStateMachine(ctx: SfnContext, name: string, definition: AslDefinition, options: DeployOptions): Promise<DeployResult> {
  checkStateMachineName(ctx.settings.prefix, name);
  const text = serializeDefinition(name, definition);
  const roleArn = ctx.settings.roleArn;
  const loggingConfig = loggingConfiguration(ctx, options);
  const tags = [
    { key: METAFLOW_TAG_KEYS.flow, value: options.flow },
    { key: DEPLOYED_BY_TAG, value: options.deployedBy },
  ];
  const arn = await arnOfStateMachine(ctx, name);
  const update = async (): Promise<DeployResult> => {
    await ctx.sfn.send(new UpdateStateMachineCommand({
      stateMachineArn: arn,
      definition: text,
      roleArn,
      loggingConfiguration: loggingConfig,
      tracingConfiguration: { enabled: true },
    }));
    await ctx.sfn.send(new TagResourceCommand({ resourceArn: arn, tags }));
    return { stateMachineArn: arn, created: false };
  };

  const existing = await findStateMachine(ctx, arn);
  if (existing) {
    if (existing.status === 'DELETING') {
      throw new UserInputError(`state machine ${describeValue(name)} is being deleted; deploy again once it is gone`);
    }
    return update();
  }
  try {
    const created = await ctx.sfn.send(new CreateStateMachineCommand({
      name,
      definition: text,
      roleArn,
      type: options.type ?? 'STANDARD',
      loggingConfiguration: loggingConfig,
      tracingConfiguration: { enabled: true },
      tags,
    }));
    return { stateMachineArn: created.stateMachineArn ?? arn, created: true };
  } catch (err) {
    // Another deploy created it between our describe and create: update it instead.
    if (awsErrorName(err) === 'StateMachineAlreadyExists') return update();
    throw err;
  }
}

/**
 * Names and ARNs of the Step Functions deployment: state machine names (`<prefix>_<flow>`, the
 * names the stack's access grants cover), their EventBridge schedule rule names, execution names
 * and the run ids derived from them. Every check runs before any AWS call.
 */
import { describeValue } from '../../core/describe-value';
import { STATE_MACHINE_PREFIX_PATTERN, stateMachineName } from '../../core/state-machine-names';
import { UserInputError } from '../errors';
import { SFN_STATE_MACHINE_NAME_MAX_LENGTH } from '../limits';

/**
 * Characters this deployer allows in state machine and execution names. Step Functions accepts
 * more, but only these let CloudWatch Logs logging work (Step Functions documentation,
 * CreateStateMachine `name`), and they are what flow names and run ids consist of.
 */
export const SFN_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** EventBridge rule names: 1–64 characters of `[.-_A-Za-z0-9]` (PutRule `Name`). */
export const EVENTS_RULE_NAME_MAX_LENGTH = 64;
const EVENTS_RULE_NAME_PATTERN = /^[.\-_A-Za-z0-9]+$/;
/** Execution names: 1–80 characters (StartExecution `name`). */
export const SFN_EXECUTION_NAME_MAX_LENGTH = 80;
/** What an execution name starts with when `trigger` names it; a scheduled one has AWS's name. */
export const TRIGGERED_EXECUTION_PREFIX = 'sfn-';

/** Check SFN_STATE_MACHINE_PREFIX (the same rule the stack's construct enforces). */
export function checkStateMachinePrefix(prefix: string): string {
  if (!STATE_MACHINE_PREFIX_PATTERN.test(prefix)) {
    throw new UserInputError(
      `SFN_STATE_MACHINE_PREFIX must be 1–40 letters, digits or "-" (state machines are named <prefix>_<flow>), got ${describeValue(prefix)}`,
    );
  }
  return prefix;
}

/** The state machine of `flow` under `prefix`, checked. */
export function flowStateMachineName(prefix: string, flow: string): string {
  return checkStateMachineName(prefix, stateMachineName(checkStateMachinePrefix(prefix), flow));
}

/**
 * Check a state machine name: 1–80 characters of `[A-Za-z0-9_-]`, starting with `<prefix>_` —
 * the stack's user access policy and EventBridge role cover only those names.
 */
export function checkStateMachineName(prefix: string, name: string): string {
  if (name.length < 1 || name.length > SFN_STATE_MACHINE_NAME_MAX_LENGTH || !SFN_NAME_PATTERN.test(name)) {
    throw new UserInputError(
      `state machine name must be 1–${SFN_STATE_MACHINE_NAME_MAX_LENGTH} letters, digits, "_" or "-", got ${describeValue(name)} (${name.length} characters)`,
    );
  }
  const required = stateMachineName(prefix, '');
  if (!name.startsWith(required) || name.length === required.length) {
    throw new UserInputError(
      `state machine name must start with "${required}" followed by the flow name (SFN_STATE_MACHINE_PREFIX is ${describeValue(prefix)}; the stack grants access to those names only), got ${describeValue(name)}`,
    );
  }
  return name;
}

/** The schedule rule of a state machine is named after it; EventBridge allows only 64 characters. */
export function scheduleRuleName(stateMachine: string): string {
  if (stateMachine.length > EVENTS_RULE_NAME_MAX_LENGTH || !EVENTS_RULE_NAME_PATTERN.test(stateMachine)) {
    throw new UserInputError(
      `state machine ${describeValue(stateMachine)} cannot be scheduled: its EventBridge rule is named after it and rule names are 1–${EVENTS_RULE_NAME_MAX_LENGTH} characters of [.-_A-Za-z0-9] (${stateMachine.length} given)`,
    );
  }
  return stateMachine;
}

/**
 * A new execution name for `trigger`: `sfn-<UTC yyyymmdd-hhmmss>-<6 hex>`, sortable by time and
 * unique (26 characters, within the runner's 32-character run id budget).
 */
export function newExecutionName(now: Date, random: () => string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${TRIGGERED_EXECUTION_PREFIX}${stamp}-${random()}`;
}

/**
 * The run id of an execution IS its name: the compiled state machine reads it from the context
 * object (`$$.Execution.Name`) and hands it to every task, and `status`/`show` map back without a
 * lookup. Execution names `trigger` makes fit the runner's run id budget; EventBridge-started executions
 * carry the name AWS gives them.
 */
export function runIdOfExecution(executionName: string): string {
  return executionName;
}

/**
 * The execution name of a run id (the inverse of {@link runIdOfExecution}), checked. Any execution
 * name is a run id on Step Functions — also the longer names of EventBridge-started executions
 * (the compiled machine puts run ids in keys, environment and tags, never in job names).
 */
export function executionNameOfRunId(runId: string): string {
  if (runId.length < 1 || runId.length > SFN_EXECUTION_NAME_MAX_LENGTH || !SFN_NAME_PATTERN.test(runId)) {
    throw new UserInputError(
      `run id (the execution name) must be 1–${SFN_EXECUTION_NAME_MAX_LENGTH} letters, digits, "_" or "-", got ${describeValue(runId)}`,
    );
  }
  return runId;
}

/** Partition and account of an IAM role ARN (`arn:<partition>:iam::<account>:role/<name>`). */
export function parseRoleArn(what: string, arn: string): { partition: string; account: string } {
  const match = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/[\w+=,.@\-/]+$/.exec(arn);
  if (!match) throw new UserInputError(`${what} must be an IAM role ARN (arn:<partition>:iam::<account>:role/<name>), got ${describeValue(arn)}`);
  return { partition: match[1], account: match[2] };
}

/** Where this deployment's state machines live: partition, region and account. */
export interface SfnLocation {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
}

/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>` */
export function stateMachineArn(where: SfnLocation, name: string): string {
  return `arn:${where.partition}:states:${where.region}:${where.account}:stateMachine:${name}`;
}

/** `arn:<partition>:states:<region>:<account>:execution:<state machine>:<execution name>` */
export function executionArn(where: SfnLocation, stateMachine: string, executionName: string): string {
  return `arn:${where.partition}:states:${where.region}:${where.account}:execution:${stateMachine}:${executionName}`;
}

/** `arn:…:states:…:execution:<state machine>:<execution name>` → both names, or undefined. */
export function parseExecutionArn(arn: string): { stateMachine: string; execution: string } | undefined {
  const match = /^arn:[^:]+:states:[^:]*:\d{12}:execution:([^:]+):([^:]+)$/.exec(arn);
  return match ? { stateMachine: match[1], execution: match[2] } : undefined;
}

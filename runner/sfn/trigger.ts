/**
 * Start an execution of a deployed state machine: the parameters (execution input) go through a
 * caller-supplied validator first (the CLI's parameter resolution), then StartExecution with an
 * execution name that is the run id (see names.ts), so the run can be found from either.
 */
import { randomBytes } from 'node:crypto';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';
import { arnOfStateMachine, awsErrorName, noSuchStateMachine, SfnContext } from './context';
import { checkStateMachineName, newExecutionName, runIdOfExecution } from './names';

/** Step Functions' limit on execution input (and any state payload): 256 KiB of UTF-8. */
export const SFN_PAYLOAD_MAX_BYTES = 256 * 1024;

export interface TriggerOptions {
  /**
   * Checks the parameters and returns the input to send (defaults merged, values converted);
   * throws a one-line error for a bad one.
   * @default the parameters as given
   */
  readonly validateInput?: (input: Readonly<Record<string, unknown>>) => Record<string, unknown>;
  /** @default now */
  readonly now?: Date;
  /** @default 6 random hex digits */
  readonly randomSuffix?: () => string;
}

export interface TriggerResult {
  readonly executionArn: string;
  readonly executionName: string;
  /** The run id the compiled flow's tasks use: the execution name. */
  readonly runId: string;
  readonly startDate?: Date;
}

/** Start `name` with `input` (the flow's parameters). */
export async function triggerExecution(
  ctx: SfnContext,
  name: string,
  input: Readonly<Record<string, unknown>>,
  options: TriggerOptions = {},
): Promise<TriggerResult> {
  checkStateMachineName(ctx.settings.prefix, name);
  const validated = options.validateInput ? options.validateInput(input) : { ...input };
  const text = JSON.stringify(validated);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > SFN_PAYLOAD_MAX_BYTES) {
    throw new UserInputError(`input of ${describeValue(name)} is ${bytes} bytes; Step Functions allows ${SFN_PAYLOAD_MAX_BYTES} (256 KiB)`);
  }
  const executionName = newExecutionName(options.now ?? new Date(), options.randomSuffix ?? (() => randomBytes(3).toString('hex')));
  const stateMachineArn = await arnOfStateMachine(ctx, name);
  try {
    const started = await ctx.sfn.send(new StartExecutionCommand({ stateMachineArn, name: executionName, input: text }));
    return {
      executionArn: started.executionArn!,
      executionName,
      runId: runIdOfExecution(executionName),
      startDate: started.startDate,
    };
  } catch (err) {
    if (awsErrorName(err) === 'StateMachineDoesNotExist') throw noSuchStateMachine(name, stateMachineArn);
    throw err;
  }
}

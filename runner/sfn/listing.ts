/**
 * The deployment's state machines (`<prefix>_*`, through the ListStateMachines paginator) with
 * each one's latest execution (ListExecutions returns the most recent first), and deleting one
 * with its schedule rule.
 */
import { DeleteStateMachineCommand, ListExecutionsCommand, paginateListStateMachines } from '@aws-sdk/client-sfn';
import { stateMachineName } from '../../core/state-machine-names';
import { requireStateMachine, SfnContext } from './context';
import { checkStateMachineName, EVENTS_RULE_NAME_MAX_LENGTH, runIdOfExecution } from './names';
import { unscheduleStateMachine } from './schedule';
import { deleteEventRules, runStatusRecorderName } from './event-rules';

/** How many ListExecutions calls run at once while listing. */
const LIST_CONCURRENCY = 4;

export interface LatestExecution {
  readonly executionArn: string;
  readonly runId: string;
  readonly status: string;
  readonly startDate?: Date;
  readonly stopDate?: Date;
}

export interface DeployedStateMachine {
  readonly name: string;
  readonly stateMachineArn: string;
  readonly creationDate?: Date;
  /** The most recent execution, if it ever ran. */
  readonly latest?: LatestExecution;
}

/** The state machines named `<prefix>_*`, by name, each with its latest execution. */
export async function listStateMachines(ctx: SfnContext): Promise<DeployedStateMachine[]> {
  const namePrefix = stateMachineName(ctx.settings.prefix, '');
  const found: { name: string; arn: string; creationDate?: Date }[] = [];
  for await (const page of paginateListStateMachines({ client: ctx.sfn }, {})) {
    for (const sm of page.stateMachines ?? []) {
      if (sm.name?.startsWith(namePrefix) && sm.name !== runStatusRecorderName(ctx.settings.prefix) && sm.stateMachineArn) found.push({ name: sm.name, arn: sm.stateMachineArn, creationDate: sm.creationDate });
    }
  }
  found.sort((a, b) => a.name.localeCompare(b.name));
  const result: DeployedStateMachine[] = [];
  for (let i = 0; i < found.length; i += LIST_CONCURRENCY) {
    result.push(...(await Promise.all(found.slice(i, i + LIST_CONCURRENCY).map(async (sm) => {
      const page = await ctx.sfn.send(new ListExecutionsCommand({ stateMachineArn: sm.arn, maxResults: 1 }));
      const latest = page.executions?.[0];
      return {
        name: sm.name,
        stateMachineArn: sm.arn,
        creationDate: sm.creationDate,
        latest: latest && {
          executionArn: latest.executionArn!,
          runId: runIdOfExecution(latest.name!),
          status: latest.status ?? 'UNKNOWN',
          startDate: latest.startDate,
          stopDate: latest.stopDate,
        },
      };
    }))));
  }
  return result;
}

export interface DeleteResult {
  readonly stateMachineArn: string;
  /** Whether a schedule rule was removed with it. */
  readonly unscheduled: boolean;
  /** How many trigger and status rules (runner/sfn/event-rules.ts) were removed with it. */
  readonly eventRulesRemoved: number;
}

/** Delete `name`, its schedule rule and its trigger and status rules; a missing state machine is one line naming it. */
export async function deleteStateMachine(ctx: SfnContext, name: string): Promise<DeleteResult> {
  checkStateMachineName(ctx.settings.prefix, name);
  const { stateMachineArn } = await requireStateMachine(ctx, name);
  // Names longer than a rule name can never have been scheduled.
  const unscheduled = name.length <= EVENTS_RULE_NAME_MAX_LENGTH ? await unscheduleStateMachine(ctx, name) : false;
  const eventRulesRemoved = await deleteEventRules(ctx, name);
  await ctx.sfn.send(new DeleteStateMachineCommand({ stateMachineArn }));
  return { stateMachineArn, unscheduled, eventRulesRemoved };
}

import { Command } from 'commander';
import { UserInputError } from '../../../errors';
import { addSfnOptions, resolveTarget, SfnFlags, withSfn } from '../../sfn-support';
import type { CommandContext } from '../index';

interface ScheduleFlags extends SfnFlags {
  readonly cron?: string;
  readonly off?: boolean;
}

/** `cron(...)` and `rate(...)` as they are; six bare cron fields (as Metaflow's @schedule takes them) go into `cron(...)`. */
export function scheduleExpression(given: string): string {
  const trimmed = given.trim();
  return /^(cron|rate)\(/.test(trimmed) ? trimmed : `cron(${trimmed})`;
}

/** `metaflow-cdk sfn schedule <flow-file|name> --cron "<expr>" | --off`: an EventBridge schedule for a state machine. */
export function sfnScheduleCommand(context: CommandContext): Command {
  const cmd = new Command('schedule')
    .description('run a deployed flow on a schedule (an EventBridge rule named after its state machine), or stop doing so')
    .argument('<flow-file|name>', 'the flow file, the flow name or the state machine name')
    .option('--cron <expression>', 'cron(min hour day-of-month month day-of-week year), the six fields alone, or rate(<n> <unit>) (UTC)')
    .option('--off', 'remove the schedule')
    .option('--events-role <arn>', 'role EventBridge starts executions with (default: METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE)');
  addSfnOptions(cmd).action(async (target: string, flags: ScheduleFlags) => {
    if ((flags.cron === undefined) === !flags.off) throw new UserInputError('sfn schedule takes either --cron "<expression>" or --off');
    await withSfn(flags, context, async ({ ctx }) => {
      const { scheduleStateMachine, unscheduleStateMachine } = require('../../../sfn/schedule') as typeof import('../../../sfn/schedule');
      const { requireStateMachine } = require('../../../sfn/context') as typeof import('../../../sfn/context');
      const { name } = resolveTarget(target, ctx.settings);
      if (flags.cron !== undefined) {
        const scheduled = await scheduleStateMachine(ctx, name, scheduleExpression(flags.cron));
        context.stdout.write(`scheduled ${name}: ${scheduled.expression} (rule ${scheduled.ruleArn})\n`);
      } else if (await unscheduleStateMachine(ctx, name)) {
        context.stdout.write(`unscheduled ${name}\n`);
      } else {
        await requireStateMachine(ctx, name); // a name that was never deployed is one line
        context.stdout.write(`${name} had no schedule\n`);
      }
    });
    context.setExitCode(0);
  });
  return cmd;
}

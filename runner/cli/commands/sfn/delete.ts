import { Command } from 'commander';
import { addSfnOptions, resolveTarget, SfnFlags, withSfn } from '../../sfn-support';
import type { CommandContext } from '../index';

/** `metaflow-cdk sfn delete <flow-file|name>`: delete a state machine and its schedule. */
export function sfnDeleteCommand(context: CommandContext): Command {
  const cmd = new Command('delete')
    .description('delete a deployed state machine and its schedule (Step Functions ends running executions at their next state transition)')
    .argument('<flow-file|name>', 'the flow file, the flow name or the state machine name');
  addSfnOptions(cmd).action(async (target: string, flags: SfnFlags) => {
    await withSfn(flags, context, async ({ ctx }) => {
      const { deleteStateMachine } = require('../../../sfn/listing') as typeof import('../../../sfn/listing');
      const { name } = resolveTarget(target, ctx.settings);
      const result = await deleteStateMachine(ctx, name);
      context.stdout.write(`deleted state machine ${name}${result.unscheduled ? ' and its schedule' : ''}${result.eventRulesRemoved ? ` and ${result.eventRulesRemoved} event rule(s)` : ''}: ${result.stateMachineArn}\n`);
    });
    context.setExitCode(0);
  });
  return cmd;
}

import { Command } from 'commander';
import { describeValue } from '../../../../core/describe-value';
import { UserInputError } from '../../../errors';
import { addSfnOptions, givenParametersOrThrow, resolveTarget, SfnFlags, withSfn } from '../../sfn-support';
import { collect } from '../../run-support';
import { acceptParameterFlags, flowFileArgument, parameterFlagItems } from '../../parameter-flags';
import type { CommandContext } from '../index';

interface TriggerFlags extends SfnFlags {
  readonly param?: string[];
  readonly json?: boolean;
}

/**
 * `metaflow-cdk sfn trigger <flow-file|name>`: start an execution; its name is the run id. With a
 * flow file, `--param` values are checked and typed against the flow as `run` does; only the
 * values given are sent (as the input's `Parameters`), since the deployed state machine holds the
 * defaults.
 */
export function sfnTriggerCommand(context: CommandContext): Command {
  const cmd = new Command('trigger')
    .description('start an execution of a deployed flow; the execution name is the run id')
    .argument('<flow-file|name>', 'the flow file, the flow name or the state machine name')
    .option('--param <name=value>', 'set a flow parameter for this execution (repeatable; or --<name> <value> after the flow file; needs the flow file)', collect)
    .option('--json', 'print the execution (ARN, run id, start) as JSON')
    .addHelpText('after', '\nExit codes: 0 started, 1 an AWS call failed, 2 bad input (nothing started).');
  acceptParameterFlags(cmd);
  addSfnOptions(cmd).action(async (targetArg: string, tokens: string[], flags: TriggerFlags) => {
    const target = flowFileArgument(targetArg);
    await withSfn(flags, context, async ({ ctx }) => {
      const { triggerExecution } = require('../../../sfn/trigger') as typeof import('../../../sfn/trigger');
      const { name, flow } = resolveTarget(target, ctx.settings);
      const flagged = flow ? parameterFlagItems(tokens, flow.graph.flow, cmd) : { items: tokens, problems: [] };
      if (flagged.problems.length) throw new UserInputError(flagged.problems.join('\nmetaflow-cdk: '));
      const given = [...(flags.param ?? []), ...flagged.items];
      if (!flow && given.length) {
        throw new UserInputError(`--param needs the flow file to check the values against: metaflow-cdk sfn trigger <flow-file> --param … (got the name ${describeValue(target)})`);
      }
      // The compiled state machine merges the input's `Parameters` over its compiled values.
      const values = flow ? givenParametersOrThrow(flow.graph, given) : {};
      if (flow) {
        // A parameter without a value in the deployed machine and none given would stop the execution at once.
        const { requireStateMachine } = require('../../../sfn/context') as typeof import('../../../sfn/context');
        const { deployedParameterValues } = require('../../../sfn/compiler/parameter-states') as typeof import('../../../sfn/compiler/parameter-states');
        const deployed = deployedParameterValues((await requireStateMachine(ctx, name)).definition);
        const missing = Object.keys(flow.graph.flow.parameters ?? {}).filter((p) => !Object.hasOwn(values, p) && deployed !== undefined && !Object.hasOwn(deployed, p));
        if (missing.length) {
          const list = missing.map((p) => `"${p}"`).join(', ');
          throw new UserInputError(
            `flow "${flow.graph.flow.name}": ${missing.length === 1 ? 'parameter' : 'parameters'} ${list} ${missing.length === 1 ? 'has' : 'have'} no value in ${name} (no default, none given to sfn deploy --param): pass --param ${missing[0]}=<value>`,
          );
        }
      }
      const input = Object.keys(values).length ? { Parameters: values } : {};
      const started = await triggerExecution(ctx, name, input);
      if (flags.json) {
        context.stdout.write(`${JSON.stringify({ stateMachine: name, ...started }, null, 2)}\n`);
      } else {
        context.stdout.write(`started run ${started.runId} of ${name}\n  execution ${started.executionArn}\n`);
      }
    });
    context.setExitCode(0);
  });
  return cmd;
}

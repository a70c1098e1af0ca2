import { Command } from 'commander';
import { formatTable } from '../../../progress/table';
import { addSfnOptions, SfnFlags, withSfn } from '../../sfn-support';
import type { CommandContext } from '../index';

interface ListFlags extends SfnFlags {
  readonly json?: boolean;
}

/** `metaflow-cdk sfn list`: the deployment's state machines (`<prefix>_*`) with their latest run. */
export function sfnListCommand(context: CommandContext): Command {
  const cmd = new Command('list')
    .description('list the deployed state machines (<prefix>_*) with their latest run')
    .option('--json', 'print the list as JSON');
  addSfnOptions(cmd).action(async (flags: ListFlags) => {
    await withSfn(flags, context, async ({ ctx }) => {
      const { listStateMachines } = require('../../../sfn/listing') as typeof import('../../../sfn/listing');
      const machines = await listStateMachines(ctx);
      if (flags.json) {
        context.stdout.write(`${JSON.stringify(machines, null, 2)}\n`);
      } else if (machines.length === 0) {
        context.stderr.write(`metaflow-cdk: no state machines named ${ctx.settings.prefix}_* (deploy one with \`metaflow-cdk sfn deploy <flow-file>\`)\n`);
      } else {
        const rows: string[][] = [['state machine', 'created', 'latest run', 'status', 'started']];
        for (const m of machines) {
          rows.push([m.name, m.creationDate?.toISOString() ?? '-', m.latest?.runId ?? '-', m.latest?.status ?? '-', m.latest?.startDate?.toISOString() ?? '-']);
        }
        context.stdout.write(`${formatTable(rows)}\n`);
      }
    });
    context.setExitCode(0);
  });
  return cmd;
}

import { Command } from 'commander';
import { collect, InputProblems, parseWith, prepareFlow } from '../../run-support';
import { addCompileOptions, CompileFlags, compileOptionsOf, flowCodePackageUrl, givenParametersOrThrow, metadataTargetOf } from '../../sfn-support';
import type { CommandContext } from '../index';

interface SfnCompileFlags extends CompileFlags {
  fargateQueue?: string[];
  fairShareQueue?: string[];
  partition?: string;
  jobDefinitions?: boolean;
}

/**
 * `metaflow-cdk sfn compile <flow-file>`: print the state machine definition (JSON) the flow
 * compiles to, without any AWS call. Queues, roles and the datastore root come from the Metaflow
 * config like `run --compute batch`, or from the flags; a queue is EC2 unless named with
 * `--fargate-queue` and FIFO unless named with `--fair-share-queue` or a team profile's team queue
 * (compile looks nothing up).
 */
/** `metaflow-cdk sfn compile`. */
export function sfnCompileCommand(context: CommandContext): Command {
  const cmd = new Command('compile')
    .description('print the AWS Step Functions definition of a flow (no AWS calls)')
    .argument('<flow-file>', 'the flow file')
    .option('--fargate-queue <name>', 'a queue whose compute environments are Fargate (repeatable; others are EC2)', collect)
    .option('--fair-share-queue <name>', "a queue with a fair-share scheduling policy: its jobs carry the team's share (repeatable; others are FIFO, except a team profile's team queues)", collect)
    .option('--partition <name>', 'AWS partition of the ARNs in the definition', 'aws')
    .option('--job-definitions', 'print {"definition": …, "jobDefinitions": […]} (the RegisterJobDefinition inputs too)')
    .addHelpText('after', '\nExit codes: 0 printed, 2 bad input (flow, flag or config).');
  addCompileOptions(cmd, 'compile a parameter value in (the execution input still wins; repeatable)').action(async (file: string, flags: SfnCompileFlags) => {
    // Loaded only here: the CLI's start-up stays free of the compiler and the SDK types it names.
    const { batchSettings } = require('../../../batch/settings') as typeof import('../../../batch/settings');
    const { readMetaflowConfig } = require('../../../config/metaflow-config') as typeof import('../../../config/metaflow-config');
    const { compileFlow } = require('../../../sfn/compiler') as typeof import('../../../sfn/compiler');
    const problems = new InputProblems();
    const prepared = problems.check(() => prepareFlow(file));
    if (prepared) problems.check(() => givenParametersOrThrow(prepared.graph, flags.param ?? []));
    problems.check(() => parseWith(flags.with ?? []));
    const config = readMetaflowConfig(context.env);
    const settings = problems.check(() => batchSettings(config, flags));
    const metadata = problems.check(() => metadataTargetOf(config, context.env));
    problems.throwIfAny();
    const fargate = new Set(flags.fargateQueue ?? []);
    const fairShare = new Set([...(flags.fairShareQueue ?? []), ...(settings!.fairShareQueues ?? [])]);
    const queues = { platformOf: (queue: string) => (fargate.has(queue) ? 'FARGATE' as const : 'EC2' as const), fairShare: (queue: string) => fairShare.has(queue) };
    const codeUrl = await flowCodePackageUrl(prepared!.graph, prepared!.file, settings!.datastoreRoot, context, { store: false });
    const compiled = compileFlow(prepared!.graph, compileOptionsOf(settings!, flags, queues, flags.partition ?? 'aws', codeUrl, metadata));
    const out = flags.jobDefinitions ? { definition: compiled.definition, jobDefinitions: compiled.jobDefinitions } : compiled.definition;
    context.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    context.setExitCode(0);
  });
  return cmd;
}

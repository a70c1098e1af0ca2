import { Command } from 'commander';
import { describeValue } from '../../../../lib/describe-value';
import { UserInputError } from '../../../errors';
import { InputProblems, prepareFlow } from '../../run-support';
import type { CommandRegistrar } from '../index';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface CompileFlags {
  param?: string[];
  queue?: string;
  gpuQueue?: string;
  fargateQueue?: string[];
  jobRole?: string;
  executionRole?: string;
  datastoreRoot?: string;
  partition?: string;
  helperImage?: string;
  jobDefinitions?: boolean;
}

/** `--param name=value` strings → a map; a bad form or a name given twice is one line. */
export function paramFlags(given: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of given) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserInputError(`--param ${describeValue(item)}: expected name=value`);
    const name = item.slice(0, eq);
    if (Object.hasOwn(out, name)) throw new UserInputError(`--param ${name} is given twice: give it once`);
    out[name] = item.slice(eq + 1);
  }
  return out;
}

/**
 * `metaflow-cdk sfn compile <flow-file>`: print the state machine definition (JSON) the flow
 * compiles to, without any AWS call. Queues, roles and the datastore root come from the Metaflow
 * config like `run --compute batch`, or from the flags; a queue is EC2 unless named with
 * `--fargate-queue` (compile looks nothing up).
 */
export const registerSfnCompile: CommandRegistrar = (program, context) => {
  const cmd = new Command('compile')
    .description('print the AWS Step Functions definition of a flow (no AWS calls)')
    .argument('<flow-file>', 'the flow file')
    .option('--param <name=value>', 'compile a parameter value in (the execution input still wins; repeatable)', collect)
    .option('--queue <name>', 'Batch job queue (default: METAFLOW_BATCH_JOB_QUEUE)')
    .option('--gpu-queue <name>', 'job queue of GPU steps (default: METAFLOW_BATCH_JOB_QUEUE_GPU, else --queue)')
    .option('--fargate-queue <name>', 'a queue whose compute environments are Fargate (repeatable; others are EC2)', collect)
    .option('--job-role <arn>', 'role of the containers (default: METAFLOW_ECS_S3_ACCESS_IAM_ROLE)')
    .option('--execution-role <arn>', 'Fargate execution role (default: METAFLOW_ECS_FARGATE_EXECUTION_ROLE)')
    .option('--datastore-root <s3-url>', 'S3 datastore root (default: METAFLOW_DATASTORE_SYSROOT_S3)')
    .option('--partition <name>', 'AWS partition of the ARNs in the definition', 'aws')
    .option('--helper-image <image>', 'image of the output-passing helper containers')
    .option('--job-definitions', 'print {"definition": …, "jobDefinitions": […]} (the RegisterJobDefinition inputs too)')
    .addHelpText('after', '\nExit codes: 0 printed, 2 bad input (flow, flag or config).');
  cmd.action((file: string, flags: CompileFlags) => {
    // Loaded only here: the CLI's start-up stays free of the compiler and the SDK types it names.
    const { batchSettings } = require('../../../batch/settings') as typeof import('../../../batch/settings');
    const { readMetaflowConfig } = require('../../../config/metaflow-config') as typeof import('../../../config/metaflow-config');
    const { compileFlow } = require('../../../sfn/compiler') as typeof import('../../../sfn/compiler');
    const problems = new InputProblems();
    const params = problems.check(() => paramFlags(flags.param ?? []));
    const prepared = problems.check(() => prepareFlow(file));
    const settings = problems.check(() => batchSettings(readMetaflowConfig(context.env), flags));
    problems.throwIfAny();
    const fargate = new Set(flags.fargateQueue ?? []);
    const compiled = compileFlow(prepared!.graph, {
      queue: settings!.queue,
      gpuQueue: settings!.gpuQueue,
      platformOf: (queue) => (fargate.has(queue) ? 'FARGATE' : 'EC2'),
      jobRoleArn: settings!.jobRoleArn,
      executionRoleArn: settings!.executionRoleArn,
      datastoreRoot: settings!.datastoreRoot.url,
      partition: flags.partition,
      params: params!,
      helperImage: flags.helperImage,
    });
    const out = flags.jobDefinitions ? { definition: compiled.definition, jobDefinitions: compiled.jobDefinitions } : compiled.definition;
    context.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    context.setExitCode(0);
  });
  program.addCommand(cmd);
};

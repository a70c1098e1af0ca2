import { userInfo } from 'node:os';
import { Command } from 'commander';
import type { BatchSettings } from '../../../batch/settings';
import type { QueueInspector } from '../../../batch/queues';
import type { FlowGraph } from '../../../flow/validate';
import type { QueuePlatform } from '../../../sfn/compiler/types';
import { UserInputError } from '../../../errors';
import { InputProblems, parseWith, prepareFlow } from '../../run-support';
import { addCompileOptions, addSfnOptions, CompileFlags, compileOptionsOf, CompileQueues, flowCodePackageUrl, givenParametersOrThrow, metadataTargetOf, SfnFlags, withSfn } from '../../sfn-support';
import { fairShareWithoutTeamProblem } from '../../../../core/teams';
import type { CommandContext } from '../index';
import type { FlowTrigger } from '../../../flow/model';
import type { SfnSettings } from '../../../sfn/settings';

interface DeployFlags extends SfnFlags, CompileFlags {
  readonly executionData?: boolean;
  readonly trigger?: string[];
  readonly eventsRole?: string;
}

/** Who deploys: the OS user (tag `metaflow.deployed-by`). */
function deployedBy(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER || env.USERNAME || 'unknown';
  }
}

/**
 * The platform of every queue the flow's steps use (each step's own queue, else the GPU queue for
 * GPU steps, else the default) and whether it has a fair-share scheduling policy, each looked up
 * once; a queue that cannot take jobs is one line, and so are fair-share queues without a team
 * (before anything is uploaded, registered or deployed).
 */
async function inspectQueues(graph: FlowGraph, settings: BatchSettings, queues: QueueInspector): Promise<CompileQueues> {
  const { effectivePolicies } = require('../../../policy') as typeof import('../../../policy');
  const { queueForStep } = require('../../../batch/settings') as typeof import('../../../batch/settings');
  const stepsOf = new Map<string, string[]>();
  for (const [name, step] of graph.steps) {
    const gpu = effectivePolicies(step, { flowDefaults: graph.flow.defaults }).resources.gpu;
    const queue = queueForStep(settings, { queue: step.batch?.queue, gpu });
    stepsOf.set(queue, [...(stepsOf.get(queue) ?? []), name]);
  }
  const infos = await Promise.all([...stepsOf.keys()].map((q) => queues.inspect(q)));
  const problems = infos.filter((i) => i.problem).map((i) => `${i.problem} (used by step${stepsOf.get(i.queue)!.length > 1 ? 's' : ''} ${stepsOf.get(i.queue)!.join(', ')})`);
  if (problems.length) throw new UserInputError(problems.join('\nmetaflow-cdk: '));
  const fairShare = new Set(infos.filter((i) => i.schedulingPolicyArn !== undefined).map((i) => i.queue));
  if (fairShare.size > 0 && (settings.team ?? graph.flow.team) === undefined) throw new UserInputError(fairShareWithoutTeamProblem([...fairShare]));
  const platforms = new Map<string, QueuePlatform>(infos.map((i) => [i.queue, i.platform ?? 'EC2']));
  return { platformOf: (queue) => platforms.get(queue) ?? 'EC2', fairShare: (queue) => fairShare.has(queue) };
}

/**
 * The flow's own triggers and `--trigger`'s, checked without AWS: each one's shape and parameter
 * mapping, no parameter left without a value, no S3 prefix inside the datastore root, and the
 * events role they need.
 */
function checkedTriggers(graph: FlowGraph, flags: DeployFlags, datastore: { bucket: string; prefix: string }, settings: SfnSettings): FlowTrigger[] {
  const t = require('../../../sfn/triggers') as typeof import('../../../sfn/triggers');
  const { MAX_TRIGGERS, RUN_STATUS_RECORDER_FLOW_NAME } = require('../../../sfn/run-status-rule') as typeof import('../../../sfn/run-status-rule');
  const flow = graph.flow;
  if (flow.name === RUN_STATUS_RECORDER_FLOW_NAME) throw new UserInputError(`flow name "${flow.name}" is reserved: the run status recorder's state machine is <prefix>_${RUN_STATUS_RECORDER_FLOW_NAME}`);
  const given = (flags.trigger ?? []).map((text) => ({ where: `--trigger ${JSON.stringify(text)}`, trigger: t.parseTriggerFlag(text) }));
  const all = [...(flow.triggers ?? []).map((trigger, i) => ({ where: `flow triggers[${i}]`, trigger })), ...given];
  if (all.length > MAX_TRIGGERS) throw new UserInputError(`flow ${flow.name} has ${all.length} triggers; at most ${MAX_TRIGGERS}`);
  const valued = new Set((flags.param ?? []).map((p) => p.split('=')[0]));
  const problems = all.flatMap(({ where, trigger }) => {
    const own = given.some((g) => g.trigger === trigger) ? t.triggerProblems(where, trigger, flow) : [];
    if (own.length) return own;
    const loop = t.datastoreLoopProblem(where, trigger, datastore);
    return [...(loop ? [loop] : []), ...t.unsetParameterProblems(where, trigger, flow, valued)];
  });
  if (problems.length) throw new UserInputError(problems.join('\nmetaflow-cdk: '));
  if (all.length > 0) void settings.eventsRoleArn; // every trigger rule's target needs it: a missing key is one line now
  return all.map(({ trigger }) => trigger);
}

/** `metaflow-cdk sfn deploy <flow-file>`: compile the flow, register its job definitions, create or update its state machine. */
export function sfnDeployCommand(context: CommandContext): Command {
  const cmd = new Command('deploy')
    .description('compile a flow, register its AWS Batch job definitions and create or update its state machine <prefix>_<flow> (idempotent)')
    .argument('<flow-file>', 'the flow file')
    .option('--log-group-arn <arn>', 'log executions to this CloudWatch Logs group (default: METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN; none: logging off)')
    .option('--no-execution-data', "keep execution input, output and state (the flow's parameters included) out of the execution log")
    .option('--trigger <source>', 'start the flow on events, besides the flow\'s own triggers: s3://<bucket>/<prefix>, flow:<FlowName> or event:<source>[/<detail type>], then ,<parameter>=<field> for each mapped parameter (repeatable)', (v: string, all: string[] = []) => [...all, v])
    .option('--events-role <arn>', 'the role EventBridge starts the flow (and the run status recorder) with (default: METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE)')
    .addHelpText('after', '\nExit codes: 0 deployed, 1 an AWS call failed, 2 bad input (nothing deployed).');
  addSfnOptions(addCompileOptions(cmd, "set a parameter's value in the deployed state machine, replacing the flow's default (repeatable)")).action(async (file: string, flags: DeployFlags) => {
    await withSfn(flags, context, async ({ ctx, config, clients }) => {
      const { batchSettings } = require('../../../batch/settings') as typeof import('../../../batch/settings');
      const { QueueInspector } = require('../../../batch/queues') as typeof import('../../../batch/queues');
      const { JobDefinitionRegistry } = require('../../../batch/job-definitions') as typeof import('../../../batch/job-definitions');
      const { deployStateMachine, serializeDefinition } = require('../../../sfn/deploy') as typeof import('../../../sfn/deploy');
      const { flowStateMachineName, parseRoleArn } = require('../../../sfn/names') as typeof import('../../../sfn/names');
      // Everything that can be checked without AWS, all problems at once.
      const problems = new InputProblems();
      const prepared = problems.check(() => prepareFlow(file));
      const prefix = problems.check(() => ctx.settings.prefix);
      const name = prepared && prefix && problems.check(() => flowStateMachineName(prefix, prepared.graph.flow.name));
      const role = problems.check(() => parseRoleArn('SFN_IAM_ROLE', ctx.settings.roleArn));
      problems.check(() => ctx.settings.logGroupArn);
      if (prepared) problems.check(() => givenParametersOrThrow(prepared.graph, flags.param ?? []));
      problems.check(() => parseWith(flags.with ?? []));
      const batch = problems.check(() => batchSettings(config, flags));
      const metadata = problems.check(() => metadataTargetOf(config, context.env));
      const triggers = prepared && batch && problems.check(() => checkedTriggers(prepared.graph, flags, batch.datastoreRoot, ctx.settings));
      problems.throwIfAny();
      const graph = prepared!.graph;
      const { triggerRule } = require('../../../sfn/triggers') as typeof import('../../../sfn/triggers');
      const { checkEventBridgeDelivery, deployEventRules } = require('../../../sfn/event-rules') as typeof import('../../../sfn/event-rules');
      const { sfnLocation } = require('../../../sfn/context') as typeof import('../../../sfn/context');
      const { stateMachineArn } = require('../../../sfn/names') as typeof import('../../../sfn/names');
      const location = triggers!.length ? await sfnLocation(ctx) : undefined;
      const rules = triggers!.map((trigger) => triggerRule(trigger, graph.flow, { stateMachineArnOf: (other) => stateMachineArn(location!, flowStateMachineName(prefix!, other)) }));
      // A bucket that does not send events to EventBridge is refused before anything changes.
      for (const rule of rules) {
        if (!rule.s3) continue;
        const warning = await checkEventBridgeDelivery(clients.s3, rule.s3.bucket, `trigger s3://${rule.s3.bucket}/${rule.s3.prefix}`);
        if (warning) context.stderr.write(`metaflow-cdk: warning: ${warning}\n`);
      }

      const queues = await inspectQueues(graph, batch!, new QueueInspector(clients.batch));
      const { compileFlow } = require('../../../sfn/compiler') as typeof import('../../../sfn/compiler');
      // the code first: a deployed machine's jobs download it whenever they run (and a bad package stops the deploy)
      const codeUrl = await flowCodePackageUrl(graph, prepared!.file, batch!.datastoreRoot, context, { store: true, region: batch!.region });
      const compiled = compileFlow(graph, compileOptionsOf(batch!, flags, queues, role!.partition, codeUrl, metadata));
      serializeDefinition(name!, compiled.definition); // its size is checked before anything is registered
      const registry = new JobDefinitionRegistry(clients.batch);
      await Promise.all(compiled.jobDefinitions.map((definition) => registry.ensure(definition)));
      context.stdout.write(`job definitions: ${compiled.jobDefinitions.length} ACTIVE (registered where new)\n`);
      const result = await deployStateMachine(ctx, name!, compiled.definition, {
        flow: graph.flow.name,
        deployedBy: deployedBy(context.env),
        includeExecutionData: flags.executionData !== false,
      });
      context.stdout.write(`${result.created ? 'created' : 'updated'} state machine ${name}: ${result.stateMachineArn}\n`);
      await deployEventRules(ctx, name!, graph.flow.name, rules, {
        datastore: batch!.datastoreRoot,
        deployedBy: deployedBy(context.env),
        statusRule: !!(flags.eventsRole || config.profile.EVENTS_SFN_ACCESS_IAM_ROLE),
        includeExecutionData: flags.executionData !== false,
        out: context.stdout,
      });
    });
    context.setExitCode(0);
  });
  return cmd;
}

/**
 * One step's `batch:submitJob.sync` Task state: job definition, queue, static job name, tags,
 * and the ContainerOverrides carrying the task contract (runner/contract) and the task runtime's
 * I/O environment (runner/batch/job-shape.ts), with run-time values as tokens (dynamic-text.ts)
 * turned into `States.Format` expressions.
 */
import { ARRAY_INDEX_OFFSET_ENV, ECS_OVERRIDES_BUDGET, ecsOverrideChars, EcsOverridesTooLargeError, effectiveContainer, FOREACH_ITEMS_FILE_ENV, heaviest, JOIN_INPUT_COUNT_ENV, JOIN_INPUT_PREFIX_ENV, TASK_ID_PREFIX_ENV } from '../../batch/job-shape';
import { batchEnvironment } from '../../policy/batch';
import { contractKeys, NO_CAUGHT, TASK_ID_PLACEHOLDER, templateEnvironment } from '../../contract';
import { parameterEnvName, parameterType, textParametersEnv } from '../../flow/parameters';
import { boundedBatchName, jobNameLead, METAFLOW_TAG_KEYS } from '../../policy';
import { UserInputError } from '../../errors';
import type { Compilation } from './compilation';
import { dynamic, toAsl, worstCase } from './dynamic-text';
import { containerOverrides, metadataEnvironment, MIRROR_ROOT, taskIoEnvironment } from './io-env';
import { caughtReads, inTaskEnvironment, retriesInTask } from './in-task';
import { taskRetry } from './retry';
import { CTX, ESTIMATE, JOINED, member, RETRY_COUNT, RUN_ID } from './state-shape';

/**
 * Where a state runs: at the top (task id `0`), over a chunk of a foreach's children (an array
 * job), or for one child (a plain job) — `split` names the innermost foreach's split step.
 */
export type Position = { readonly kind: 'top' } | { readonly kind: 'array' | 'child'; readonly split: string };

export const TOP: Position = { kind: 'top' };

/** The task id as the container sees it: `0` at the top, else the placeholder the helpers fill. */
function ownTaskId(pos: Position): string {
  return pos.kind === 'top' ? '0' : TASK_ID_PLACEHOLDER;
}

/** The task id of the current child as ASL computes it (child positions). */
export const CHILD_TASK_ID = `${CTX.prefix}${CTX.offset}`;

/** A task path (relative to the datastore root) with the run id as a token. */
export function taskKey(c: Compilation, step: string, taskId: string): string {
  return `${c.flow}/${RUN_ID}/${step}/${taskId}`;
}

/** Key of a foreach's items as the JSON array the compiled machine writes. */
export function itemsJsonKey(c: Compilation, split: string, splitTaskId: string): string {
  return `${taskKey(c, split, splitTaskId)}/foreach-items.json`;
}

/**
 * The input tasks of a step that is not a foreach join (step and task id, with tokens): the first
 * step of a foreach body reads the split task; every other step its parents with its own task id.
 */
export function inputTasks(c: Compilation, step: string, pos: Position): { step: string; taskId: string }[] {
  const own = ownTaskId(pos);
  return (c.graph.inputs.get(step) ?? []).map((parent) => ({
    step: parent,
    taskId: c.graph.kind.get(parent) === 'foreach' && pos.kind !== 'top' && parent === pos.split ? CTX.split : own,
  }));
}

function parameterEnv(c: Compilation, values: Readonly<Record<string, unknown>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, spec] of Object.entries(c.graph.flow.parameters ?? {})) {
    const known = Object.hasOwn(values, name) ? JSON.stringify(values[name]).length : ESTIMATE.parameter;
    const type = parameterType(spec);
    // A json parameter is read from its rendering (`$.ptext`, state-shape.ts): a string value as it is, like the runner.
    env[parameterEnvName(name)] =
      type === 'json' ? dynamic(`${member('$.ptext', name)}.v`, 's', known) : dynamic(member('$.params', name), type === 'string' ? 's' : 'j', known);
  }
  return { ...env, ...textParametersEnv(c.graph.flow) };
}

/** MF_CAUGHT / MF_CATCH_<var>: the runtime reads them from the catch steps' records (in-task.ts). */
function caughtEnv(c: Compilation, step: string): Record<string, string> {
  const read = caughtReads(c, step);
  return read.length ? { MF_CAUGHT_READ: JSON.stringify(read) } : {};
}

/**
 * The SubmitJob task of `step` at `pos`; `array` makes it an array job of `$.ctx.size` children.
 * `noInputs`: a foreach join reached from its caught split (no children: nothing to fetch, an
 * empty input list).
 */
export function submitJobState(
  c: Compilation,
  step: string,
  pos: Position,
  variant: 'plain' | 'array',
  paramValues: Readonly<Record<string, unknown>>,
  noInputs = false,
): Record<string, unknown> {
  const spec = c.graph.steps.get(step)!;
  const plan = c.plan(step);
  const own = ownTaskId(pos);
  const outputKey = `${taskKey(c, step, own)}/attempt-${RETRY_COUNT}`;
  const split = c.graph.closes.get(step);
  const fetchKeys: string[] = [];
  const fetchChildren: string[] = [];
  const main: Record<string, string> = {
    ...templateEnvironment({
      flow: c.flow,
      runId: RUN_ID,
      step,
      datastoreRoot: MIRROR_ROOT,
      userEnv: { ...c.graph.flow.env, ...spec.env },
      parameterEnv: parameterEnv(c, paramValues),
      caught: NO_CAUGHT,
    }),
    ...caughtEnv(c, step),
    ...inTaskEnvironment(c, step),
    MF_RETRY_COUNT: RETRY_COUNT,
    MF_OUTPUT_DIR: `${MIRROR_ROOT}/${outputKey}`,
  };
  if (split !== undefined && c.graph.kind.get(split) === 'foreach') {
    // A foreach join: every child of the body's last step; the runtime writes the list (JOIN_INPUT_PREFIX_ENV).
    const last = c.graph.inputs.get(step)![0];
    if (!noInputs) fetchChildren.push(`${c.flow}/${RUN_ID}/${last}/`);
    main.MF_INPUT_PATHS_FILE = `${taskKey(c, step, own)}/input-paths.txt`;
    main[JOIN_INPUT_PREFIX_ENV] = `${c.flow}/${RUN_ID}/${last}/${JOINED.prefix}`;
    main[JOIN_INPUT_COUNT_ENV] = JOINED.count;
  } else {
    const inputs = inputTasks(c, step, pos);
    fetchKeys.push(...inputs.map((t) => `${taskKey(c, t.step, t.taskId)}/`));
    main.MF_INPUT_PATHS = inputs.map((t) => taskKey(c, t.step, t.taskId)).join(',');
  }
  const foreachJoin = main.MF_INPUT_PATHS_FILE !== undefined;
  const helper = taskIoEnvironment({
    datastoreUrl: c.datastore.url,
    fetchKeys,
    fetchChildren,
    waitKeys: [],
    outputKey,
    commitKey: taskKey(c, step, own),
    // status.json lists the inputs like the runner's record: a foreach join's from the list its prelude wrote.
    commitInputs: foreachJoin ? undefined : inputTasks(c, step, pos).map((t) => `${t.step}/${t.taskId}`),
    commitInputsFile: foreachJoin ? main.MF_INPUT_PATHS_FILE : undefined,
    foreachItemsJson: pos.kind === 'top' ? undefined : itemsJsonKey(c, pos.split, CTX.split),
  }, c.code);
  if (pos.kind === 'top') main.MF_TASK_ID = '0';
  else {
    const index = {
      [TASK_ID_PREFIX_ENV]: CTX.prefix,
      [ARRAY_INDEX_OFFSET_ENV]: CTX.offset,
      [FOREACH_ITEMS_FILE_ENV]: contractKeys.foreachItems({ flow: c.flow, runId: RUN_ID, step: pos.split, taskId: CTX.split }),
    };
    Object.assign(main, index, { MF_FOREACH_COUNT: CTX.count });
  }
  // MF_DATASTORE_ROOT and MF_OUTPUT_DIR are the runtime's to set in the container (the mirror)
  const { MF_DATASTORE_ROOT: _root, MF_OUTPUT_DIR: _out, ...contract } = main;
  const env = { ...contract, ...helper, ...metadataEnvironment(c.options.metadata) };
  const definition = c.jobDefinitions.get(plan.jobDefinition)!;
  const worst = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, worstCase(v)]));
  const size = ecsOverrideChars(definition, { environment: batchEnvironment(worst) });
  if (size > ECS_OVERRIDES_BUDGET) {
    const { command } = effectiveContainer(definition);
    throw new UserInputError(new EcsOverridesTooLargeError(`step "${step}" on Step Functions (estimated at its longest)`, size, heaviest(command, worst)).message);
  }
  const tags = {
    ...spec.batch?.tags,
    [METAFLOW_TAG_KEYS.flow]: c.flow,
    [METAFLOW_TAG_KEYS.run]: RUN_ID,
    [METAFLOW_TAG_KEYS.step]: step,
    [METAFLOW_TAG_KEYS.task]: pos.kind === 'top' ? '0' : variant === 'array' ? `${CHILD_TASK_ID}_${CTX.last}` : CHILD_TASK_ID,
    [METAFLOW_TAG_KEYS.attempt]: RETRY_COUNT,
    ...(c.team !== undefined ? { [METAFLOW_TAG_KEYS.team]: c.team } : {}),
  };
  const parameters = toAsl({
    JobName: boundedBatchName([jobNameLead(c.flow), step]),
    JobQueue: plan.queue,
    JobDefinition: plan.jobDefinition,
    Tags: tags,
    PropagateTags: true,
    // On a fair-share queue (Compilation): Step Functions passes these to SubmitJob as they are.
    ...(plan.share ? { ShareIdentifier: plan.share.identifier, SchedulingPriorityOverride: plan.share.priority } : {}),
    ContainerOverrides: containerOverrides(env),
  }) as Record<string, unknown>;
  if (variant === 'array') parameters.ArrayProperties = { 'Size.$': '$.ctx.size' };
  return {
    Type: 'Task',
    Resource: c.resource('batch:submitJob.sync'),
    Parameters: parameters,
    ResultPath: null,
    // Inside a foreach body the runtime retries each child (in-task.ts): no ASL retry of the whole array.
    Retry: taskRetry(retriesInTask(c, step) ? { retries: 0, retryDelayMs: 0 } : plan.policies),
  };
}

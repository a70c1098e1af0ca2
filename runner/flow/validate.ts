import { isAbsolute } from 'node:path';
import { describeValue } from '../../core/describe-value';
import {
  ENV_NAME_PATTERN,
  FLOW_NAME_MAX_LENGTH,
  FLOW_NAME_PATTERN,
  MAX_RETRY_DELAY_MINUTES,
  MAX_TIMEOUT_SECONDS,
  RESERVED_ENV_PREFIX,
  STEP_NAME_MAX_LENGTH,
} from '../limits';
import { effectivePolicies, isIdentifier, POLICY_NAMES, validatePolicies } from '../policy';
import { unknownFields } from '../unknown-fields';
import type { BatchStepOptions } from '../policy/batch';
import { teamNameProblem } from '../../core/teams';
import { Flow, FlowSpec, ForeachSource, nextOf, PackageSpec, StepSpec } from './model';
import { parameterType, validateParameters } from './parameters';
import { flowTriggerProblems } from '../sfn/triggers';

/** The fields a flow may have. */
const FLOW_FIELDS: readonly (keyof FlowSpec)[] = ['name', 'image', 'env', 'parameters', 'defaults', 'steps', 'package', 'team', 'triggers'];
const PACKAGE_FIELDS: readonly (keyof PackageSpec)[] = ['root', 'include', 'exclude'];
/** The fields a step may have: its own and its policies. */
const BATCH_STEP_FIELDS: readonly (keyof BatchStepOptions)[] = ['queue', 'tags', 'swappiness', 'maxSwap', 'assignPublicIp', 'infrastructureRetries', 'schedulingPriority'];
const STEP_FIELDS: readonly (keyof StepSpec)[] = ['name', 'image', 'command', 'env', 'next', 'foreach', 'join', 'description', 'batch', ...POLICY_NAMES];
const FOREACH_SOURCES = ['items', 'output', 'param'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export type StepKind = 'linear' | 'branch' | 'foreach' | 'end';

/** A validated flow with the facts the orchestrator needs about each step. */
export interface FlowGraph {
  /** The flow it was built from. */
  readonly flow: Flow;
  /** Each step by name. */
  readonly steps: ReadonlyMap<string, StepSpec>;
  /** Each step's kind: linear, branch, foreach or end. */
  readonly kind: ReadonlyMap<string, StepKind>;
  /** Each step's parents, in flow order. */
  readonly inputs: ReadonlyMap<string, readonly string[]>;
  /** For each join step, the branch or foreach step it closes. */
  readonly closes: ReadonlyMap<string, string>;
}

/** What {@link validateFlow} returns: the graph of a valid flow, or every problem of an invalid one. */
export type ValidationResult = { ok: true; graph: FlowGraph } | { ok: false; problems: string[] };

function kindOf(step: StepSpec): StepKind {
  if (step.foreach) return 'foreach';
  const next = nextOf(step);
  if (next.length === 0) return 'end';
  return next.length > 1 ? 'branch' : 'linear';
}

function checkForeachSource(flow: FlowSpec, where: string, src: ForeachSource): string[] {
  const shape = `${where}: foreach must be one of {items: [...]}, {output: "key"} or {param: "name"}, got ${describeValue(src)}`;
  if (!isObject(src)) return [shape];
  const given = FOREACH_SOURCES.filter((k) => k in src);
  if (given.length !== 1) return given.length === 0 ? [...unknownFields(where, 'foreach field', src, FOREACH_SOURCES), shape] : [shape];
  const problems = unknownFields(where, 'foreach field', src, FOREACH_SOURCES);
  if ('items' in src) {
    if (!Array.isArray(src.items)) problems.push(`${where}: foreach.items must be an array, got ${describeValue(src.items)}`);
    else if (src.items.length === 0) problems.push(`${where}: foreach.items is empty`);
  } else if ('output' in src) {
    if (typeof src.output !== 'string' || src.output === '') problems.push(`${where}: foreach.output must name a key of the step's outputs, got ${describeValue(src.output)}`);
  } else {
    const param = src.param;
    const spec = typeof param === 'string' && flow.parameters && Object.hasOwn(flow.parameters, param) ? flow.parameters[param] : undefined;
    if (!spec || typeof spec !== 'object') problems.push(`${where}: foreach over unknown parameter ${describeValue(param)}`);
    else {
      const type = parameterType(spec);
      if (type !== 'list' && type !== 'json') problems.push(`${where}: foreach parameter "${param}" must be of type list, is ${type}`);
    }
  }
  return problems;
}

/**
 * Problems of an `env` map (the flow's or a step's): a plain object of identifier names, none in
 * the task contract's `MF_` namespace, with string values.
 */
function checkEnv(where: string, env: unknown): string[] {
  if (env === undefined) return [];
  if (!isObject(env)) return [`${where}: env must be an object of NAME: "value" strings, got ${describeValue(env)}`];
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME_PATTERN.test(name)) problems.push(`${where}: env name ${describeValue(name)} must be letters, digits and _, not starting with a digit`);
    else if (name.toUpperCase().startsWith(RESERVED_ENV_PREFIX)) {
      problems.push(`${where}: env name ${describeValue(name)} is reserved: names starting with ${RESERVED_ENV_PREFIX} belong to the task contract (MF_FLOW, MF_PARAM_*, …)`);
    }
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (write it as a string: ${describeValue(String(value))})` : '';
      problems.push(`${where}: env.${name} must be a string, got ${describeValue(value)}${hint}`);
    }
  }
  return problems;
}

/** Problems of the flow's `package` field: its fields, a relative root, lists of non-empty pattern strings. */
function checkPackage(spec: unknown): string[] {
  if (spec === undefined) return [];
  if (!isObject(spec)) return [`flow package must be an object {root, include, exclude}, got ${describeValue(spec)}`];
  const problems = unknownFields('flow package', 'field', spec, PACKAGE_FIELDS);
  const { root } = spec;
  if (root !== undefined && (typeof root !== 'string' || root.trim() === '')) problems.push(`flow package.root must be a folder relative to the flow file, got ${describeValue(root)}`);
  else if (typeof root === 'string' && isAbsolute(root)) problems.push(`flow package.root must be relative to the flow file (a flow runs on other machines too), got ${describeValue(root)}`);
  for (const field of ['include', 'exclude'] as const) {
    const list = spec[field];
    if (list === undefined) continue;
    if (!Array.isArray(list)) problems.push(`flow package.${field} must be a list of gitignore-style patterns, got ${describeValue(list)}`);
    else {
      list.forEach((p: unknown, i) => {
        if (typeof p !== 'string' || p.trim() === '' || p.trim().startsWith('#')) problems.push(`flow package.${field}[${i}] must be a gitignore-style pattern, got ${describeValue(p)}`);
      });
    }
  }
  return problems;
}

/** Problems of one step taken alone: fields, name, command, edges shape, env, policies. */
function checkStep(flow: FlowSpec, step: StepSpec, defaultsValid: boolean): string[] {
  const problems: string[] = [];
  const where = `step ${describeValue(step.name)}`;
  problems.push(...unknownFields(where, 'field', step, STEP_FIELDS));
  if (step.batch !== undefined) {
    if (typeof step.batch !== 'object' || step.batch === null || Array.isArray(step.batch)) problems.push(`${where}: batch must be an object, got ${describeValue(step.batch)}`);
    else problems.push(...unknownFields(`${where} batch`, 'field', step.batch, BATCH_STEP_FIELDS));
  }
  if (!isIdentifier(step.name)) problems.push(`${where}: the name must be a valid identifier`);
  else if (step.name.length > STEP_NAME_MAX_LENGTH) {
    problems.push(`${where}: the name is ${step.name.length} characters long, at most ${STEP_NAME_MAX_LENGTH} fit every layer (Batch job names, Step Functions state names)`);
  }
  if (!Array.isArray(step.command) || step.command.length === 0 || !step.command.every((a) => typeof a === 'string')) {
    problems.push(`${where}: command must be a non-empty array of strings, got ${describeValue(step.command)}`);
  }
  if (step.image !== undefined && (typeof step.image !== 'string' || step.image.trim() === '')) {
    problems.push(`${where}: image must be a non-empty string, got ${describeValue(step.image)}`);
  }
  if (step.join !== undefined && typeof step.join !== 'boolean') problems.push(`${where}: join must be true or false, got ${describeValue(step.join)}`);
  if (step.description !== undefined && typeof step.description !== 'string') {
    problems.push(`${where}: description must be a string, got ${describeValue(step.description)}`);
  }
  const next = nextOf(step);
  if (step.next !== undefined && typeof step.next !== 'string' && !(Array.isArray(step.next) && step.next.every((n) => typeof n === 'string'))) {
    problems.push(`${where}: next must be a step name or a list of step names, got ${describeValue(step.next)}`);
  }
  const seen = new Set<string>();
  const twice = next.find((n) => seen.has(n) || !seen.add(n));
  if (twice !== undefined) problems.push(`${where}: next lists ${describeValue(twice)} more than once`);
  if (step.name === 'end' && next.length > 0) problems.push(`step "end" must not have next steps, has ${describeValue(step.next)}`);
  if (step.name !== 'end' && next.length === 0) problems.push(`${where} has no next step (only "end" may end the flow)`);
  if (step.foreach !== undefined) {
    if (next.length !== 1) problems.push(`${where}: a foreach needs exactly one next step, has ${describeValue(step.next ?? [])}`);
    problems.push(...checkForeachSource(flow, where, step.foreach));
  }
  if (step.join && step.name === 'start') problems.push(`step "start" cannot be a join`);
  problems.push(...checkEnv(where, step.env));
  const own = validatePolicies(where, step);
  problems.push(...own);
  if (own.length === 0 && defaultsValid) problems.push(...checkEffectiveTimers(flow, where, step));
  return problems;
}

/**
 * The timers a step really gets, after the flow's defaults are merged in (however
 * effectivePolicies merges them), must fit the caps too: each part may be fine alone while the
 * merged timeout is not.
 */
function checkEffectiveTimers(flow: FlowSpec, where: string, step: StepSpec): string[] {
  const effective = effectivePolicies(step, { flowDefaults: flow.defaults });
  const problems: string[] = [];
  if (effective.timeoutSeconds !== undefined && effective.timeoutSeconds > MAX_TIMEOUT_SECONDS) {
    problems.push(`${where}: timeout with the flow defaults merged in is ${effective.timeoutSeconds} s, more than ${MAX_TIMEOUT_SECONDS} s (24 days)`);
  }
  if (effective.retryDelayMs > MAX_RETRY_DELAY_MINUTES * 60_000) {
    problems.push(`${where}: retry delay with the flow defaults merged in is ${effective.retryDelayMs / 60_000} minutes, more than ${MAX_RETRY_DELAY_MINUTES}`);
  }
  return problems;
}

/**
 * Step names on a cycle, found by an iterative depth-first search (a recursive one overflows the
 * stack on long flows).
 */
function findCycles(steps: ReadonlyMap<string, StepSpec>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const path: string[] = [];
  // Each frame: a step on the current path and the index of its next child to visit.
  const frames: { name: string; children: readonly string[]; i: number }[] = [];
  const enter = (name: string) => {
    state.set(name, 'open');
    path.push(name);
    frames.push({ name, children: nextOf(steps.get(name)!), i: 0 });
  };
  for (const root of steps.keys()) {
    if (state.has(root)) continue;
    enter(root);
    while (frames.length) {
      const top = frames[frames.length - 1];
      if (top.i < top.children.length) {
        const child = top.children[top.i++];
        if (!steps.has(child)) continue;
        const s = state.get(child);
        if (s === 'open') cycles.push([...path.slice(path.lastIndexOf(child)), child]);
        else if (s === undefined) enter(child);
      } else {
        frames.pop();
        path.pop();
        state.set(top.name, 'done');
      }
    }
  }
  return cycles;
}

/**
 * Check the shape of the DAG: every branch and foreach is closed by a join with the right number of
 * inputs, and nothing reaches `end` inside an open split. Needs an acyclic graph with known names.
 */
function checkStructure(
  steps: ReadonlyMap<string, StepSpec>,
  inputs: ReadonlyMap<string, readonly string[]>,
  reachable: ReadonlySet<string>,
  closes: Map<string, string>,
): string[] {
  const problems: string[] = [];
  // Topological order of the reachable steps (Kahn).
  const indegree = new Map<string, number>();
  for (const name of reachable) indegree.set(name, inputs.get(name)!.filter((p) => reachable.has(p)).length);
  const order: string[] = [];
  const ready = [...reachable].filter((n) => indegree.get(n) === 0);
  for (let head = 0; head < ready.length; head++) {
    const n = ready[head];
    order.push(n);
    for (const c of nextOf(steps.get(n)!)) {
      indegree.set(c, indegree.get(c)! - 1);
      if (indegree.get(c) === 0) ready.push(c);
    }
  }
  // The open splits (branch/foreach steps) a step runs inside, innermost last.
  const stack = new Map<string, string[]>();
  const arriving = new Map<string, string[][]>();
  stack.set('start', []);
  for (const name of order) {
    const step = steps.get(name)!;
    const ins = inputs.get(name)!.filter((p) => reachable.has(p));
    if (name !== 'start') {
      const arrivals = arriving.get(name) ?? [];
      if (step.join) {
        const opened = arrivals.map((a) => a[a.length - 1]);
        if (opened.some((s) => s === undefined)) {
          problems.push(`join step "${name}" has no matching branch or foreach`);
          stack.set(name, []);
          continue;
        }
        const splits = [...new Set(opened)];
        if (splits.length > 1) {
          problems.push(`join step "${name}" joins steps from different splits (${splits.join(', ')})`);
          stack.set(name, arrivals[0].slice(0, -1));
          continue;
        }
        const split = splits[0];
        closes.set(name, split);
        const splitStep = steps.get(split)!;
        if (splitStep.foreach && ins.length !== 1) {
          problems.push(`join step "${name}" closes the foreach at "${split}" and must have 1 input, has ${ins.length} (${ins.join(', ')})`);
        } else if (!splitStep.foreach && ins.length !== nextOf(splitStep).length) {
          problems.push(
            `join step "${name}" has ${plural(ins.length, 'input')} (${ins.join(', ')}) but the branch at "${split}" has ${nextOf(splitStep).length} (${nextOf(splitStep).join(', ')})`,
          );
        }
        stack.set(name, arrivals[0].slice(0, -1));
      } else {
        if (ins.length > 1) problems.push(`step "${name}" has ${plural(ins.length, 'input')} (${ins.join(', ')}) but is not a join (set join: true)`);
        stack.set(name, arrivals[0] ?? []);
      }
    }
    const own = stack.get(name)!;
    const kind = kindOf(step);
    const out = kind === 'branch' || kind === 'foreach' ? [...own, name] : own;
    for (const child of nextOf(step)) {
      const list = arriving.get(child) ?? [];
      list.push(out);
      arriving.set(child, list);
    }
    if (name === 'end') {
      for (const open of own) {
        problems.push(steps.get(open)!.foreach ? `the foreach at "${open}" has no join` : `the branch at "${open}" has no matching join`);
      }
    }
  }
  return problems;
}

/** Validate a flow before anything runs. Reports every problem at once, each naming its step. */
export function validateFlow(flow: Flow): ValidationResult {
  const problems: string[] = [];
  const add = (more: readonly string[]) => {
    for (const p of more) problems.push(p);
  };
  add(unknownFields('flow', 'field', flow, FLOW_FIELDS));
  if (typeof flow.name !== 'string' || !FLOW_NAME_PATTERN.test(flow.name)) {
    problems.push(`flow name ${describeValue(flow.name)} must be letters, digits, _ or - (at most ${FLOW_NAME_MAX_LENGTH})`);
  } else if (flow.name.length > FLOW_NAME_MAX_LENGTH) {
    problems.push(
      `flow name ${describeValue(flow.name)} is ${flow.name.length} characters long, at most ${FLOW_NAME_MAX_LENGTH} fit every layer (Batch job names, Step Functions state machine names)`,
    );
  }
  if (flow.team !== undefined) add([teamNameProblem('flow team', flow.team)].filter((p): p is string => p !== undefined));
  if (flow.image !== undefined && (typeof flow.image !== 'string' || flow.image.trim() === '')) {
    problems.push(`flow image must be a non-empty string, got ${describeValue(flow.image)}`);
  }
  if (!Array.isArray(flow.steps)) return { ok: false, problems: [...problems, `flow steps must be an array, got ${describeValue(flow.steps)}`] };
  add(validateParameters(flow));
  add(checkEnv('flow', flow.env));
  add(checkPackage(flow.package));
  if (flow.triggers !== undefined) add(flowTriggerProblems(flow));
  let defaultsValid = flow.defaults === undefined;
  if (flow.defaults !== undefined) {
    if (!isObject(flow.defaults)) problems.push(`flow defaults must be an object of policies (${POLICY_NAMES.join(', ')}), got ${describeValue(flow.defaults)}`);
    else {
      const before = problems.length;
      add(unknownFields('flow defaults', 'policy', flow.defaults, POLICY_NAMES));
      add(validatePolicies('flow defaults', flow.defaults));
      defaultsValid = problems.length === before;
    }
  }

  const steps = new Map<string, StepSpec>();
  for (const [i, step] of flow.steps.entries() as Iterable<[number, StepSpec]>) {
    if (!isObject(step)) {
      problems.push(`flow steps[${i}] must be a step object {name, command, next, ...}, got ${describeValue(step)}`);
      continue;
    }
    if (steps.has(step.name)) problems.push(`duplicate step name ${describeValue(step.name)}`);
    else steps.set(step.name, step);
    add(checkStep(flow, step, defaultsValid));
  }
  if (!steps.has('start')) problems.push('the flow has no "start" step');
  if (!steps.has('end')) problems.push('the flow has no "end" step');

  const inputs = new Map<string, string[]>([...steps.keys()].map((n) => [n, []]));
  let unknown = false;
  for (const step of steps.values()) {
    for (const child of nextOf(step)) {
      if (!steps.has(child)) {
        problems.push(`step "${step.name}" goes to unknown step ${describeValue(child)}`);
        unknown = true;
      } else inputs.get(child)!.push(step.name);
    }
  }
  if (steps.has('start') && inputs.get('start')!.length) {
    problems.push(`step "start" must have no inputs, has ${inputs.get('start')!.join(', ')}`);
  }

  const cycles = findCycles(steps);
  for (const cycle of cycles) problems.push(`cycle: ${cycle.join(' → ')}`);

  const reachable = new Set<string>();
  if (steps.has('start')) {
    const todo = ['start'];
    while (todo.length) {
      const n = todo.pop()!;
      if (reachable.has(n)) continue;
      reachable.add(n);
      for (const c of nextOf(steps.get(n)!)) if (steps.has(c)) todo.push(c);
    }
    for (const n of steps.keys()) if (!reachable.has(n)) problems.push(`step "${n}" is unreachable from "start"`);
  }

  const closes = new Map<string, string>();
  if (!unknown && cycles.length === 0 && steps.has('start') && steps.has('end')) {
    add(checkStructure(steps, inputs, reachable, closes));
  }
  if (problems.length) return { ok: false, problems };
  const kind = new Map([...steps].map(([n, s]) => [n, kindOf(s)]));
  return { ok: true, graph: { flow, steps, kind, inputs, closes } };
}

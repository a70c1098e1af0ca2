import { isIdentifier, show, validatePolicies } from '../policy';
import { Flow, FlowSpec, ForeachSource, nextOf, StepSpec } from './model';
import { parameterType, validateParameters } from './parameters';

const FLOW_NAME = /^[A-Za-z0-9_-]{1,80}$/;

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

function checkForeachSource(flow: FlowSpec, step: StepSpec, src: ForeachSource): string[] {
  const where = `step "${step.name}"`;
  if (typeof src !== 'object' || src === null) return [`${where}: foreach must be {items}, {output} or {param}, got ${show(src)}`];
  if ('items' in src) {
    if (!Array.isArray(src.items)) return [`${where}: foreach.items must be an array, got ${show(src.items)}`];
    if (src.items.length === 0) return [`${where}: foreach.items is empty`];
    return [];
  }
  if ('output' in src) {
    return typeof src.output === 'string' && src.output !== '' ? [] : [`${where}: foreach.output must name a key of the step's outputs, got ${show(src.output)}`];
  }
  if ('param' in src) {
    const spec = flow.parameters?.[src.param];
    if (!spec) return [`${where}: foreach over unknown parameter ${show(src.param)}`];
    const type = parameterType(spec);
    return type === 'list' || type === 'json' ? [] : [`${where}: foreach parameter "${src.param}" must be of type list, is ${type}`];
  }
  return [`${where}: foreach must be {items}, {output} or {param}, got ${show(src)}`];
}

/** Problems of one step taken alone: name, command, edges shape, policies. */
function checkStep(flow: FlowSpec, step: StepSpec): string[] {
  const problems: string[] = [];
  const where = `step ${show(step.name)}`;
  if (!isIdentifier(step.name)) problems.push(`${where}: the name must be a valid identifier`);
  if (!Array.isArray(step.command) || step.command.length === 0 || !step.command.every((a) => typeof a === 'string')) {
    problems.push(`${where}: command must be a non-empty array of strings, got ${show(step.command)}`);
  }
  const next = nextOf(step);
  if (step.name === 'end' && next.length > 0) problems.push(`step "end" must not have next steps, has ${show(step.next)}`);
  if (step.name !== 'end' && next.length === 0) problems.push(`${where} has no next step (only "end" may end the flow)`);
  if (step.foreach) {
    if (next.length !== 1) problems.push(`${where}: a foreach needs exactly one next step, has ${show(step.next ?? [])}`);
    problems.push(...checkForeachSource(flow, step, step.foreach));
  }
  if (step.join && step.name === 'start') problems.push(`step "start" cannot be a join`);
  problems.push(...validatePolicies(where, step));
  return problems;
}

/** Step names on a cycle, found by depth-first search. */
function findCycles(steps: ReadonlyMap<string, StepSpec>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const path: string[] = [];
  const visit = (name: string) => {
    state.set(name, 'open');
    path.push(name);
    for (const child of nextOf(steps.get(name)!)) {
      if (!steps.has(child)) continue;
      const s = state.get(child);
      if (s === 'open') cycles.push([...path.slice(path.indexOf(child)), child]);
      else if (s === undefined) visit(child);
    }
    path.pop();
    state.set(name, 'done');
  };
  for (const name of steps.keys()) if (!state.has(name)) visit(name);
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
  while (ready.length) {
    const n = ready.shift()!;
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
  if (typeof flow.name !== 'string' || !FLOW_NAME.test(flow.name)) {
    problems.push(`flow name ${show(flow.name)} must be 1–80 letters, digits, _ or -`);
  }
  if (!Array.isArray(flow.steps)) return { ok: false, problems: [...problems, `flow steps must be an array, got ${show(flow.steps)}`] };
  problems.push(...validateParameters(flow));
  if (flow.defaults) problems.push(...validatePolicies('flow defaults', flow.defaults));

  const steps = new Map<string, StepSpec>();
  for (const step of flow.steps) {
    if (steps.has(step.name)) problems.push(`duplicate step name "${step.name}"`);
    else steps.set(step.name, step);
    problems.push(...checkStep(flow, step));
  }
  if (!steps.has('start')) problems.push('the flow has no "start" step');
  if (!steps.has('end')) problems.push('the flow has no "end" step');

  const inputs = new Map<string, string[]>([...steps.keys()].map((n) => [n, []]));
  let unknown = false;
  for (const step of steps.values()) {
    for (const child of nextOf(step)) {
      if (!steps.has(child)) {
        problems.push(`step "${step.name}" goes to unknown step ${show(child)}`);
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
    problems.push(...checkStructure(steps, inputs, reachable, closes));
  }
  if (problems.length) return { ok: false, problems };
  const kind = new Map([...steps].map(([n, s]) => [n, kindOf(s)]));
  return { ok: true, graph: { flow, steps, kind, inputs, closes } };
}

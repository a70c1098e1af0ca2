/**
 * The `_graph_info` artifact of a run's `_parameters` task: the flow's DAG in the shape Metaflow
 * writes it (metaflow/flowspec.py and graph.py `output_steps`), which the Metaflow UI draws the
 * run page from: each step's type and successors, the nested structure of splits and joins, the
 * start and end steps, and the parameters.
 */
import * as path from 'node:path';
import { nextOf } from '../flow/model';
import { parameterType } from '../flow/parameters';
import type { FlowGraph } from '../flow/validate';
import { effectivePolicies } from '../policy';
import { RUNTIME_DIR_IN_PACKAGE } from '../task-runtime';

/** One step as `_graph_info.steps` holds it. */
interface StepInfo {
  readonly name: string;
  readonly type: string;
  readonly line: number;
  readonly source_file: string;
  readonly doc: string;
  readonly decorators: readonly unknown[];
  readonly next: readonly string[];
  readonly node_info: Record<string, unknown>;
  readonly foreach_artifact?: string;
  readonly matching_join?: string;
}

/** Nested step names: a split is followed by one list per branch. */
type Structure = (string | Structure[])[];

/** The `_graph_info` value for a validated flow. */
export function graphInfo(graph: FlowGraph, flowFile?: string): Record<string, unknown> {
  const steps = graph.flow.steps;
  const start = steps[0].name;
  const end = steps.find((s) => graph.kind.get(s.name) === 'end')?.name ?? steps[steps.length - 1].name;
  const joinOf = new Map<string, string>();
  for (const [join, split] of graph.closes) joinOf.set(split, join);
  const type = (name: string): string => {
    const kind = graph.kind.get(name);
    if (kind === 'foreach') return 'split-foreach';
    if (kind === 'branch') return 'split-static';
    if (kind === 'end') return 'end';
    if (graph.closes.has(name)) return 'join';
    return name === start ? 'start' : 'linear';
  };
  const info: Record<string, StepInfo> = {};
  const stepInfo = (name: string): StepInfo => {
    const spec = graph.steps.get(name)!;
    const t = type(name);
    return {
      name,
      type: t,
      line: 0,
      source_file: flowFile ?? '',
      doc: spec.description ?? '',
      decorators: [],
      next: [...nextOf(spec)],
      node_info: {},
      ...(t === 'split-foreach' ? { foreach_artifact: foreachArtifact(spec.foreach) } : {}),
      ...(joinOf.has(name) ? { matching_join: joinOf.get(name)! } : {}),
    };
  };
  // Metaflow's populate_block: walk from a step to (not including) the join that ends its block.
  const block = (from: string, until: string): Structure => {
    const out: Structure = [];
    let cur: string | undefined = from;
    while (cur !== undefined && cur !== until) {
      info[cur] = stepInfo(cur);
      out.push(cur);
      const t = type(cur);
      const next = nextOf(graph.steps.get(cur)!);
      if (t === 'split-foreach' || t === 'split-static') {
        const join: string = joinOf.get(cur)!;
        out.push(next.map((s) => block(s, join)));
        cur = join;
      } else cur = next[0];
    }
    return out;
  };
  const structure = start === end ? [] : block(start, end);
  info[end] = stepInfo(end);
  structure.push(end);
  return {
    file: flowFile ?? '',
    start_step: start,
    end_step: end,
    parameters: Object.keys(graph.flow.parameters ?? {}).map((name) => ({ name, type: 'Parameter' })),
    constants: [],
    steps: info,
    graph_structure: structure,
    doc: '',
    decorators: [],
    extensions: {},
  };
}

function foreachArtifact(source: unknown): string {
  const s = source as { output?: string; param?: string } | undefined;
  return s?.output ?? s?.param ?? 'items';
}

/**
 * Where a code package carries `_graph_info` for jobs that register themselves (Step Functions:
 * runner/task-runtime/python/mfcdk_metadata.py GRAPH_FILE reads it). It is in the package, not
 * in the jobs' environment, because ECS counts a job's whole environment against 8 KiB
 * (runner/batch/job-shape.ts ECS_OVERRIDES_LIMIT) and a flow's graph can be larger.
 */
export const GRAPH_INFO_PACKAGE_PATH = `${RUNTIME_DIR_IN_PACKAGE}/graph-info.json`;

/** Each step's `catch.var` (steps whose catch names one): what a caught task's failure is registered under. */
export function catchVarsOf(graph: FlowGraph): Record<string, string> {
  return Object.fromEntries([...graph.steps.entries()].flatMap(([name, spec]) => {
    const v = effectivePolicies(spec, { flowDefaults: graph.flow.defaults }).catch?.var;
    return v ? [[name, v]] : [];
  }));
}

/**
 * The code package file `{ graph_info, parameters: { name: type }, catch_vars: { step: var } }` (the types
 * say how each `MF_PARAM_*` value is read back; `register` files a caught task's failure under its
 * step's var, having the package but not the flow). Only the flow file's base name is recorded, so the package's
 * bytes do not depend on where the flow sits on this machine.
 */
export function graphInfoPackageFile(graph: FlowGraph, flowFile?: string): Record<string, string> {
  const parameters = Object.fromEntries(Object.entries(graph.flow.parameters ?? {}).map(([name, spec]) => [name, parameterType(spec)]));
  const content = { graph_info: graphInfo(graph, flowFile === undefined ? undefined : path.basename(flowFile)), parameters, catch_vars: catchVarsOf(graph) };
  return { [GRAPH_INFO_PACKAGE_PATH]: JSON.stringify(content) };
}

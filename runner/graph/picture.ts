import type { RunRecord, TaskRecord } from '../datastore/types';
import { nextOf } from '../flow/model';
import type { ForeachSource } from '../flow/model';
import type { FlowGraph } from '../flow/validate';

/**
 * What a picture of a flow or a run shows, whatever it is drawn as (text or SVG): the steps, in
 * flow order, and every edge between them. Built from a validated flow ({@link pictureOfFlow}),
 * coloured by a run's task records ({@link withRunStatus}), or, when the run's flow file cannot
 * be loaded, read from the task records alone ({@link pictureOfRunTasks}).
 */
export interface Picture {
  /** The first line: the flow's name, or the run and its status. */
  readonly title: string;
  /** The steps, `start` first. */
  readonly steps: readonly PictureStep[];
  /** Every edge of the graph, in the order of their source steps. */
  readonly edges: readonly PictureEdge[];
  /** Whether the steps carry a run's status (the drawing then has a legend). */
  readonly run: boolean;
}

/** What a step of a run came to, from its tasks' records. */
export type StepStatus = 'succeeded' | 'failed' | 'caught' | 'running' | 'not run' | 'reused' | 'cancelled';

/** Every status, in the order a legend lists them. */
export const STEP_STATUSES: readonly StepStatus[] = ['succeeded', 'failed', 'caught', 'running', 'reused', 'cancelled', 'not run'];

export interface PictureStep {
  readonly name: string;
  /** `branch`, `foreach`, `join of <step>`…: what the step is in the graph (empty for a plain step). */
  readonly role: string;
  /** What the step does, from its `description`. @default - none */
  readonly description?: string;
  /** The step's status in the run. @default - none: a picture of a flow */
  readonly status?: StepStatus;
  /** How many tasks the step had in the run. @default - none: a picture of a flow */
  readonly tasks?: number;
  /** The run's counts when they say more than the status (`99 succeeded, 1 failed`). @default - none */
  readonly detail?: string;
}

export interface PictureEdge {
  readonly from: string;
  readonly to: string;
  /** The edge fans out (a foreach): one task of `to` per item. */
  readonly fanOut: boolean;
  /** The fan-out's width: `×3` (static items or a run's tasks), `×param "rates" (100 by default)`, `×output "items"`. @default - none */
  readonly label?: string;
}

/** The width of a foreach as known before it runs (a parameter's: its default's, if it has a list). */
function foreachWidth(source: ForeachSource, flow: FlowGraph['flow']): string {
  if ('items' in source) return `×${source.items.length}`;
  if ('param' in source) {
    const fallback = flow.parameters?.[source.param]?.default;
    return `×param ${JSON.stringify(source.param)}${Array.isArray(fallback) ? ` (${fallback.length} by default)` : ''}`;
  }
  return `×output ${JSON.stringify(source.output)}`;
}

/** A validated flow as a picture. */
export function pictureOfFlow(graph: FlowGraph): Picture {
  const steps: PictureStep[] = [];
  const edges: PictureEdge[] = [];
  for (const step of graph.flow.steps) {
    const kind = graph.kind.get(step.name);
    const closes = graph.closes.get(step.name);
    const roles = [
      ...(closes ? [`join of ${closes}'s ${graph.kind.get(closes) === 'foreach' ? 'foreach' : 'branch'}`] : []),
      ...(kind === 'branch' || kind === 'foreach' ? [kind] : []),
    ];
    steps.push({ name: step.name, role: roles.join(', '), ...(step.description ? { description: step.description } : {}) });
    for (const to of nextOf(step)) {
      edges.push(step.foreach ? { from: step.name, to, fanOut: true, label: foreachWidth(step.foreach, graph.flow) } : { from: step.name, to, fanOut: false });
    }
  }
  return { title: `${graph.flow.name}: ${steps.length} steps, ${edges.length} edges`, steps, edges, run: false };
}

/** What a step's tasks came to: failed wins, then running, caught, cancelled; all reused is reused. */
export function stepStatus(tasks: readonly TaskRecord[]): StepStatus {
  const has = (s: TaskRecord['status']) => tasks.some((t) => t.status === s);
  if (tasks.length === 0) return 'not run';
  if (has('failed')) return 'failed';
  if (has('running') || has('queued')) return 'running';
  if (has('caught')) return 'caught';
  if (has('cancelled')) return 'cancelled';
  if (tasks.every((t) => t.status === 'reused')) return 'reused';
  return 'succeeded';
}

/** `99 succeeded, 1 failed` when a step's tasks did not all end alike. */
function statusCounts(tasks: readonly TaskRecord[]): string | undefined {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return counts.size > 1 ? [...counts].map(([s, n]) => `${n} ${s}`).join(', ') : undefined;
}

function tasksByStep(run: RunRecord): Map<string, TaskRecord[]> {
  const byStep = new Map<string, TaskRecord[]>();
  for (const t of run.tasks) byStep.set(t.step, [...(byStep.get(t.step) ?? []), t]);
  return byStep;
}

/** The run's title line: `Run <id> of <flow>: <status>`. */
function runTitle(run: RunRecord): string {
  return `Run ${run.runId} of ${run.flow}: ${run.status}${run.originRunId ? ` (resumed from ${run.originRunId})` : ''}`;
}

/**
 * A flow's picture with each step's status in `run`, its task count, and fan-outs labelled with
 * the number of tasks they made. The steps of the run that the flow does not have (a flow file
 * changed since the run) are returned apart: the caller draws from the tasks instead.
 */
export function withRunStatus(picture: Picture, run: RunRecord): { picture: Picture; unknownSteps: string[] } {
  const byStep = tasksByStep(run);
  const names = new Set(picture.steps.map((s) => s.name));
  const unknownSteps = [...byStep.keys()].filter((s) => !names.has(s));
  const steps = picture.steps.map((s) => {
    const tasks = byStep.get(s.name) ?? [];
    const detail = statusCounts(tasks);
    return { ...s, status: stepStatus(tasks), tasks: tasks.length, ...(detail ? { detail } : {}) };
  });
  const edges = picture.edges.map((e) => (e.fanOut && byStep.has(e.to) ? { ...e, label: `×${byStep.get(e.to)!.length}` } : e));
  return { picture: { title: runTitle(run), steps, edges, run: true }, unknownSteps };
}

/**
 * A run's picture from its task records alone: the steps that have tasks, an edge wherever a
 * task read another's outputs; an edge fans out when one task fed several tasks of the next step,
 * and a step joins when one of its tasks had several inputs. Steps that never ran are not known.
 */
export function pictureOfRunTasks(run: RunRecord): Picture {
  const byStep = tasksByStep(run);
  const fedBy = new Map<string, Map<string, Map<string, number>>>(); // from step → to step → input task → count
  for (const t of run.tasks) {
    for (const input of t.inputs) {
      const from = input.slice(0, input.indexOf('/'));
      const toMap = fedBy.get(from) ?? new Map<string, Map<string, number>>();
      const perTask = toMap.get(t.step) ?? new Map<string, number>();
      perTask.set(input, (perTask.get(input) ?? 0) + 1);
      toMap.set(t.step, perTask);
      fedBy.set(from, toMap);
    }
  }
  const edges: PictureEdge[] = [];
  for (const from of byStep.keys()) {
    for (const [to, perTask] of fedBy.get(from) ?? []) {
      const fanOut = [...perTask.values()].some((n) => n > 1);
      edges.push(fanOut ? { from, to, fanOut, label: `×${byStep.get(to)?.length ?? 0}` } : { from, to, fanOut });
    }
  }
  const steps = [...byStep].map(([name, tasks]) => {
    const children = edges.filter((e) => e.from === name);
    const role = tasks.some((t) => t.inputs.length > 1) ? 'join' : children.some((e) => e.fanOut) ? 'foreach' : children.length > 1 ? 'branch' : '';
    const detail = statusCounts(tasks);
    return { name, role, status: stepStatus(tasks), tasks: tasks.length, ...(detail ? { detail } : {}) };
  });
  return { title: runTitle(run), steps, edges, run: true };
}

/**
 * The 25,000-event history of one Standard execution, as a budget the compiler checks.
 *
 * "Maximum number of events in an execution history: 25,000 … the execution fails" (Step
 * Functions quotas, https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html;
 * "Avoid reaching the history quota",
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html: a Map in
 * Distributed mode runs each iteration as a child workflow execution with its own history).
 *
 * The compiled machine runs a foreach as an inline Map over chunks of children (each chunk one
 * Batch array job per body step), and a foreach inside a body as a Distributed Map whose child
 * executions each carry one outer child. So an execution's events grow only with the number of
 * chunks of its own foreach Maps. This module counts, from the definition itself, the most events
 * one execution can write (every state once, every user retry spent), and gives each foreach of an
 * execution an equal share of what is left: the widest foreach that fits. The machine checks a
 * run-time list against it before anything is submitted (`<split>.check-width`); static items are
 * checked at compile time.
 *
 * Events per state are the HistoryEvent types of GetExecutionHistory
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html): a Task
 * writes Entered, Scheduled, Started, Submitted, Succeeded, Exited; each retried attempt Failed,
 * Scheduled, Started, Submitted again; Pass, Choice, Fail and Succeed write Entered and Exited; a
 * Parallel Entered, Started, Succeeded, Exited plus its branches; an inline Map Entered, Started,
 * Succeeded, Exited plus IterationStarted and IterationSucceeded and the processor's events per
 * iteration; a Distributed Map Entered, Started, MapRunStarted, MapRunSucceeded, Succeeded,
 * Exited (its iterations' events are in the child executions). Retries of throttled Batch and S3
 * calls cannot be foreseen: a tenth of the budget is kept for them.
 */
import { UserInputError } from '../../errors';

/** Events one Standard execution's history holds. */
export const SFN_HISTORY_MAX_EVENTS = 25_000;
/** The part of the budget kept for what cannot be counted (throttled calls retried). */
export const HISTORY_RESERVE = 0.1;

const EXECUTION_EVENTS = 2;
const TASK_EVENTS = 6;
const RETRY_EVENTS = 4;
const SIMPLE_EVENTS = 2;
const PARALLEL_EVENTS = 4;
const INLINE_MAP_EVENTS = 4;
const ITERATION_EVENTS = 2;
const DISTRIBUTED_MAP_EVENTS = 6;

type Json = Record<string, unknown>;
interface StateList {
  readonly States: Record<string, Json>;
}

/** The Choice that holds a foreach's run-time width check, and the suffix of its Map. */
export const CHECK_WIDTH_SUFFIX = '.check-width';
export const FOREACH_MAP_SUFFIX = '.foreach';

/** One foreach Map of an execution: its chunk size and the events of one chunk. */
interface ForeachMap {
  readonly split: string;
  readonly chunk: number;
  readonly perChunk: number;
}

const isDistributed = (state: Json): boolean => ((state.ItemProcessor as Json | undefined)?.ProcessorConfig as Json | undefined)?.Mode === 'DISTRIBUTED';

/** User retries a Task may spend (States.TaskFailed / States.ALL / Batch errors; not throttling). */
function retriesOf(state: Json): number {
  const retry = Array.isArray(state.Retry) ? (state.Retry as Json[]) : [];
  return retry
    .filter((r) => (r.ErrorEquals as string[]).some((e) => e === 'States.TaskFailed' || e === 'States.ALL' || e === 'States.Timeout'))
    .reduce((n, r) => n + (typeof r.MaxAttempts === 'number' ? r.MaxAttempts : 3), 0);
}

/**
 * The events of one pass through a state list in its own execution, with each foreach Map of it
 * at `chunks(split)` iterations; the foreach Maps met on the way are reported to `found`.
 */
function listEvents(list: StateList, chunks: (split: string) => number, found: ForeachMap[]): number {
  let events = 0;
  for (const [name, state] of Object.entries(list.States)) {
    switch (state.Type) {
      case 'Task':
        events += TASK_EVENTS + RETRY_EVENTS * retriesOf(state);
        break;
      case 'Parallel':
        events += PARALLEL_EVENTS + (state.Branches as StateList[]).reduce((n, b) => n + listEvents(b, chunks, found), 0);
        break;
      case 'Map':
        if (isDistributed(state)) {
          events += DISTRIBUTED_MAP_EVENTS;
        } else {
          const inner: ForeachMap[] = [];
          const perIteration = ITERATION_EVENTS + listEvents(state.ItemProcessor as StateList, chunks, inner);
          found.push(...inner);
          if (name.endsWith(FOREACH_MAP_SUFFIX)) {
            const split = name.slice(0, -FOREACH_MAP_SUFFIX.length);
            found.push({ split, chunk: chunkOf(list, split), perChunk: perIteration });
            events += INLINE_MAP_EVENTS + chunks(split) * perIteration;
          } else {
            events += INLINE_MAP_EVENTS + perIteration;
          }
        }
        break;
      default:
        events += SIMPLE_EVENTS;
    }
  }
  return events;
}

/** The chunk size the `<split>.chunks` Pass cuts the items into (`States.ArrayPartition(…, n)`). */
function chunkOf(list: StateList, split: string): number {
  const params = list.States[`${split}.chunks`]?.Parameters as Json | undefined;
  const match = /States\.ArrayPartition\([^,]+, (\d+)\)/.exec(String(params?.['chunks.$'] ?? ''));
  if (!match) throw new Error(`compiler bug: no chunk size for the foreach of ${split}`);
  return Number(match[1]);
}

/** Every state list that is an execution of its own: the machine and each Distributed Map's processor. */
function executions(list: StateList, out: StateList[] = [list]): StateList[] {
  for (const state of Object.values(list.States)) {
    if (state.Type === 'Parallel') (state.Branches as StateList[]).forEach((b) => executions(b, out));
    if (state.Type === 'Map') {
      const processor = state.ItemProcessor as StateList;
      if (isDistributed(state)) out.push(processor);
      executions(processor, out);
    }
  }
  return out;
}

/** One execution's widest foreach each (children), given equal shares of its budget. */
export interface WidthLimit {
  readonly split: string;
  readonly maxChildren: number;
  /** The events the execution writes with no foreach child at all. */
  readonly baseEvents: number;
  readonly eventsPerChunk: number;
}

/** The widest each foreach of the compiled definition may be, per execution it runs in. */
export function foreachWidthLimits(definition: StateList, flow: string): WidthLimit[] {
  const budget = Math.floor(SFN_HISTORY_MAX_EVENTS * (1 - HISTORY_RESERVE));
  const limits: WidthLimit[] = [];
  executions(definition).forEach((execution, i) => {
    const maps: ForeachMap[] = [];
    // Top level: ExecutionStarted and ExecutionSucceeded; a child execution writes the same.
    const base = EXECUTION_EVENTS + listEvents(execution, () => 0, maps);
    if (base > budget) {
      throw new UserInputError(
        `flow "${flow}" cannot run on Step Functions: ${i === 0 ? 'its execution' : 'one foreach child execution'} writes up to ${base} history events before any foreach child (the history holds ${SFN_HISTORY_MAX_EVENTS}, ${budget} after a reserve for throttled calls)`,
      );
    }
    for (const map of maps) {
      const chunks = Math.floor((budget - base) / (maps.length * map.perChunk));
      if (chunks < 1) {
        throw new UserInputError(
          `flow "${flow}" cannot run on Step Functions: one chunk of the foreach of step "${map.split}" writes up to ${map.perChunk} history events, more than its share of the ${SFN_HISTORY_MAX_EVENTS}-event history (${Math.floor((budget - base) / maps.length)})`,
        );
      }
      limits.push({ split: map.split, maxChildren: chunks * map.chunk, baseEvents: base, eventsPerChunk: map.perChunk });
    }
  });
  return limits;
}

/**
 * Write each foreach's limit into its `<split>.check-width` Choice (and the Fail's Cause), and
 * refuse static items over it. Mutates the definition.
 */
export function applyWidthLimits(definition: StateList, flow: string, staticWidths: ReadonlyMap<string, number>): WidthLimit[] {
  const limits = foreachWidthLimits(definition, flow);
  const bySplit = new Map(limits.map((l) => [l.split, l]));
  const visit = (list: StateList) => {
    for (const [name, state] of Object.entries(list.States)) {
      if (name.endsWith(CHECK_WIDTH_SUFFIX) && state.Type === 'Choice') {
        const split = name.slice(0, -CHECK_WIDTH_SUFFIX.length);
        const limit = bySplit.get(split);
        if (!limit) throw new Error(`compiler bug: no width limit for the foreach of ${split}`);
        const choice = (state.Choices as Json[])[0];
        choice.NumericGreaterThan = limit.maxChildren;
        const fail = list.States[choice.Next as string];
        fail.Cause = `the foreach of step "${split}" has more children than one execution's ${SFN_HISTORY_MAX_EVENTS}-event history holds: at most ${limit.maxChildren} here`;
        const width = staticWidths.get(split);
        if (width !== undefined && width > limit.maxChildren) {
          throw new UserInputError(`step "${split}": foreach.items has ${width} items; on Step Functions this foreach holds at most ${limit.maxChildren} (one execution's history holds ${SFN_HISTORY_MAX_EVENTS} events)`);
        }
      }
      if (state.Type === 'Parallel') (state.Branches as StateList[]).forEach(visit);
      if (state.Type === 'Map') visit(state.ItemProcessor as StateList);
    }
  };
  visit(definition);
  return limits;
}

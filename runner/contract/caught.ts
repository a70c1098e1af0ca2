import { Failure } from '../datastore/types';
import { pathspec } from './names';

/**
 * Caught failures as they travel along the flow. A @catch var is set by ONE catch step, but a
 * join may see it from many tasks of that step (every foreach child, every branch arm): each
 * entry remembers which task set it, so a join keeps every distinct one and drops none.
 */
export interface CaughtEntry {
  /** Pathspec (`<step>/<taskId>`) of the task whose @catch set the var. */
  readonly from: string;
  /** The failure, or null when that task succeeded. */
  readonly failure: Failure | null;
}

/** Per catch var, the entries a task sees (one outside joins; one per distinct source at a join). */
export type CaughtState = Readonly<Record<string, readonly CaughtEntry[]>>;

export const NO_CAUGHT: CaughtState = Object.freeze({});

/**
 * A failed task's one line, `step <step>/<taskId> failed: <reason>` with the attempt count after
 * retries: its Failure's `message`, on every layer (the Step Functions runtime words it the same,
 * mfcdk_task.py failed_line).
 */
export function failedMessage(task: { step: string; taskId: string }, reason: string, attempts: number): string {
  return `step ${pathspec(task)} failed: ${reason}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`;
}

/** The line of one failed attempt that was retried (its own `_exception`; mfcdk_task.py retried_line). */
export function retriedAttemptMessage(task: { step: string; taskId: string }, attempt: number, reason: string): string {
  return `attempt ${attempt} of step ${pathspec(task)} failed: ${reason}`;
}

/** A task with a @catch var finished (succeeded: failure null; caught: the failure). */
export function setCaught(state: CaughtState, catchVar: string, task: { step: string; taskId: string }, failure: Failure | null): CaughtState {
  return { ...state, [catchVar]: [{ from: pathspec(task), failure }] };
}

/**
 * What a task sees from its inputs. One input: its state as it is. Several (a join): for each
 * var, every distinct entry of every input, in input order — so when several foreach children
 * fail under the same catch var, the join sees all of them.
 */
export function mergeCaught(inputs: readonly CaughtState[]): CaughtState {
  if (inputs.length === 0) return NO_CAUGHT;
  if (inputs.length === 1) return inputs[0];
  if (inputs.every((s) => s === inputs[0])) return inputs[0];
  const merged: Record<string, CaughtEntry[]> = {};
  const seen: Record<string, Set<string>> = {};
  for (const state of inputs) {
    for (const [v, entries] of Object.entries(state)) {
      const list = (merged[v] ??= []);
      const keys = (seen[v] ??= new Set());
      for (const e of entries) {
        if (keys.has(e.from)) continue;
        keys.add(e.from);
        list.push(e);
      }
    }
  }
  return merged;
}

/**
 * The value a task sees under a var: the failure (or null) while one task set it; from a join
 * that gathered it from several tasks on, the list of their failures (successes left out, `[]`
 * when none failed).
 */
export function caughtValue(entries: readonly CaughtEntry[]): Failure | null | Failure[] {
  if (entries.length === 1) return entries[0].failure;
  return entries.flatMap((e) => (e.failure ? [e.failure] : []));
}

/** Every var's value, as MF_CAUGHT carries it. */
export function caughtValues(state: CaughtState): Record<string, Failure | null | Failure[]> {
  const out: Record<string, Failure | null | Failure[]> = {};
  for (const [v, entries] of Object.entries(state)) out[v] = caughtValue(entries);
  return out;
}

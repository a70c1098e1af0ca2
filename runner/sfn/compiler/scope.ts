/**
 * Building one ASL state list (the machine's, a Parallel branch's or a Map processor's) as a
 * chain: each added state becomes the `Next` of every open tail, and names its own tails (a Task
 * with a Catch has two ways out; a Choice between a plain and an array job has two).
 */
import { UserInputError } from '../../errors';
import { SFN_STATE_NAME_MAX_LENGTH } from '../../limits';

export type AslState = Record<string, unknown>;

/** Sets where a way out of a state goes (`undefined`: the state ends its state list). */
export type Tail = (next: string | undefined) => void;

/** Names must be unique in the whole state machine, nested lists included. */
export class StateNames {
  private readonly used = new Set<string>();

  claim(name: string): string {
    if (name.length > SFN_STATE_NAME_MAX_LENGTH) throw new UserInputError(`state name ${JSON.stringify(name)} is ${name.length} characters; Step Functions allows ${SFN_STATE_NAME_MAX_LENGTH}`);
    if (this.used.has(name)) throw new Error(`compiler bug: state name ${JSON.stringify(name)} used twice`);
    this.used.add(name);
    return name;
  }
}

/** `Next` of a plain state. */
export const nextTail = (state: AslState): Tail => (next) => {
  if (next === undefined) state.End = true;
  else state.Next = next;
};

export class Scope {
  readonly states: Record<string, AslState> = {};
  private start?: string;
  private tails: Tail[] = [];
  /** Once a state list ended (the chain went into a nested list), nothing more is added to it. */
  private closed = false;

  constructor(readonly names: StateNames) {}

  /** Add a state after the open tails; its own ways out become the tails (default: its Next). */
  add(name: string, state: AslState, tails: Tail[] = [nextTail(state)]): string {
    if (this.closed) throw new Error(`compiler bug: state ${name} added after its list ended`);
    this.names.claim(name);
    this.states[name] = state;
    this.start ??= name;
    for (const t of this.tails) t(name);
    this.tails = tails;
    return name;
  }

  /** A state reached only through another's explicit transition (a Choice branch, a Catch). */
  addDetached(name: string, state: AslState): string {
    this.names.claim(name);
    this.states[name] = state;
    return name;
  }

  /** Add an open tail (another way into whatever is added next). */
  addTail(tail: Tail): void {
    this.tails.push(tail);
  }

  /** Replace the open tails (after a Choice and its targets were added). */
  setTails(tails: Tail[]): void {
    this.tails = tails;
  }

  /** Close the list: the open tails end it. Returns `{StartAt, States}`. */
  finish(): { StartAt: string; States: Record<string, AslState> } {
    if (!this.start) throw new Error('compiler bug: an empty state list');
    for (const t of this.tails) t(undefined);
    this.tails = [];
    this.closed = true;
    return { StartAt: this.start, States: this.states };
  }
}

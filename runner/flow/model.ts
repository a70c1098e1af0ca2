import { StepPolicies } from '../policy';

/** Types a flow parameter may have. `list` accepts a JSON array or comma-separated values. */
export type ParameterType = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'json';

/** Types the items of a `list` parameter may have. */
export type ListItemType = 'string' | 'number' | 'integer';

export interface ParameterSpec {
  /** Inferred from `default` when omitted (array → list, otherwise typeof). */
  readonly type?: ParameterType;
  /**
   * For a `list`: the type of its items. Comma-separated values given with `--param` are kept as
   * strings as given (`007` stays `"007"`) unless the items are numeric, in which case each must
   * parse as one.
   * @default 'number' when `default` is a non-empty list of numbers, else 'string'
   */
  readonly itemType?: ListItemType;
  readonly default?: unknown;
  readonly help?: string;
}

/**
 * Where a foreach's items come from: a static list, the value of a key in the foreach step's own
 * `outputs.json`, or a flow parameter of type list/json.
 */
export type ForeachSource =
  | { readonly items: readonly unknown[] }
  | { readonly output: string }
  | { readonly param: string };

export interface StepSpec extends StepPolicies {
  /** An identifier of at most 40 characters (runner/limits.ts). */
  readonly name: string;
  /** Container image; the local layer records it, the Batch layer runs it. Defaults to the flow's. */
  readonly image?: string;
  /** argv of the command, run without a shell. */
  readonly command: readonly string[];
  /**
   * Extra environment of the step's tasks: names are identifiers not starting with `MF_` (the
   * task contract's prefix), values are strings. Wins over the flow's `env`.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** The next step, or several for a branch. Every step but `end` has one. */
  readonly next?: string | readonly string[];
  /** Fan `next` (a single step) out over these items; a join step must close it. */
  readonly foreach?: ForeachSource;
  /** This step joins a branch or a foreach: it receives every input at once. */
  readonly join?: boolean;
  readonly description?: string;
}

export interface FlowSpec {
  /** Flow name: letters, digits, _ and -, at most 40 characters (runner/limits.ts). */
  readonly name: string;
  /** Default image for steps that give none. */
  readonly image?: string;
  /** Environment for every step (a step's own env wins); same rules as a step's `env`. */
  readonly env?: Readonly<Record<string, string>>;
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  /** Flow-wide default policies (a step's own policy replaces the default one). */
  readonly defaults?: StepPolicies;
  readonly steps: readonly StepSpec[];
}

const FLOW_BRAND = Symbol.for('metaflow-cdk.flow');

export interface Flow extends FlowSpec {
  readonly [FLOW_BRAND]: true;
}

/** Define a flow. Nothing is checked here: `validateFlow` reports every problem at once. */
export function defineFlow(spec: FlowSpec): Flow {
  return Object.freeze({ ...spec, [FLOW_BRAND]: true as const });
}

export function isFlow(value: unknown): value is Flow {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[FLOW_BRAND] === true;
}

/** The successors of a step as a list. */
export function nextOf(step: StepSpec): readonly string[] {
  if (typeof step.next === 'string') return [step.next];
  // Anything else that is not a list (validation reports it) has no successors.
  return Array.isArray(step.next) ? step.next : [];
}

import { StepPolicies } from '../policy';
import type { BatchStepOptions } from '../policy/batch';

/** Types a flow parameter may have. `list` accepts a JSON array or comma-separated values. */
export type ParameterType = 'string' | 'number' | 'integer' | 'boolean' | 'list' | 'json';

/** Types the items of a `list` parameter may have. */
export type ListItemType = 'string' | 'number' | 'integer';

/** A flow parameter, given on the command line with `--param name=value`. */
export interface ParameterSpec {
  /** The parameter's type. @default - inferred from `default` (an array is a list, otherwise its typeof) */
  readonly type?: ParameterType;
  /**
   * For a `list`: the type of its items. Comma-separated values given with `--param` are kept as
   * strings as given (`007` stays `"007"`) unless the items are numeric, in which case each must
   * parse as one.
   * @default 'number' when `default` is a non-empty list of numbers, else 'string'
   */
  readonly itemType?: ListItemType;
  /** The value when none is given. @default - none: the parameter is required */
  readonly default?: unknown;
  /** What the parameter means, for humans. @default - none */
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

/** One step of a flow: a command in a container, with its policies (resources, retry, timeout, catch). */
export interface StepSpec extends StepPolicies {
  /** Step name, unique in the flow; the first step is `start`, the last `end`. An identifier of at most 40 characters (runner/limits.ts). */
  readonly name: string;
  /** Container image; the local layer records it, the Batch layer runs it. @default - the flow's `image` */
  readonly image?: string;
  /** argv of the command, run without a shell. */
  readonly command: readonly string[];
  /**
   * Extra environment of the step's tasks: names are identifiers not starting with `MF_` (the
   * task contract's prefix), values are strings. Wins over the flow's `env`.
   * @default - the flow's `env` only
   */
  readonly env?: Readonly<Record<string, string>>;
  /** The next step, or several for a branch. Every step but `end` has one. @default - none (only for `end`) */
  readonly next?: string | readonly string[];
  /** Fan `next` (a single step) out over these items; a join step must close it. @default - no fan-out */
  readonly foreach?: ForeachSource;
  /** This step joins a branch or a foreach: it receives every input at once. @default false */
  readonly join?: boolean;
  /** What the step does, for humans. @default - none */
  readonly description?: string;
  /**
   * AWS Batch settings of the step (its own queue, tags, swap, public IP on Fargate,
   * infrastructure retries); checked by the Batch layer, ignored by the others.
   * @default - the Batch defaults (see BatchStepOptions)
   */
  readonly batch?: BatchStepOptions;
}

/**
 * What goes into the flow's code package (the files AWS Batch tasks get, runner/package): every
 * file under `root` except hidden files and folders, build and dependency folders
 * (`node_modules`, `__pycache__`, `dist`, `build`, …), and what `.gitignore` files ignore.
 */
export interface PackageSpec {
  /**
   * The folder packed, relative to the flow file; local tasks run there too.
   * @default - the flow file's folder
   */
  readonly root?: string;
  /**
   * gitignore-style patterns of files and folders to pack although the rules above drop them
   * (`.env.example`, `build/model.bin`); a pattern that names a path inside a dropped folder
   * makes the walk enter that folder.
   * @default - none
   */
  readonly include?: readonly string[];
  /**
   * gitignore-style patterns of files and folders never packed (wins over `include`; a symlink
   * that points outside the root is fine when excluded).
   * @default - none
   */
  readonly exclude?: readonly string[];
}

/** What {@link defineFlow} takes: a flow's name, parameters, defaults and steps. */
export interface FlowSpec {
  /** Flow name: letters, digits, _ and -, at most 40 characters (runner/limits.ts). */
  readonly name: string;
  /** Default image for steps that give none. @default - none: every step names its own */
  readonly image?: string;
  /** Environment for every step (a step's own env wins); same rules as a step's `env`. @default - none */
  readonly env?: Readonly<Record<string, string>>;
  /** The flow's parameters by name. @default - no parameters */
  readonly parameters?: Readonly<Record<string, ParameterSpec>>;
  /** Flow-wide default policies (a step's own policy replaces the default one). @default - none */
  readonly defaults?: StepPolicies;
  /** The steps, `start` first; they form a DAG through `next`. */
  readonly steps: readonly StepSpec[];
  /** What the code package holds (see PackageSpec). @default - the flow file's folder, default rules */
  readonly package?: PackageSpec;
  /**
   * The team whose share the flow's Batch jobs use on a fair-share queue (`--team` and the
   * config's METAFLOW_TEAM win). @default - none
   */
  readonly team?: string;
  /**
   * Events that start the flow once it is deployed to Step Functions (`sfn deploy`,
   * FlowStateMachine): an S3 object created under a prefix, another deployed flow succeeding, or
   * a custom EventBridge event, each with event fields mapped to parameters (runner/sfn/triggers.ts).
   * @default - none: runs start only by hand or on a schedule
   */
  readonly triggers?: readonly FlowTrigger[];
}

/**
 * What starts a deployed flow. Exactly one of `s3`, `flow` or `event`; `parameters` maps a
 * parameter name to an event field: for `s3` `key`, `bucket`, `size` or `etag`; for `flow`
 * `runId` or `executionArn`; for any kind a path into the event (`$.detail.model`).
 */
export interface FlowTrigger {
  /** An S3 object created under `s3://<bucket>/<prefix>` (the bucket must send events to EventBridge). @default - not an S3 trigger */
  readonly s3?: string;
  /** Another flow, deployed under the same prefix, that succeeded. @default - not a flow trigger */
  readonly flow?: string;
  /** A custom EventBridge event on the default bus: its `source` and, optionally, its `detailType`. @default - not an event trigger */
  readonly event?: { readonly source: string; readonly detailType?: string };
  /** Parameter name → event field. @default - none: the deployed parameter values */
  readonly parameters?: Readonly<Record<string, string>>;
}

const FLOW_BRAND = Symbol.for('metaflow-cdk.flow');

/** A flow made by {@link defineFlow}: its spec, frozen and marked as a flow. */
export interface Flow extends FlowSpec {
  /** The mark {@link isFlow} looks for (a registered symbol, so flows from another copy of the package count too). */
  readonly [FLOW_BRAND]: true;
}

/** Define a flow. Nothing is checked here: `validateFlow` reports every problem at once. */
export function defineFlow(spec: FlowSpec): Flow {
  return Object.freeze({ ...spec, [FLOW_BRAND]: true as const });
}

/** Whether `value` is a flow made by {@link defineFlow} (a flow file's default export must be one). */
export function isFlow(value: unknown): value is Flow {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[FLOW_BRAND] === true;
}

/** The successors of a step as a list. */
export function nextOf(step: StepSpec): readonly string[] {
  if (typeof step.next === 'string') return [step.next];
  // Anything else that is not a list (validation reports it) has no successors.
  return Array.isArray(step.next) ? step.next : [];
}

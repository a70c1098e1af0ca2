import { describeValue } from '../../core/describe-value';
import { isIdentifier } from '../policy';
import { closestName, unknownFields } from '../unknown-fields';
import { FlowSpec, ListItemType, ParameterSpec, ParameterType } from './model';

const TYPES: readonly ParameterType[] = ['string', 'number', 'integer', 'boolean', 'list', 'json'];
const ITEM_TYPES: readonly ListItemType[] = ['string', 'number', 'integer'];
const SPEC_FIELDS: readonly (keyof ParameterSpec)[] = ['type', 'itemType', 'default', 'help'];

export function parameterType(spec: ParameterSpec): ParameterType {
  if (spec.type) return spec.type;
  const d = spec.default;
  if (Array.isArray(d)) return 'list';
  if (typeof d === 'number') return 'number';
  if (typeof d === 'boolean') return 'boolean';
  if (typeof d === 'object' && d !== null) return 'json';
  return 'string';
}

/** The item type of a list parameter: declared, or `number` for a default list of numbers. */
export function listItemType(spec: ParameterSpec): ListItemType {
  if (spec.itemType) return spec.itemType;
  const d = spec.default;
  return Array.isArray(d) && d.length > 0 && d.every((x) => typeof x === 'number') ? 'number' : 'string';
}

function matchesType(type: ParameterType | ListItemType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'list':
      return Array.isArray(value);
    case 'json':
      return true;
  }
}

/** The environment variable a parameter reaches a task through. */
export function parameterEnvName(name: string): string {
  return `MF_PARAM_${name.toUpperCase()}`;
}

/**
 * MF_TEXT_PARAMS: the flow's `string` parameters, comma-separated, so a task (and the task
 * helpers' `params()`) can tell the text "007" of a string parameter from the number 7 (both
 * reach MF_PARAM_* as text). Undefined when the flow has none.
 */
export function textParametersEnv(flow: { readonly parameters?: Readonly<Record<string, ParameterSpec>> }): Record<string, string> {
  const names = Object.entries(flow.parameters ?? {}).filter(([, spec]) => parameterType(spec) === 'string').map(([name]) => name);
  return names.length > 0 ? { MF_TEXT_PARAMS: names.join(',') } : {};
}

/** How a value is put into an environment variable: strings as they are, the rest as JSON. */
export function envValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Problems with the flow's parameter declarations. */
export function validateParameters(flow: FlowSpec): string[] {
  const problems: string[] = [];
  const declared: unknown = flow.parameters;
  if (declared === undefined) return problems;
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    return [`flow parameters must be an object of name: {type, default, help}, got ${describeValue(declared)}`];
  }
  const byEnvName = new Map<string, string>();
  for (const [name, spec] of Object.entries(declared as Record<string, unknown>)) {
    const where = `parameter ${describeValue(name)}`;
    if (!isIdentifier(name)) problems.push(`${where}: the name must be a valid identifier`);
    const env = parameterEnvName(name);
    const other = byEnvName.get(env);
    if (other !== undefined) problems.push(`${where}: reaches tasks as ${env}, like parameter ${describeValue(other)}: rename one`);
    else byEnvName.set(env, name);
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      problems.push(`${where}: must be an object {type, default, help}, got ${describeValue(spec)}`);
      continue;
    }
    problems.push(...unknownFields(where, 'field', spec, SPEC_FIELDS));
    const p = spec as ParameterSpec;
    if (p.type !== undefined && !TYPES.includes(p.type)) {
      problems.push(`${where}: unknown type ${describeValue(p.type)} (expected one of ${TYPES.join(', ')})`);
      continue;
    }
    const type = parameterType(p);
    if (p.itemType !== undefined) {
      if (type !== 'list') problems.push(`${where}: itemType applies to list parameters only, this one is of type ${type}`);
      else if (!ITEM_TYPES.includes(p.itemType)) {
        problems.push(`${where}: unknown itemType ${describeValue(p.itemType)} (expected one of ${ITEM_TYPES.join(', ')})`);
        continue;
      }
    }
    if (p.default !== undefined && !matchesType(type, p.default)) {
      problems.push(`${where}: default ${describeValue(p.default)} is not of type ${type}`);
    } else if (type === 'list' && Array.isArray(p.default)) {
      const itemType = listItemType(p);
      const bad = p.default.find((x) => !matchesType(itemType, x));
      if (bad !== undefined || p.default.includes(undefined)) {
        problems.push(`${where}: default ${describeValue(p.default)} has an item that is not a ${itemType}: ${describeValue(bad)}`);
      }
    }
    if (p.help !== undefined && typeof p.help !== 'string') problems.push(`${where}: help must be a string, got ${describeValue(p.help)}`);
  }
  return problems;
}

/**
 * Parse a `--param` value given on the command line; throws a one-line message on a bad value.
 * A list given as comma-separated values keeps its items as strings unless `itemType` is numeric;
 * a list given as a JSON array keeps the JSON values.
 */
export function parseParameterValue(name: string, type: ParameterType, raw: string, itemType: ListItemType = 'string'): unknown {
  const bad = (expected: string) => new Error(`--param ${name}=${raw}: expected ${expected}`);
  switch (type) {
    case 'string':
      return raw;
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'integer': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isInteger(n)) throw bad('an integer');
      return n;
    }
    case 'boolean':
      if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
      if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
      throw bad('true or false');
    case 'list':
      return parseList(raw, itemType, bad);
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        throw bad('JSON');
      }
  }
}

function parseList(raw: string, itemType: ListItemType, bad: (expected: string) => Error): unknown[] {
  const listOf = `a JSON array or comma-separated values${itemType === 'string' ? '' : ` (${itemType}s)`}`;
  if (raw.trim().startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw bad(listOf);
    }
    if (!Array.isArray(v)) throw bad(listOf);
    // A JSON array says what each item is; only numeric lists insist on numbers.
    const wrong = itemType === 'string' ? undefined : v.find((x) => !matchesType(itemType, x));
    if (wrong !== undefined) throw bad(`${listOf}; ${describeValue(wrong)} is not a${itemType === 'integer' ? 'n' : ''} ${itemType}`);
    return v;
  }
  if (raw.trim() === '') return [];
  const items = raw.split(',').map((s) => s.trim());
  if (itemType === 'string') return items;
  return items.map((t) => {
    const n = Number(t);
    if (t === '' || !matchesType(itemType, n)) throw bad(`${listOf}; ${describeValue(t)} is not a${itemType === 'integer' ? 'n' : ''} ${itemType}`);
    return n;
  });
}

/** The steps whose foreach fans out over each parameter. */
function foreachSteps(flow: FlowSpec): Map<string, string[]> {
  const uses = new Map<string, string[]>();
  for (const step of flow.steps ?? []) {
    const src = step?.foreach as { param?: unknown } | undefined;
    if (src && typeof src === 'object' && typeof src.param === 'string') uses.set(src.param, [...(uses.get(src.param) ?? []), step.name]);
  }
  return uses;
}

/**
 * The values of the parameters given as `--param name=value` strings, and only those (no
 * defaults): unknown names, a name given twice, bad format and bad values are problems. Used where
 * the defaults already live elsewhere (a deployed state machine holds them: `sfn trigger`).
 */
export function parseGivenParameters(
  flow: FlowSpec,
  given: readonly string[],
): { values: Record<string, unknown>; problems: string[] } {
  const declared = flow.parameters ?? {};
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const seen = new Map<string, string>();
  for (const item of given) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.push(`--param ${describeValue(item)}: expected name=value`);
      continue;
    }
    const name = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    const first = seen.get(name);
    if (first !== undefined) {
      problems.push(`--param ${name} is given twice (${describeValue(first)} and ${describeValue(item)}): give it once`);
      continue;
    }
    seen.set(name, item);
    const spec = Object.hasOwn(declared, name) ? declared[name] : undefined;
    if (!spec) {
      const known = Object.keys(declared);
      const near = closestName(name, known);
      problems.push(
        `--param ${name}: flow "${flow.name}" has no parameter ${describeValue(name)} (${near ? `did you mean ${describeValue(near)}?` : `parameters: ${known.length ? known.join(', ') : 'none'}`})`,
      );
      continue;
    }
    try {
      values[name] = parseParameterValue(name, parameterType(spec), raw, listItemType(spec));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { values, problems };
}

/** Problems of the values a foreach fans out over: each must be a non-empty list. */
export function foreachParameterProblems(flow: FlowSpec, values: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const [name, steps] of foreachSteps(flow)) {
    if (!Object.hasOwn(values, name)) continue;
    const v = values[name];
    const at = `step${steps.length > 1 ? 's' : ''} ${steps.map((s) => `"${s}"`).join(', ')}`;
    if (!Array.isArray(v)) problems.push(`parameter "${name}" is ${describeValue(v)}, not a list, but ${at} fan${steps.length > 1 ? '' : 's'} out over it`);
    else if (v.length === 0) problems.push(`parameter "${name}" is an empty list, but ${at} fan${steps.length > 1 ? '' : 's'} out over it: a foreach needs at least one item`);
  }
  return problems;
}

/** The flow's parameter defaults (parameters without one are absent). */
export function parameterDefaults(flow: FlowSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flow.parameters ?? {}).filter(([, spec]) => spec.default !== undefined).map(([name, spec]) => [name, spec.default]));
}

/**
 * The run's parameter values: defaults overridden by `--param name=value` strings. Returns the
 * values and every problem found (unknown names, a name given twice, bad format, bad values,
 * missing required, an empty or non-list value that a foreach fans out over).
 */
export function resolveParameters(
  flow: FlowSpec,
  given: readonly string[],
): { values: Record<string, unknown>; problems: string[] } {
  const declared = flow.parameters ?? {};
  const values = parameterDefaults(flow);
  const parsed = parseGivenParameters(flow, given);
  Object.assign(values, parsed.values);
  const problems = [...parsed.problems];
  for (const name of Object.keys(declared)) {
    if (!Object.hasOwn(values, name)) problems.push(`parameter "${name}" has no default: give it with --param ${name}=VALUE`);
  }
  problems.push(...foreachParameterProblems(flow, values));
  return { values, problems };
}

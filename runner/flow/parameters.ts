import { isIdentifier, show } from '../policy';
import { FlowSpec, ParameterSpec, ParameterType } from './model';

const TYPES: readonly ParameterType[] = ['string', 'number', 'integer', 'boolean', 'list', 'json'];

export function parameterType(spec: ParameterSpec): ParameterType {
  if (spec.type) return spec.type;
  const d = spec.default;
  if (Array.isArray(d)) return 'list';
  if (typeof d === 'number') return 'number';
  if (typeof d === 'boolean') return 'boolean';
  if (typeof d === 'object' && d !== null) return 'json';
  return 'string';
}

function matchesType(type: ParameterType, value: unknown): boolean {
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

/** Problems with the flow's parameter declarations. */
export function validateParameters(flow: FlowSpec): string[] {
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(flow.parameters ?? {})) {
    if (!isIdentifier(name)) problems.push(`parameter ${show(name)}: the name must be a valid identifier`);
    if (spec.type !== undefined && !TYPES.includes(spec.type)) {
      problems.push(`parameter "${name}": unknown type ${show(spec.type)} (expected one of ${TYPES.join(', ')})`);
      continue;
    }
    const type = parameterType(spec);
    if (spec.default !== undefined && !matchesType(type, spec.default)) {
      problems.push(`parameter "${name}": default ${show(spec.default)} is not of type ${type}`);
    }
  }
  return problems;
}

/** Parse a `--param` value given on the command line; throws a one-line message on a bad value. */
export function parseParameterValue(name: string, type: ParameterType, raw: string): unknown {
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
    case 'list': {
      if (raw.trim().startsWith('[')) {
        let v: unknown;
        try {
          v = JSON.parse(raw);
        } catch {
          throw bad('a JSON array or comma-separated values');
        }
        if (!Array.isArray(v)) throw bad('a JSON array or comma-separated values');
        return v;
      }
      if (raw.trim() === '') return [];
      return raw.split(',').map((s) => {
        const t = s.trim();
        const n = Number(t);
        return t !== '' && Number.isFinite(n) ? n : t;
      });
    }
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        throw bad('JSON');
      }
  }
}

/**
 * The run's parameter values: defaults overridden by `--param name=value` strings. Returns the
 * values and every problem found (unknown names, bad format, bad values, missing required).
 */
export function resolveParameters(
  flow: FlowSpec,
  given: readonly string[],
): { values: Record<string, unknown>; problems: string[] } {
  const declared = flow.parameters ?? {};
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(declared)) {
    if (spec.default !== undefined) values[name] = spec.default;
  }
  for (const item of given) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      problems.push(`--param ${show(item)}: expected name=value`);
      continue;
    }
    const name = item.slice(0, eq);
    const raw = item.slice(eq + 1);
    const spec = declared[name];
    if (!spec) {
      const known = Object.keys(declared);
      problems.push(
        `--param ${name}: flow "${flow.name}" has no parameter ${show(name)} (parameters: ${known.length ? known.join(', ') : 'none'})`,
      );
      continue;
    }
    try {
      values[name] = parseParameterValue(name, parameterType(spec), raw);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const name of Object.keys(declared)) {
    if (!(name in values)) problems.push(`parameter "${name}" has no default: give it with --param ${name}=VALUE`);
  }
  return { values, problems };
}

/** The environment variable a parameter reaches a task through. */
export function parameterEnvName(name: string): string {
  return `MF_PARAM_${name.toUpperCase()}`;
}

/** How a value is put into an environment variable: strings as they are, the rest as JSON. */
export function envValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

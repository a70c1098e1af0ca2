import { MAX_RETRY_TIMES, StepPolicies } from './types';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER.test(value);
}

/** How a value reads in an error message: strings quoted, everything else as JSON. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isPositive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
const isWholeAtLeast0 = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;

type Check = [key: string, ok: (v: unknown) => boolean, expected: string];

const RESOURCE_CHECKS: readonly Check[] = [
  ['cpu', isPositive, 'a positive number of vCPUs'],
  ['memory', isPositive, 'a positive number of MiB'],
  ['gpu', isWholeAtLeast0, 'a whole number ≥ 0'],
  ['sharedMemory', isPositive, 'a positive number of MiB'],
  ['tmpfs', isPositive, 'a positive number of MiB'],
  ['ephemeralStorage', isPositive, 'a positive number of GiB'],
];
const RETRY_CHECKS: readonly Check[] = [
  ['times', (v) => isWholeAtLeast0(v) && (v as number) <= MAX_RETRY_TIMES, `a whole number from 0 to ${MAX_RETRY_TIMES}`],
  ['minutesBetweenRetries', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number ≥ 0'],
];
const TIMEOUT_CHECKS: readonly Check[] = [
  ['seconds', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number ≥ 0'],
  ['minutes', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number ≥ 0'],
  ['hours', (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a number ≥ 0'],
];
const CATCH_CHECKS: readonly Check[] = [
  ['var', isIdentifier, 'a valid identifier (letters, digits, _; not starting with a digit)'],
  ['printException', (v) => typeof v === 'boolean', 'true or false'],
];

function checkFields(where: string, policy: string, value: unknown, checks: readonly Check[]): string[] {
  if (value === undefined) return [];
  if (!isObject(value)) return [`${where}: ${policy} must be an object, got ${show(value)}`];
  const problems: string[] = [];
  const known = new Set(checks.map(([k]) => k));
  for (const key of Object.keys(value)) {
    if (!known.has(key)) problems.push(`${where}: unknown ${policy} field ${show(key)} (expected one of ${[...known].join(', ')})`);
  }
  for (const [key, ok, expected] of checks) {
    const v = value[key];
    if (v !== undefined && !ok(v)) problems.push(`${where}: ${policy}.${key} must be ${expected}, got ${show(v)}`);
  }
  return problems;
}

/**
 * Layer-independent checks of a step's policies (DESIGN §3). Each message names the step and the
 * offending value. `where` is e.g. `step "train"` or `flow defaults`.
 */
export function validatePolicies(where: string, policies: StepPolicies): string[] {
  const problems = [
    ...checkFields(where, 'resources', policies.resources, RESOURCE_CHECKS),
    ...checkFields(where, 'retry', policies.retry, RETRY_CHECKS),
    ...checkFields(where, 'timeout', policies.timeout, TIMEOUT_CHECKS),
    ...checkFields(where, 'catch', policies.catch, CATCH_CHECKS),
  ];
  const t = policies.timeout;
  if (isObject(t) && !problems.some((p) => p.includes('timeout'))) {
    const total = timeoutSeconds(t);
    if (total === undefined || total <= 0) {
      problems.push(`${where}: timeout must be greater than zero, got ${show(t)}`);
    }
  }
  return problems;
}

/** Sum of seconds + minutes + hours, undefined when no part is given. */
export function timeoutSeconds(t: { seconds?: number; minutes?: number; hours?: number }): number | undefined {
  if (t.seconds === undefined && t.minutes === undefined && t.hours === undefined) return undefined;
  return (t.seconds ?? 0) + (t.minutes ?? 0) * 60 + (t.hours ?? 0) * 3600;
}

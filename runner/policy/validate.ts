import { describeValue } from '../../core/describe-value';
import {
  MAX_CPU,
  MAX_EPHEMERAL_STORAGE_GIB,
  MAX_GPU,
  MAX_MEMORY_MIB,
  MAX_RETRY_DELAY_MINUTES,
  MAX_RETRY_TIMES,
  MAX_TIMEOUT_SECONDS,
  MIN_EPHEMERAL_STORAGE_GIB,
} from '../limits';
import { unknownFields } from '../unknown-fields';
import { StepPolicies } from './types';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER.test(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const days = (seconds: number) => `${seconds / 86_400} days`;

/** A field check: what the value must be when it is wrong, undefined when it is fine. */
type Rule = (v: unknown) => string | undefined;
type Check = [key: string, rule: Rule];

const positiveAtMost = (unit: string, max: number, maxText: string): Rule => (v) => {
  if (!isNumber(v) || v <= 0) return `a positive number of ${unit}`;
  return v > max ? `at most ${maxText}` : undefined;
};
const wholeFromTo = (min: number, max: number, unit = ''): Rule => (v) =>
  isNumber(v) && Number.isInteger(v) && v >= min && v <= max ? undefined : `a whole number${unit} from ${min} to ${max}`;
const atLeast0: Rule = (v) => (isNumber(v) && v >= 0 ? undefined : 'a number ≥ 0');
const maxMemory = `${MAX_MEMORY_MIB} MiB (4 TiB, the largest instance memory)`;

const RESOURCE_CHECKS: readonly Check[] = [
  ['cpu', positiveAtMost('vCPUs', MAX_CPU, `${MAX_CPU} vCPUs (the largest instance size)`)],
  ['memory', positiveAtMost('MiB', MAX_MEMORY_MIB, maxMemory)],
  ['gpu', (v) => (isNumber(v) && Number.isInteger(v) && v >= 0 ? (v > MAX_GPU ? `at most ${MAX_GPU} GPUs (the most one instance has)` : undefined) : 'a whole number ≥ 0')],
  ['sharedMemory', positiveAtMost('MiB', MAX_MEMORY_MIB, maxMemory)],
  ['tmpfs', positiveAtMost('MiB', MAX_MEMORY_MIB, maxMemory)],
  ['ephemeralStorage', wholeFromTo(MIN_EPHEMERAL_STORAGE_GIB, MAX_EPHEMERAL_STORAGE_GIB, ' of GiB')],
];
const RETRY_CHECKS: readonly Check[] = [
  ['times', wholeFromTo(0, MAX_RETRY_TIMES)],
  [
    'minutesBetweenRetries',
    (v) => {
      if (!isNumber(v) || v < 0) return 'a number ≥ 0';
      return v > MAX_RETRY_DELAY_MINUTES ? `at most ${MAX_RETRY_DELAY_MINUTES} (${days(MAX_RETRY_DELAY_MINUTES * 60)})` : undefined;
    },
  ],
];
const TIMEOUT_CHECKS: readonly Check[] = [
  ['seconds', atLeast0],
  ['minutes', atLeast0],
  ['hours', atLeast0],
];
const CATCH_CHECKS: readonly Check[] = [
  ['var', (v) => (isIdentifier(v) ? undefined : 'a valid identifier (letters, digits, _; not starting with a digit)')],
  ['printException', (v) => (typeof v === 'boolean' ? undefined : 'true or false')],
];

/** The policies a step (or the flow's defaults) may have, and the checks of their fields. */
const POLICY_CHECKS: Readonly<Record<keyof StepPolicies, readonly Check[]>> = {
  resources: RESOURCE_CHECKS,
  retry: RETRY_CHECKS,
  timeout: TIMEOUT_CHECKS,
  catch: CATCH_CHECKS,
};

/** The policy names: the fields of a step that are policies, and the only fields of `defaults`. */
export const POLICY_NAMES = Object.keys(POLICY_CHECKS) as readonly (keyof StepPolicies)[];

function checkFields(where: string, policy: string, value: unknown, checks: readonly Check[]): string[] {
  if (value === undefined) return [];
  if (!isObject(value)) return [`${where}: ${policy} must be an object, got ${describeValue(value)}`];
  const problems = unknownFields(where, `${policy} field`, value, checks.map(([k]) => k));
  for (const [key, rule] of checks) {
    const v = value[key];
    const expected = v === undefined ? undefined : rule(v);
    if (expected) problems.push(`${where}: ${policy}.${key} must be ${expected}, got ${describeValue(v)}`);
  }
  return problems;
}

/**
 * Layer-independent checks of a step's policies (DESIGN §3, bounds in runner/limits.ts). Each
 * message names the step and the offending value. `where` is e.g. `step "train"` or
 * `flow defaults`. Unknown fields of the policies themselves are reported here; unknown fields of
 * the step are the flow validation's business.
 */
export function validatePolicies(where: string, policies: StepPolicies): string[] {
  const problems: string[] = [];
  for (const name of POLICY_NAMES) problems.push(...checkFields(where, name, policies[name], POLICY_CHECKS[name]));
  const t = policies.timeout;
  if (isObject(t) && !problems.some((p) => p.startsWith(`${where}: timeout`) || p.includes('timeout field'))) {
    const total = timeoutSeconds(t);
    if (total === undefined || total <= 0) {
      problems.push(`${where}: timeout must be greater than zero, got ${describeValue(t)}`);
    } else if (total > MAX_TIMEOUT_SECONDS) {
      problems.push(`${where}: timeout must be at most ${days(MAX_TIMEOUT_SECONDS)} (${MAX_TIMEOUT_SECONDS} s), got ${describeValue(t)} (${total} s)`);
    }
  }
  return problems;
}

/** Sum of seconds + minutes + hours, undefined when no part is given. */
export function timeoutSeconds(t: { seconds?: number; minutes?: number; hours?: number }): number | undefined {
  if (t.seconds === undefined && t.minutes === undefined && t.hours === undefined) return undefined;
  return (t.seconds ?? 0) + (t.minutes ?? 0) * 60 + (t.hours ?? 0) * 3600;
}

import { DEFAULT_RESOURCES, DEFAULT_RETRY, EffectivePolicies, StepPolicies } from './types';
import { timeoutSeconds } from './validate';

export interface NormalizeOptions {
  /** `--with retry`: steps without their own retry policy get the default one. */
  readonly withRetry?: boolean;
  /** Flow-wide default policies, merged into each step's policy field by field. */
  readonly flowDefaults?: StepPolicies;
}

/** A default policy and a step's own, field by field (the step's fields win); undefined when neither exists. */
function merged<T extends object>(fallback: T | undefined, own: T | undefined): T | undefined {
  if (fallback === undefined) return own;
  if (own === undefined) return fallback;
  return { ...fallback, ...own };
}

/**
 * Apply defaults and sum the timeout parts. Call only on validated policies.
 *
 * Flow defaults merge into every policy field by field: `defaults: {retry: {minutesBetweenRetries:
 * 1}}` with a step's `retry: {times: 2}` gives 2 retries a minute apart; the same for resources and
 * catch. The timeout is one duration written in parts that add up, so a step's timeout replaces
 * the default's as a whole (`{minutes: 5}` under a default `{hours: 1}` is 5 minutes, not 65).
 */
export function effectivePolicies(step: StepPolicies, options: NormalizeOptions = {}): EffectivePolicies {
  const defaults = options.flowDefaults ?? {};
  const resources = { ...DEFAULT_RESOURCES, ...defaults.resources, ...step.resources };
  const retry = merged(defaults.retry, step.retry) ?? (options.withRetry ? {} : undefined);
  const timeout = step.timeout ?? defaults.timeout;
  const catchPolicy = merged(defaults.catch, step.catch);
  return {
    resources,
    retries: retry ? (retry.times ?? DEFAULT_RETRY.times) : 0,
    retryDelayMs: retry ? (retry.minutesBetweenRetries ?? DEFAULT_RETRY.minutesBetweenRetries) * 60_000 : 0,
    timeoutSeconds: timeout ? timeoutSeconds(timeout) : undefined,
    catch: catchPolicy ? { var: catchPolicy.var, printException: catchPolicy.printException ?? true } : undefined,
  };
}

import { DEFAULT_RESOURCES, DEFAULT_RETRY, EffectivePolicies, StepPolicies } from './types';
import { timeoutSeconds } from './validate';

export interface NormalizeOptions {
  /** `--with retry`: steps without their own retry policy get the default one. */
  readonly withRetry?: boolean;
  /** Flow-wide default policies; a step's own policy replaces the flow's, field by field. */
  readonly flowDefaults?: StepPolicies;
}

/** Apply defaults and sum the timeout parts. Call only on validated policies. */
export function effectivePolicies(step: StepPolicies, options: NormalizeOptions = {}): EffectivePolicies {
  const defaults = options.flowDefaults ?? {};
  const resources = { ...DEFAULT_RESOURCES, ...defaults.resources, ...step.resources };
  const retry = step.retry ?? defaults.retry ?? (options.withRetry ? {} : undefined);
  const timeout = step.timeout ?? defaults.timeout;
  const catchPolicy = step.catch ?? defaults.catch;
  return {
    resources,
    retries: retry ? (retry.times ?? DEFAULT_RETRY.times) : 0,
    retryDelayMs: retry ? (retry.minutesBetweenRetries ?? DEFAULT_RETRY.minutesBetweenRetries) * 60_000 : 0,
    timeoutSeconds: timeout ? timeoutSeconds(timeout) : undefined,
    catch: catchPolicy ? { var: catchPolicy.var, printException: catchPolicy.printException ?? true } : undefined,
  };
}

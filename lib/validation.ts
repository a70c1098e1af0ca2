import { IConstruct } from 'constructs';
import { Token } from 'aws-cdk-lib';
import { describeValue } from '../core/describe-value';

export { describeValue } from '../core/describe-value';

/**
 * A construct prop or context value that cannot work. The message names the construct (its
 * path in the tree), the prop, the value given, and what was expected — so the CDK app can print
 * it as one line instead of a stack trace.
 */
export class MetaflowValidationError extends Error {
  constructor(
    message: string,
    /** For a bad construct prop: the construct path, the prop, and what was expected. */
    readonly prop?: { readonly path: string; readonly name: string; readonly expected: string },
  ) {
    super(message);
    this.name = 'MetaflowValidationError';
  }
}

/** Throw a {@link MetaflowValidationError}: `<path>: <prop> must be <expected>, got <value>`. */
export function invalidProp(scope: IConstruct, prop: string, value: unknown, expected: string): never {
  throw new MetaflowValidationError(
    `${scope.node.path}: ${prop} must be ${expected}, got ${describeValue(value)}`,
    { path: scope.node.path, name: prop, expected },
  );
}

/** A plain number (not a CDK token) to validate now; tokens are validated by CloudFormation at deploy time. */
function isConcrete(value: number): boolean {
  return !Token.isUnresolved(value);
}

/** Check `value` is an integer within [min, max] (inclusive). Tokens pass through. */
export function checkIntegerInRange(
  scope: IConstruct,
  prop: string,
  value: number,
  min: number,
  max: number,
): void {
  if (!isConcrete(value)) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalidProp(scope, prop, value, `an integer from ${min} to ${max}`);
  }
}

/**
 * The one value formatter for error messages, shared by the constructs (lib/) and the runner
 * (runner/): every message that quotes a value a user gave renders it through here, so
 * `got "4GB"`, `got -1`, `got NaN` and `got {"times":12}` read the same everywhere.
 */

/** Longest rendering of a value in a message; longer ones are cut with `…`. */
export const MAX_DESCRIBED_LENGTH = 200;

/**
 * Render a value for a one-line error message: strings quoted (escapes keep it on one line),
 * arrays and objects as JSON, numbers as written (`NaN`, `Infinity` included), `undefined`,
 * functions and symbols by their kind. Long renderings are cut at {@link MAX_DESCRIBED_LENGTH}.
 */
export function describeValue(value: unknown): string {
  const text = render(value);
  return text.length > MAX_DESCRIBED_LENGTH ? `${text.slice(0, MAX_DESCRIBED_LENGTH - 1)}…` : text;
}

function render(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return `a function${value.name ? ` (${value.name})` : ''}`;
    case 'symbol':
      return value.toString();
    default:
      try {
        return JSON.stringify(value) ?? String(value);
      } catch {
        return String(value);
      }
  }
}

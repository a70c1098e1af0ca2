import { describeValue } from '../core/describe-value';

/**
 * The known name closest to `word` when it is a likely typo (`retries` → `retry`,
 * `minutesBetweenRetry` → `minutesBetweenRetries`), else undefined.
 */
export function closestName(word: string, known: readonly string[]): string | undefined {
  if (known.length === 0) return undefined;
  const lower = word.toLowerCase();
  const caseOnly = known.find((k) => k.toLowerCase() === lower);
  if (caseOnly) return caseOnly;
  // Loaded only when there is a typo to explain: `--help` and clean runs never pay for it.
  const { closest, distance } = require('fastest-levenshtein') as typeof import('fastest-levenshtein');
  const best = closest(word, known);
  // A typo or a plural changes a few characters: at most 3, and at most half of the name.
  return distance(word, best) <= Math.min(3, Math.ceil(best.length / 2)) ? best : undefined;
}

/**
 * One problem per key of `value` that is not in `known`, each naming where it is, the key, and
 * the closest known field or the list of known fields:
 * `step "train": unknown field "retries" (did you mean "retry"?)`.
 * `what` is e.g. `field` or `retry field`.
 */
export function unknownFields(where: string, what: string, value: object, known: readonly string[]): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    const hint = near ? `did you mean ${describeValue(near)}?` : `expected one of ${known.join(', ')}`;
    problems.push(`${where}: unknown ${what} ${describeValue(key)} (${hint})`);
  }
  return problems;
}

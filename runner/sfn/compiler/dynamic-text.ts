/**
 * Text that is only known when the state machine runs (the run id, the attempt, a foreach child's
 * offset, a parameter's value), written as plain strings with embedded TOKENS so that the task
 * environment can be built by the same string-map code the Batch layer uses (runner/contract,
 * the output-passing env builder), then turned into ASL: a field whose value holds a token
 * becomes `"<field>.$": "States.Format('…{}…', <paths>)"`.
 *
 * A token is `\u0001<kind><estimate>|<expression>\u0001`:
 * - kind `s`: the expression is a string (a JSONPath of a string, or an intrinsic returning one);
 * - kind `v`: any other JSON value, inserted as `States.Format` renders it (numbers as digits);
 * - kind `j`: a JSON value rendered as JSON text (`States.JsonToString`) — parameters, caught failures;
 * - estimate: the characters the value may take at run time, for the size checks before deploying.
 */

const MARK = '\u0001';
const TOKEN = /\u0001([svj])(\d+)\|([^\u0001]*)\u0001/g;

export type DynamicKind = 's' | 'v' | 'j';

/** A token standing for `expression` (a JSONPath or intrinsic) in text built before run time. */
export function dynamic(expression: string, kind: DynamicKind, estimate: number): string {
  return `${MARK}${kind}${Math.max(0, Math.ceil(estimate))}|${expression}${MARK}`;
}

/** Whether the text holds a token. */
export function isDynamic(text: string): boolean {
  return text.includes(MARK);
}

/** Escape a literal for an intrinsic function's quoted string argument (`'`, `{`, `}`, `\`). */
export function intrinsicLiteral(text: string): string {
  return text.replace(/[\\'{}]/g, (c) => `\\${c}`);
}

/** The ASL expression computing `text` at run time (call only when {@link isDynamic}). */
export function aslExpression(text: string): string {
  const literals: string[] = [];
  const args: string[] = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    literals.push(text.slice(last, m.index));
    const [, kind, , expression] = m;
    args.push(kind === 'j' ? `States.JsonToString(${expression})` : expression);
    last = m.index! + m[0].length;
  }
  literals.push(text.slice(last));
  // A string, or JSON text, alone needs no formatting.
  const only = [...text.matchAll(TOKEN)];
  if (only.length === 1 && only[0][0] === text && only[0][1] !== 'v') return args[0];
  const template = literals.map(intrinsicLiteral).join('{}');
  return `States.Format('${template}', ${args.join(', ')})`;
}

/** The text as it may look at run time at its longest (tokens replaced by their estimate). */
export function worstCase(text: string): string {
  return text.replace(TOKEN, (_m, _kind: string, estimate: string) => 'x'.repeat(Number(estimate)));
}

/**
 * Turn a payload template built with tokens into ASL: every string field holding a token becomes
 * a `.$` field with its expression. Arrays of strings must not hold tokens (ASL has no per-item
 * `.$`); that is a compiler bug, reported as such.
 */
export function toAsl(value: unknown, where = '$'): unknown {
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      if (typeof v === 'string' && isDynamic(v)) throw new Error(`compiler bug: run-time text inside an array at ${where}[${i}]`);
      return toAsl(v, `${where}[${i}]`);
    });
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'string' && isDynamic(v)) out[`${k}.$`] = aslExpression(v);
      else out[k] = toAsl(v, `${where}.${k}`);
    }
    return out;
  }
  return value;
}

/** The payload with every token at its estimated longest (for the size checks). */
export function worstCasePayload(value: unknown): unknown {
  if (typeof value === 'string') return worstCase(value);
  if (Array.isArray(value)) return value.map(worstCasePayload);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, worstCasePayload(v)]));
  return value;
}

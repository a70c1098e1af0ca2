/**
 * EventBridge schedule expressions, checked before any call: `cron(min hour day-of-month month
 * day-of-week year)` (six fields; exactly one of day-of-month and day-of-week is `?`) or
 * `rate(<n> <unit>)` (unit minute/hour/day, singular for 1, plural otherwise). The fields and their
 * wildcards follow EventBridge's "Schedule expressions" documentation.
 */
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';

interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const FIELDS: readonly Field[] = [
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day-of-week', min: 1, max: 7, names: DAYS },
  { name: 'year', min: 1970, max: 2199 },
];
const DAY_OF_MONTH = 2;
const DAY_OF_WEEK = 4;
const SYNTAX = 'cron(minutes hours day-of-month month day-of-week year) or rate(<n> minute[s]|hour[s]|day[s])';

/** Check `expression`; returns it, or throws one line naming the expression and what is wrong. */
export function checkScheduleExpression(expression: string): string {
  const problem = scheduleExpressionProblem(expression.trim());
  if (problem) throw new UserInputError(`bad schedule expression ${describeValue(expression)}: ${problem} (EventBridge syntax: ${SYNTAX})`);
  return expression.trim();
}

function scheduleExpressionProblem(expression: string): string | undefined {
  const rate = /^rate\((.*)\)$/.exec(expression);
  if (rate) return rateProblem(rate[1].trim());
  const cron = /^cron\((.*)\)$/.exec(expression);
  if (!cron) return 'must be cron(...) or rate(...)';
  const fields = cron[1].trim().split(/\s+/);
  if (fields.length !== FIELDS.length) return `cron needs ${FIELDS.length} fields, got ${fields.length}`;
  const dom = fields[DAY_OF_MONTH] === '?';
  const dow = fields[DAY_OF_WEEK] === '?';
  if (dom === dow) return 'exactly one of day-of-month and day-of-week must be "?"';
  for (let i = 0; i < FIELDS.length; i++) {
    if (fields[i] === '?' && (i === DAY_OF_MONTH || i === DAY_OF_WEEK)) continue;
    for (const item of fields[i].split(',')) {
      const problem = itemProblem(FIELDS[i], i, item);
      if (problem) return `${FIELDS[i].name} ${describeValue(fields[i])}: ${problem}`;
    }
  }
  return undefined;
}

function rateProblem(body: string): string | undefined {
  const match = /^(\d+)\s+(minute|minutes|hour|hours|day|days)$/.exec(body);
  if (!match) return 'rate takes "<positive whole number> <minute|minutes|hour|hours|day|days>"';
  const value = Number(match[1]);
  if (value < 1) return 'the rate must be at least 1';
  const plural = match[2].endsWith('s');
  if (value === 1 && plural) return `use the singular unit for 1 (${match[2].slice(0, -1)})`;
  if (value > 1 && !plural) return `use the plural unit for ${value} (${match[2]}s)`;
  return undefined;
}

function itemProblem(field: Field, index: number, item: string): string | undefined {
  if (item === '') return 'empty list item';
  if (index === DAY_OF_MONTH && /^(L|LW)$/.test(item)) return undefined;
  if (index === DAY_OF_MONTH && /^\d+W$/.test(item)) return valueProblem(field, item.slice(0, -1));
  if (index === DAY_OF_WEEK && item === 'L') return undefined;
  if (index === DAY_OF_WEEK && /^\w+L$/.test(item)) return valueProblem(field, item.slice(0, -1));
  if (index === DAY_OF_WEEK && item.includes('#')) {
    const [day, nth] = item.split('#');
    return valueProblem(field, day) ?? (/^[1-5]$/.test(nth) ? undefined : `"#${nth}" must be #1 to #5`);
  }
  const [range, step, extra] = item.split('/');
  if (extra !== undefined) return `"${item}" has more than one "/"`;
  if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `step "${step}" must be a positive whole number`;
  if (range === '*') return undefined;
  const [from, to, more] = range.split('-');
  if (more !== undefined) return `"${range}" is not a range`;
  return valueProblem(field, from) ?? (to !== undefined ? valueProblem(field, to) : undefined);
}

function valueProblem(field: Field, value: string): string | undefined {
  if (field.names?.includes(value.toUpperCase())) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (n >= field.min && n <= field.max) return undefined;
  const names = field.names ? ` or ${field.names[0]}–${field.names[field.names.length - 1]}` : '';
  return `"${value}" is not ${field.min}–${field.max}${names}`;
}

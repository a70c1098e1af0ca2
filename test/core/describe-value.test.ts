import { describeValue, MAX_DESCRIBED_LENGTH } from '../../core/describe-value';
import { describeValue as fromValidation } from '../../lib/validation';

describe('describeValue: the one value formatter of lib and runner messages', () => {
  test.each<[string, unknown, string]>([
    ['a string, quoted', '4GB', '"4GB"'],
    ['a string with a newline stays on one line', 'a\nb', '"a\\nb"'],
    ['a number', -1, '-1'],
    ['NaN and Infinity as written (JSON would say null)', NaN, 'NaN'],
    ['Infinity', -Infinity, '-Infinity'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an object as JSON', { times: 12 }, '{"times":12}'],
    ['an array as JSON', ['A=1'], '["A=1"]'],
    ['a bigint', 10n, '10n'],
    ['a function by its kind', function train() {}, 'a function (train)'],
    ['a symbol', Symbol('x'), 'Symbol(x)'],
  ])('%s', (_name, value, expected) => {
    expect(describeValue(value)).toBe(expected);
  });

  test('a cyclic object falls back to String()', () => {
    const o: Record<string, unknown> = {};
    o.self = o;
    expect(describeValue(o)).toBe('[object Object]');
  });

  test('a long value is cut so the message stays readable', () => {
    const text = describeValue('x'.repeat(10_000));
    expect(text).toHaveLength(MAX_DESCRIBED_LENGTH);
    expect(text.endsWith('…')).toBe(true);
  });

  test('lib/validation exports the same function (no second formatter)', () => {
    expect(fromValidation).toBe(describeValue);
  });
});

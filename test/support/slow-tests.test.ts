import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The slow-first order names real files: a renamed test would silently lose its place at the front. */
test('every file in test/support/slow-tests.json exists', () => {
  const slow = require('./slow-tests.json') as string[];
  expect(slow.length).toBeGreaterThan(10);
  expect(slow.filter((file) => !existsSync(join(__dirname, '..', '..', file)))).toEqual([]);
});

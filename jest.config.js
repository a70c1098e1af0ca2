/**
 * Jest transforms TypeScript with sucrase: pure JavaScript, no type-checking in workers (the
 * `test` script type-checks the whole project once with `tsc`). Type-checking aws-cdk-lib inside
 * every worker costs ~18 s per file; sucrase costs milliseconds. (swc and jest 30 are avoided:
 * their per-platform binaries are not all served by the registry, which breaks `npm ci`.)
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '\\.(js|jsx|ts|tsx)$': '@sucrase/jest-plugin' },
  testTimeout: 60000,
  cacheDirectory: '<rootDir>/.jest-cache',
};

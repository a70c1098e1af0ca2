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
  // Jest's default is one worker per core minus one: a single worker on the 2-core CI machine. Many
  // tests wait on child processes and moto_server, so two workers halve the wall time (225 s → 122 s).
  maxWorkers: 2,
  cacheDirectory: '<rootDir>/.jest-cache',
  // Every temporary directory of a run in one place, removed at the end (test/support/jest-temp-dir.js).
  globalSetup: '<rootDir>/test/support/jest-temp-dir-setup.js',
  globalTeardown: '<rootDir>/test/support/jest-temp-dir-teardown.js',
};

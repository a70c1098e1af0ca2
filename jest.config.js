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
  // A last guard, not a speed limit: tests wait on conditions (a process's exit, a run's end), and
  // on the 2-core machine under load (load 8–30) a test that takes 10 s idle takes minutes.
  testTimeout: 180_000,
  // Jest's default is one worker per core minus one: a single worker on the 2-core CI machine. Most
  // tests wait on child processes (containers in stand-ins, moto_server, PostgreSQL, the CLI), so
  // more workers overlap that waiting: the whole suite took 566 s with 2 workers (fresh clone,
  // CPU ~1 core busy on average) and 454 s with 4. Six were slower than four (fresh clone, slow
  // files first: jest 600 s against 527 s, CPU 996 s against 814 s: more processes contending).
  maxWorkers: 4,
  // A guard only: a worker whose heap is above this after a test file is replaced by a fresh one.
  // The suite's workers stay far below it (docs/performance.md); a leak shows as restarts, not OOM.
  workerIdleMemoryLimit: '1GB',
  cacheDirectory: '<rootDir>/.jest-cache',
  // Every temporary directory of a run in one place, removed at the end (test/support/jest-temp-dir.js).
  // Longest files first (a fresh clone has no timing cache): test/support/slow-first-sequencer.js.
  testSequencer: '<rootDir>/test/support/slow-first-sequencer.js',
  globalSetup: '<rootDir>/test/support/jest-temp-dir-setup.js',
  globalTeardown: '<rootDir>/test/support/jest-temp-dir-teardown.js',
};

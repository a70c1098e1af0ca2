/**
 * Jest transforms TypeScript with swc (no type-checking in workers — `tsc` type-checks the
 * whole project once, see the `test` script). Type-checking aws-cdk-lib inside every worker
 * costs ~18 s per file; swc costs milliseconds.
 */
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      {
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      },
    ],
  },
  testTimeout: 60000,
  cacheDirectory: '<rootDir>/.jest-cache',
};

#!/usr/bin/env node
/**
 * The `metaflow-cdk` command: package.json's `bin` points at the compiled form of this file
 * (dist/runner/cli/bin.js), so the CLI starts from plain JavaScript. In the repository,
 * bin/metaflow-cdk.js runs this file from source through tsx.
 */
import { main } from './main';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // main() maps every expected failure to a message and an exit code; reaching here is a bug.
    const detail = err instanceof Error && err.stack ? err.stack : String(err);
    process.stderr.write(`metaflow-cdk: internal error: ${detail}\n`);
    process.exitCode = 70;
  },
);

#!/usr/bin/env node
// The `metaflow-cdk` command. It loads the TypeScript sources through tsx's CommonJS hook, the
// same hook that lets `run` load a user's `.ts` flow file with no build step.
'use strict';
require('tsx/cjs/api').register();
const { main } = require('../runner/cli/main.ts');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // main() maps every expected failure to a message and an exit code; reaching here is a bug.
    process.stderr.write(`metaflow-cdk: internal error: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 70;
  },
);

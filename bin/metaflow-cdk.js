#!/usr/bin/env node
// The `metaflow-cdk` command in this repository: it runs the TypeScript sources through tsx's
// CommonJS hook, so it always runs the code as it is now, with no build step. The published
// package's `bin` is the compiled dist/runner/cli/bin.js instead (see package.json), which starts
// without transpiling anything.
'use strict';
require('tsx/cjs/api').register();
require('../runner/cli/bin.ts');

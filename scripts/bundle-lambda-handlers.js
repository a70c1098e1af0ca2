#!/usr/bin/env node
// Part of `npm run build`: after tsc has compiled lib/ to dist/, bundle every Lambda handler of
// the constructs into <handler>/bundle/index.js, which the published package ships and the
// constructs use (so a user's `cdk synth` needs no esbuild and no Docker).
'use strict';
const { join } = require('node:path');
const libDir = join(__dirname, '..', 'dist', 'lib');
const { bundleHandler, LAMBDA_HANDLERS, PREBUILT_BUNDLE_DIR } = require(join(libDir, 'lambda-bundle', 'bundle.js'));
for (const { dir, options } of LAMBDA_HANDLERS) {
  const handlerDir = join(libDir, dir);
  bundleHandler(join(handlerDir, PREBUILT_BUNDLE_DIR), handlerDir, options);
}

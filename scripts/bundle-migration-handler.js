#!/usr/bin/env node
// Part of `npm run build`: after tsc has compiled lib/ to dist/, bundle the migration Lambda
// handler into dist/lib/metadata/migration-handler/bundle/index.js, which the published package
// ships and the construct uses (so a user's `cdk synth` needs no esbuild and no Docker).
'use strict';
const { join } = require('node:path');
const handlerDir = join(__dirname, '..', 'dist', 'lib', 'metadata', 'migration-handler');
const { bundleMigrationHandler, PREBUILT_BUNDLE_DIR } = require(join(handlerDir, 'bundle.js'));
bundleMigrationHandler(join(handlerDir, PREBUILT_BUNDLE_DIR), handlerDir);

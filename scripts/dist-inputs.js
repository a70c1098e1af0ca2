#!/usr/bin/env node
// What dist/ is built from, as one hash, so a test that packs the package can tell whether the
// dist/ of the last `npm run build` is current (a fresh clone's `npm ci` has just built it) and
// skip building it again (scripts/packed-app.ts). The last step of `npm run build` records the
// hash (`--record`); a failed or partial build records nothing, and `rm -rf dist` at the start of
// the next build leaves no dist/ to match.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

const REPO_ROOT = join(__dirname, '..');
/** Everything `npm run build` reads: the compiled folders, its scripts, its configs, the locked dependencies. */
const INPUTS = ['core', 'lib', 'runner', 'scripts/bundle-lambda-handlers.js', 'scripts/copy-task-runtime.js', 'scripts/make-bin-executable.js',
  'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/** Where the hash of the last complete build is kept (outside dist/, which is published). */
const recordOf = (root) => join(root, 'node_modules', '.cache', 'metaflow-cdk', 'dist-inputs.sha256');
/** A file every complete build writes. */
const builtOf = (root) => join(root, 'dist', 'runner', 'cli', 'bin.js');

function filesUnder(root, path) {
  if (!existsSync(path)) return [];
  if (statSync(path).isFile()) return [path];
  return readdirSync(path, { withFileTypes: true, recursive: true })
    .map((e) => join(e.parentPath, e.name))
    .filter((file) => statSync(file).isFile() && !/(^|\/)(__pycache__|node_modules)\//.test(relative(root, file)) && !file.endsWith('.pyc'));
}

/** The hash of every input's path and content. */
function distInputsHash(root = REPO_ROOT) {
  const hash = createHash('sha256');
  for (const input of INPUTS) {
    for (const file of filesUnder(root, join(root, input)).sort()) {
      hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
    }
  }
  return hash.digest('hex');
}

/** True when dist/ was built, completely, from the inputs as they are now. */
function distIsCurrent(root = REPO_ROOT) {
  return existsSync(builtOf(root)) && existsSync(recordOf(root)) && readFileSync(recordOf(root), 'utf8').trim() === distInputsHash(root);
}

/** Record that dist/ is built from the inputs as they are now (the last step of `npm run build`). */
function recordDistInputs(root = REPO_ROOT) {
  mkdirSync(join(recordOf(root), '..'), { recursive: true });
  writeFileSync(recordOf(root), `${distInputsHash(root)}\n`);
}

module.exports = { distInputsHash, distIsCurrent, recordDistInputs };

if (require.main === module) {
  if (process.argv[2] !== '--record' || process.argv.length > 3) {
    console.error(`dist-inputs.js: expected --record, got ${JSON.stringify(process.argv.slice(2).join(' '))}`);
    process.exit(2);
  }
  recordDistInputs();
}

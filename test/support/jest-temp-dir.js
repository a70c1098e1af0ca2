/**
 * One temporary directory per `jest` run, removed at its end: globalSetup points TMPDIR at it
 * before the workers start (they inherit the environment), so every `mkdtemp(os.tmpdir())` of the
 * tests and every `cdk.out*` directory aws-cdk-lib's App makes when given no outdir lands there
 * instead of piling up in the machine's /tmp.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const KEY = 'METAFLOW_CDK_JEST_TMPDIR';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-cdk-jest-'));
  process.env[KEY] = dir;
  process.env.TMPDIR = dir;
}

async function teardown() {
  const dir = process.env[KEY];
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { setup, teardown };

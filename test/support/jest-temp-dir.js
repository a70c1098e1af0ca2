/**
 * One temporary directory per `jest` run, removed at its end: globalSetup points TMPDIR at it
 * before the workers start (they inherit the environment), so every `mkdtemp(os.tmpdir())` of the
 * tests and every `cdk.out*` directory aws-cdk-lib's App makes when given no outdir lands there
 * instead of piling up in the machine's /tmp. The workers' moto_servers (test/support/moto.ts
 * `workerMoto`) record their pids there and are stopped here.
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
  if (!dir) return;
  for (const name of fs.readdirSync(dir).filter((n) => /^moto-worker-.*\.json$/.test(n))) {
    try {
      process.kill(JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')).pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { setup, teardown };

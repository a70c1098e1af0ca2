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
const { spawnSync } = require('node:child_process');

const KEY = 'METAFLOW_CDK_JEST_TMPDIR';

async function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-cdk-jest-'));
  process.env[KEY] = dir;
  process.env.TMPDIR = dir;
  directPython3(dir);
  withoutBuiltinTemplateValidation();
}

/**
 * aws-cdk-lib validates every template it synthesizes with its built-in CloudFormation validator
 * (a WebAssembly module; App's `builtinCloudFormationValidation`, on by default, its findings
 * warnings): ~6 s of CPU to start in each test file and ~1 s per stack after, on every
 * Template.fromStack. That was about half the CPU of the construct tests (metaflow-stack.test.ts
 * 26 s → 11 s without it). The tests that check templates are valid keep it on for themselves
 * (test/stack/synth-checks.test.ts: every stack variant and the `cdk synth` CLI run, beside cdk-nag
 * and cfn-lint); elsewhere cfn-lint is the validity check. CDK_VALIDATION=false is aws-cdk-lib's
 * documented switch; the workers and their child processes inherit it.
 */
function withoutBuiltinTemplateValidation() {
  process.env.CDK_VALIDATION = 'false';
}

/**
 * Local tasks run `python3` from the PATH. Where that is a version manager's shim (pyenv's is a
 * bash script that runs `pyenv exec`: 0.37 s per start idle, seconds under load, against 0.07 s
 * for the interpreter itself), the tests' hundreds of python3 steps pay it each time. Put the
 * interpreter the shim picks first on the workers' PATH: the same Python, started directly.
 */
function directPython3(dir) {
  const found = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' });
  const executable = found.status === 0 ? found.stdout.trim() : '';
  if (!executable) return;
  const onPath = (process.env.PATH || '').split(path.delimiter).map((d) => path.join(d, 'python3')).find((f) => fs.existsSync(f));
  if (!onPath || fs.realpathSync(onPath) === fs.realpathSync(executable)) return;
  const bin = path.join(dir, 'python3-bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(executable, path.join(bin, 'python3'));
  process.env.PATH = `${bin}${path.delimiter}${process.env.PATH}`;
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

// Unit tests of the Node task helpers (runner/task-runtime/node/metaflow_cdk.js), Node's standard
// library only: the cases of test_metaflow_cdk.py, case for case.
//
// Run by metaflow-cdk-js.test.ts: node --test, with the module's folder on NODE_PATH. This file is
// an ES module, so it also shows the way an ES module step reaches the helpers (createRequire).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';

const mf = createRequire(import.meta.url)('metaflow_cdk');

let root;
let out;
const saved = { ...process.env };

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** The task environment: the datastore root and output folder, plus `extra`, and nothing else. */
function patch(extra = {}) {
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, { MF_DATASTORE_ROOT: root, MF_OUTPUT_DIR: out }, extra);
}

function task(p, outputs, ancestors) {
  if (outputs !== undefined) write(path.join(root, p, 'outputs.json'), JSON.stringify(outputs));
  if (ancestors !== undefined) write(path.join(root, p, mf.ANCESTORS_FILE), JSON.stringify(ancestors));
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mfcdk-js-'));
  out = path.join(root, 'F/r1/me/0/attempt-0');
  fs.mkdirSync(out, { recursive: true });
});

afterEach(() => {
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, saved);
  fs.rmSync(root, { recursive: true, force: true });
});

test('parent and inputs', () => {
  task('F/r1/a/0', { x: 1 });
  patch({ MF_INPUT_PATHS: 'F/r1/a/0' });
  assert.deepEqual(mf.parent(), { x: 1 });
  assert.equal(mf.parentDir(), path.join(root, 'F/r1/a/0'));
  assert.deepEqual(mf.inputs(), [{ x: 1 }]);
});

test('a wide join reads its inputs from the file', () => {
  for (let i = 0; i < 3; i++) task(`F/r1/b/${i}`, { i });
  task('F/r1/b/3'); // saved nothing
  write(path.join(root, 'F/r1/j/0/input-paths.txt'), [0, 1, 2, 3].map((i) => `F/r1/b/${i}\n`).join(''));
  patch({ MF_INPUT_PATHS_FILE: 'F/r1/j/0/input-paths.txt' });
  assert.deepEqual(mf.inputs(), [{ i: 0 }, { i: 1 }, { i: 2 }, {}]);
  assert.throws(() => mf.parent(), /^Error: parent\(\): this task has 4 inputs \(F\/r1\/b\/0, F\/r1\/b\/1/);
});

test('start has no parent', () => {
  patch();
  assert.throws(() => mf.parent(), /this task has 0 inputs \(none\)/);
});

test('item decodes JSON and keeps text', () => {
  for (const [text, value] of [['3', 3], ['0.5', 0.5], ['{"lr": 0.1}', { lr: 0.1 }], ['[1, 2]', [1, 2]], ['abc', 'abc'], ['"q"', '"q"'], ['null', null]]) {
    patch({ MF_FOREACH_ITEM: text });
    assert.deepEqual(mf.item(), value, text);
  }
});

test('a string item stays text', () => {
  for (const text of ['007', '3', 'true', '[1]']) {
    patch({ MF_FOREACH_ITEM: text, MF_FOREACH_ITEM_TEXT: '1' });
    assert.equal(mf.item(), text);
  }
});

test('a long item comes from its file', () => {
  const long = { text: 'x'.repeat(5000) };
  write(path.join(root, 'F/r1/s/0/foreach-item-2.json'), JSON.stringify(long));
  patch({ MF_FOREACH_ITEM_FILE: 'F/r1/s/0/foreach-item-2.json' });
  assert.deepEqual(mf.item(), long);
});

test('item outside a foreach', () => {
  patch();
  assert.throws(() => mf.item(), /not in a foreach/);
});

test('params', () => {
  patch({ MF_PARAM_ROWS: '200', MF_PARAM_NAME: 'Ada', MF_PARAM_RATES: '[0.1, 0.01]', MF_FLOW: 'F' });
  assert.deepEqual(mf.params(), { rows: 200, name: 'Ada', rates: [0.1, 0.01] });
});

test('string params stay text', () => {
  patch({ MF_PARAM_ROWS: '200', MF_PARAM_NAME: '007', MF_PARAM_FLAG: 'true', MF_TEXT_PARAMS: 'name,Flag' });
  assert.deepEqual(mf.params(), { rows: 200, name: '007', flag: 'true' });
});

test('save merges and refuses what JSON cannot hold', () => {
  patch();
  mf.save({ a: 1, b: 'two' });
  assert.deepEqual(mf.save({ b: 2, c: [3] }), { a: 1, b: 2, c: [3] });
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'outputs.json'), 'utf8')), { a: 1, b: 2, c: [3] });
  assert.throws(() => mf.save({ model: new Map() }), /^TypeError: save\(\{model: \.\.\.\}\): not JSON-serializable \(a Map object.*\); write it as a file at outputPath\("model"\)$/);
  assert.throws(() => mf.save({ loss: NaN }), /save\(\{loss: \.\.\.\}\): not JSON-serializable \(the number NaN\)/);
  assert.throws(() => mf.save({ f: () => 1 }), /not JSON-serializable \(a function\)/);
  assert.throws(() => mf.save([1]), /^TypeError: save\(values\): expected an object of name: value, got an array$/);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'outputs.json'), 'utf8')), { a: 1, b: 2, c: [3] }, 'a refused save leaves the outputs as they were');
  fs.writeFileSync(mf.outputPath('plots/loss.txt'), 'ok');
  assert.ok(fs.statSync(path.join(out, 'plots/loss.txt')).isFile());
});

test('caught inline and from its file', () => {
  const failure = { step: 's', taskId: '0', exitCode: 3 };
  patch({ MF_CAUGHT: JSON.stringify({ err: failure, other: null }) });
  assert.deepEqual(mf.caught('err'), failure);
  assert.equal(mf.caught('other'), null);
  write(path.join(root, 'F/r1/s/groups/g/caught.json'), JSON.stringify({ err: [failure] }));
  patch({ MF_CAUGHT_FILE: 'F/r1/s/groups/g/caught.json' });
  assert.deepEqual(mf.caught(), { err: [failure] });
  patch();
  assert.deepEqual(mf.caught(), {});
});

test('ancestors flow down and the lineage is left for the next step', () => {
  task('F/r1/b/0', { model: 'm' }, { start: { rows: 9 }, a: { x: 1 } });
  patch({ MF_INPUT_PATHS: 'F/r1/b/0' });
  assert.deepEqual(mf.ancestor('start'), { rows: 9 });
  assert.deepEqual(mf.ancestor('b'), { model: 'm' });
  assert.throws(() => mf.ancestor('nope'), /^Error: ancestor\("nope"\): no such step above this one \(steps above it: a, b, start\)$/);
  mf.leaveLineage();
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, mf.ANCESTORS_FILE), 'utf8')), { start: { rows: 9 }, a: { x: 1 }, b: { model: 'm' } });
});

test('a step with several tasks above is ambiguous', () => {
  // the same outputs written in another key order are the same outputs
  task('F/r1/each/0', { i: 0 }, { start: { n: 2, m: 1 } });
  task('F/r1/each/1', { i: 1 }, { start: { m: 1, n: 2 } });
  patch({ MF_INPUT_PATHS: 'F/r1/each/0,F/r1/each/1' });
  assert.deepEqual(mf.ancestor('start'), { n: 2, m: 1 });
  assert.throws(() => mf.ancestor('each'), /several tasks of that step are above this one/);
});

test('outside a task: one line naming the variable', () => {
  for (const k of Object.keys(process.env)) delete process.env[k];
  assert.throws(() => mf.outputPath('x'), /^Error: MF_OUTPUT_DIR is not set: metaflow_cdk works inside a task that metaflow-cdk runs$/);
});

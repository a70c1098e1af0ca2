/**
 * The Node task helpers (runner/task-runtime/node/metaflow_cdk.js): their unit tests (node --test,
 * the cases of the Python module's), and a local run whose Node steps use nothing but the helpers —
 * `require('metaflow_cdk')` without any setup (the local layer puts them on NODE_PATH), a foreach,
 * its join, an ancestor read across the fan-out, an ES module step, and a Python step and a Node
 * step reading each other's outputs and lineage.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_HELPERS_DIR, taskRuntimeFiles } from '../../../runner/task-runtime';
import { runSteps, tempDir } from '../support/harness';

// The node running these tests: a local task's PATH may hold another one (or none).
const node = (code: string) => [process.execPath, '-e', code];
const py = (code: string) => ['python3', '-c', code];

test('the helpers pass their node unit tests (standard library only)', () => {
  const res = spawnSync(process.execPath, ['--test', path.join(__dirname, 'test_metaflow_cdk.mjs')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, NODE_PATH: NODE_HELPERS_DIR },
    timeout: 60_000,
  });
  expect(res.stdout).toMatch(/^# pass 14$/m);
  expect(res.stdout).toMatch(/^# fail 0$/m);
  expect(res.status).toBe(0);
});

test('the Node helpers ship in every code package beside the Python ones', () => {
  const files = taskRuntimeFiles();
  expect(files['_mfcdk/metaflow_cdk.js']).toBe(fs.readFileSync(path.join(NODE_HELPERS_DIR, 'metaflow_cdk.js'), 'utf8'));
  expect(Object.keys(files)).toContain('_mfcdk/metaflow_cdk.py');
});

test('a local run whose Node steps use only the helpers: params, save, item, inputs, ancestor, files', async () => {
  const mf = "const { save, params, item, inputs, parent, parentDir, ancestor, outputPath } = require('metaflow_cdk');\n";
  const run = await runSteps(
    [
      { name: 'start', command: node(`${mf}save({ rates: params().rates, scale: 10 });\nrequire('fs').writeFileSync(outputPath('note.txt'), 'hi');`), next: 'each', foreach: { output: 'rates' } },
      {
        name: 'each',
        command: node(`${mf}const r = item();\nsave({ rate: r, loss: Math.round(r * ancestor('start').scale * 1e6) / 1e6, note: require('fs').readFileSync(require('path').join(parentDir(), 'note.txt'), 'utf8') });`),
        next: 'join',
      },
      { name: 'join', join: true, command: node(`${mf}const best = inputs().reduce((a, b) => (b.loss < a.loss ? b : a));\nsave({ best: best.rate, tried: inputs().length });`), next: 'end' },
      {
        name: 'end',
        command: node(`${mf}console.log('best', parent().best, 'of', ancestor('join').tried, 'scale', ancestor('start').scale);\ntry { ancestor('each'); } catch (e) { console.log(e.message); }`),
      },
    ],
    { flow: { parameters: { rates: { type: 'list', default: [0.3, 0.01, 0.2] } } } },
  );
  expect(run.record.status).toBe('succeeded');
  expect(run.outputs('each/1')).toEqual({ rate: 0.01, loss: 0.1, note: 'hi' });
  expect(run.outputs('join/0')).toEqual({ best: 0.01, tried: 3 });
  expect(run.log('end/0')).toBe('best 0.01 of 3 scale 10\nancestor("each"): several tasks of that step are above this one (a foreach or a branch); read them with inputs()\n');
  // The lineage file is committed with the outputs but not listed as a file the task wrote.
  expect(await run.datastore.listTaskFiles(path.posix.join(run.record.flow, run.record.runId, 'start', '0'))).toEqual([{ name: 'note.txt', bytes: 2 }]);
});

test('Python and Node steps in one flow read each other: outputs, lineage, caught failures; an ES module step through createRequire', async () => {
  const dir = tempDir('mfcdk-js-');
  // An ES module file as a step's script: Node does not read NODE_PATH for `import`, createRequire does.
  fs.writeFileSync(
    path.join(dir, 'report.mjs'),
    "import { createRequire } from 'node:module';\nconst { parent, ancestor, caught } = createRequire(import.meta.url)('metaflow_cdk');\n" +
      "console.log(`doubled ${parent().doubled}; rows ${ancestor('start').rows}; caught exit ${caught('oops').exitCode}`);\n",
  );
  const run = await runSteps(
    [
      { name: 'start', command: py('from metaflow_cdk import save\nsave(rows=21)'), next: ['twice', 'broken'] },
      { name: 'twice', command: node("const mf = require('metaflow_cdk');\nmf.save({ doubled: mf.parent().rows * 2 });"), next: 'join' },
      { name: 'broken', command: ['/bin/sh', '-c', 'exit 4'], catch: { var: 'oops' }, next: 'join' },
      { name: 'join', join: true, command: py('from metaflow_cdk import inputs, save, ancestor\nsave(doubled=[o for o in inputs() if o][0]["doubled"], rows=ancestor("start")["rows"])'), next: 'end' },
      { name: 'end', command: [process.execPath, path.join(dir, 'report.mjs')] },
    ],
    {},
  );
  expect(run.record.status).toBe('succeeded');
  expect(run.outputs('join/0')).toEqual({ doubled: 42, rows: 21 });
  expect(run.log('end/0')).toBe('doubled 42; rows 21; caught exit 4\n');
});

/**
 * The task helpers (runner/task-runtime/python/metaflow_cdk.py) and the registration (mfcdk_metadata.py): their Python unit tests, and a
 * local run whose steps use nothing but the helpers — importable without any setup (the local
 * layer puts them on PYTHONPATH), a foreach, its join, an ancestor read across the fan-out.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { RUNTIME_SOURCE_DIR } from '../../../runner/task-runtime';
import { runSteps } from '../support/harness';

const py = (code: string) => ['python3', '-c', code];

test('the helpers pass their python3 unit tests (standard library only)', () => {
  const res = spawnSync('python3', ['-m', 'unittest', 'discover', '-s', __dirname, '-p', 'test_*.py'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, PYTHONPATH: RUNTIME_SOURCE_DIR },
    timeout: 60_000,
  });
  expect(res.stderr).toMatch(/^Ran \d+ tests in .*\n\nOK\n$/m);
  expect(res.status).toBe(0);
});

test('a local run whose steps use only the helpers: params, save, item, inputs, ancestor, files', async () => {
  const run = await runSteps(
    [
      { name: 'start', command: py('from metaflow_cdk import *\nsave(rates=params()["rates"], scale=10)\nopen(output_path("note.txt"), "w").write("hi")'), next: 'each', foreach: { output: 'rates' } },
      {
        name: 'each',
        command: py('from metaflow_cdk import *\nimport os\nr = item()\nsave(rate=r, loss=round(r * ancestor("start")["scale"], 6), note=open(os.path.join(parent_dir(), "note.txt")).read())'),
        next: 'join',
      },
      { name: 'join', join: true, command: py('from metaflow_cdk import *\nbest = min(inputs(), key=lambda o: o["loss"])\nsave(best=best["rate"], tried=len(inputs()))'), next: 'end' },
      {
        name: 'end',
        command: py('from metaflow_cdk import *\nprint("best", parent()["best"], "of", ancestor("join")["tried"], "scale", ancestor("start")["scale"])\ntry:\n  ancestor("each")\nexcept KeyError as e:\n  print(e)'),
      },
    ],
    { flow: { parameters: { rates: { type: 'list', default: [0.3, 0.01, 0.2] } } } },
  );
  expect(run.record.status).toBe('succeeded');
  expect(run.outputs('each/1')).toEqual({ rate: 0.01, loss: 0.1, note: 'hi' });
  expect(run.outputs('join/0')).toEqual({ best: 0.01, tried: 3 });
  expect(run.log('end/0')).toBe(
    'best 0.01 of 3 scale 10\n"ancestor(\'each\'): several tasks of that step are above this one (a foreach or a branch); read them with inputs()"\n',
  );
  // The lineage file is committed with the outputs but not listed as a file the task wrote.
  expect(await run.datastore.listTaskFiles(path.posix.join(run.record.flow, run.record.runId, 'start', '0'))).toEqual([{ name: 'note.txt', bytes: 2 }]);
});

import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, fakeClock, runSteps, sh, tempDir } from './support/harness';

const node = (src: string) => [process.execPath, '-e', src];
const writeOutputs = (json: string) => `echo '${json}' > "$MF_OUTPUT_DIR/outputs.json"`;

describe('linear flows and the task contract', () => {
  test('every task gets the contract env, its inputs and the parameters', async () => {
    const run = await runSteps(
      [
        { name: 'start', command: sh(writeOutputs('{"x": 41}')), next: 'show' },
        { name: 'show', command: node('console.log(JSON.stringify(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("MF_")))))'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { flow: { parameters: { who: { default: 'x' }, n: { default: 3 } } }, params: ['who=Ada'] },
    );
    expect(run.record.status).toBe('succeeded');
    const env = JSON.parse(run.log('show/0'));
    expect(env).toEqual({
      MF_FLOW: 'TestFlow',
      MF_RUN_ID: run.record.runId,
      MF_STEP: 'show',
      MF_TASK_ID: '0',
      MF_RETRY_COUNT: '0',
      MF_DATASTORE_ROOT: run.datastore.root,
      // Each attempt writes to its own place; the successful one's outputs become the task's.
      MF_OUTPUT_DIR: path.join(run.datastore.root, 'TestFlow', run.record.runId, 'show', '0', 'attempt-0'),
      MF_INPUT_PATHS: `TestFlow/${run.record.runId}/start/0`,
      MF_PARAM_WHO: 'Ada',
      MF_PARAM_N: '3',
      // `who` is a string parameter: the helpers keep its value as text.
      MF_TEXT_PARAMS: 'who',
    });
    // The input path leads to the parent's outputs.
    expect(JSON.parse(fs.readFileSync(path.join(env.MF_DATASTORE_ROOT, env.MF_INPUT_PATHS, 'outputs.json'), 'utf8'))).toEqual({ x: 41 });
    expect(run.events[0]).toMatchObject({ type: 'run-started' });
    expect(run.events[run.events.length - 1]).toMatchObject({ type: 'run-finished', status: 'succeeded' });
  });

  test('the run record (a summary plus chunks of task records) and each task status are in the datastore', async () => {
    const run = await runSteps([{ name: 'start', command: sh('echo hi; echo oops >&2'), next: 'end' }, { name: 'end', command: sh('true') }]);
    const runDir = path.join(run.datastore.root, 'TestFlow', run.record.runId);
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'succeeded', flow: 'TestFlow', taskCount: 2, owner: { pid: process.pid } });
    expect(summary.tasks).toBeUndefined();
    const tasks = JSON.parse(fs.readFileSync(path.join(runDir, 'tasks', '0.json'), 'utf8'));
    expect(tasks).toMatchObject([{ step: 'start', status: 'succeeded' }, { step: 'end', status: 'succeeded' }]);
    expect(tasks[0].attempts[0]).toMatchObject({ attempt: 0, status: 'succeeded', exitCode: 0, externalId: expect.stringMatching(/^pid:\d+$/), logRef: `TestFlow/${run.record.runId}/start/0/attempt-0.log` });
    expect(typeof tasks[0].attempts[0].durationMs).toBe('number');
    expect(JSON.parse(fs.readFileSync(path.join(runDir, 'start', '0', 'status.json'), 'utf8'))).toMatchObject({ status: 'succeeded' });
    expect(run.log('start/0').split('\n').sort()).toEqual(['', 'hi', 'oops']);
    expect(await run.datastore.readRun(run.record.runId)).toEqual(run.record);
  });

  test('a failing step fails the run with its exit code; no later step runs', async () => {
    const run = await runSteps([{ name: 'start', command: sh('exit 7'), next: 'end' }, { name: 'end', command: sh('true') }]);
    expect(run.record.status).toBe('failed');
    expect(run.record.error).toBe('step start/0 failed: exit code 7');
    expect(run.task('start/0')).toMatchObject({ status: 'failed', attempts: [{ attempt: 0, exitCode: 7, status: 'failed' }] });
    expect(run.record.tasks.map((t) => t.step)).toEqual(['start']);
  });

  test('a command that does not exist is a failure that names it', async () => {
    const run = await runSteps([{ name: 'start', command: ['/no/such/binary'], next: 'end' }, { name: 'end', command: sh('true') }]);
    expect(run.record.status).toBe('failed');
    expect(run.task('start/0').attempts[0]).toMatchObject({ status: 'error', reason: 'command not found: /no/such/binary' });
  });
});

describe('retry', () => {
  test('attempts are numbered from 0 and wait minutesBetweenRetries on the injected clock', async () => {
    const clock = fakeClock();
    const run = await runSteps(
      [
        { name: 'start', retry: { times: 3, minutesBetweenRetries: 1.5 }, command: sh('echo "attempt $MF_RETRY_COUNT"; [ "$MF_RETRY_COUNT" -ge 2 ]'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { run: { clock } },
    );
    expect(run.record.status).toBe('succeeded');
    expect(run.task('start/0').attempts.map((a) => [a.attempt, a.status])).toEqual([[0, 'failed'], [1, 'failed'], [2, 'succeeded']]);
    expect(clock.sleeps).toEqual([90_000, 90_000]);
    expect(run.log('start/0', 1)).toBe('attempt 1\n');
    expect(run.events.filter((e) => e.type === 'task-retrying').map((e) => e.type === 'task-retrying' && e.delayMs)).toEqual([90_000, 90_000]);
  });

  test('retries run out: times + 1 attempts, then the run fails', async () => {
    const run = await runSteps([{ name: 'start', retry: { times: 2, minutesBetweenRetries: 0 }, command: sh('exit 1'), next: 'end' }, { name: 'end', command: sh('true') }]);
    expect(run.record.status).toBe('failed');
    expect(run.task('start/0').attempts).toHaveLength(3);
    expect(run.record.error).toBe('step start/0 failed: exit code 1 (after 3 attempts)');
  });

  test('--with retry gives steps without a policy 3 retries 2 minutes apart; {times: 0} opts out', async () => {
    const clock = fakeClock();
    const run = await runSteps(
      [
        { name: 'start', command: sh('[ "$MF_RETRY_COUNT" = 1 ]'), next: 'once' },
        { name: 'once', retry: { times: 0 }, command: sh('exit 1'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { run: { clock, withRetry: true } },
    );
    expect(run.task('start/0').attempts).toHaveLength(2);
    expect(clock.sleeps).toEqual([120_000]);
    expect(run.task('once/0').attempts).toHaveLength(1);
    expect(run.record).toMatchObject({ status: 'failed', withRetry: true });
  });
});

describe('timeout', () => {
  test('kills the whole process tree, counts as a failure and is retried', async () => {
    const root = tempDir();
    const pidFile = path.join(root, 'grandchild.pid');
    const started = Date.now();
    const run = await runSteps(
      [
        {
          name: 'start',
          timeout: { seconds: 0.5 },
          retry: { times: 1, minutesBetweenRetries: 0 },
          // Attempt 0: a grandchild sleeps in the background and the shell waits for it.
          command: sh(`if [ "$MF_RETRY_COUNT" = 0 ]; then sleep 30 & echo $! > ${pidFile}; wait; fi; echo done`),
          next: 'end',
        },
        { name: 'end', command: sh('true') },
      ],
      { root },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(run.record.status).toBe('succeeded');
    expect(run.task('start/0').attempts.map((a) => a.status)).toEqual(['timeout', 'succeeded']);
    expect(run.task('start/0').attempts[0].reason).toBe('timed out after 0.5s (per-attempt timeout)');
    expect(alive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  test('a process that ignores TERM is killed after the grace period', async () => {
    const run = await runSteps(
      [{ name: 'start', timeout: { seconds: 0.3 }, command: sh("trap '' TERM; echo up; sleep 20 & wait; sleep 20"), next: 'end' }, { name: 'end', command: sh('true') }],
      { layer: { killGraceMs: 200 } },
    );
    expect(run.record.status).toBe('failed');
    expect(run.task('start/0').attempts[0]).toMatchObject({ status: 'timeout' });
    expect(run.task('start/0').attempts[0].durationMs).toBeLessThan(3000);
  });
});

describe('catch', () => {
  test('the flow goes on and var holds the failure; a step that succeeded has var = null', async () => {
    const run = await runSteps([
      { name: 'start', next: ['bad', 'good'], command: sh('true') },
      { name: 'bad', catch: { var: 'bad_failed' }, retry: { times: 1, minutesBetweenRetries: 0 }, command: sh('exit 4'), next: 'join' },
      { name: 'good', catch: { var: 'good_failed' }, command: sh('true'), next: 'join' },
      { name: 'join', join: true, command: sh('echo "$MF_CATCH_bad_failed"; echo "$MF_CATCH_good_failed"'), next: 'end' },
      { name: 'end', command: sh('echo "$MF_CAUGHT"') },
    ]);
    expect(run.record.status).toBe('succeeded');
    const [bad, good] = run.log('join/0').trim().split('\n');
    const failure = { step: 'bad', taskId: '0', message: 'step bad/0 failed: exit code 4 (after 2 attempts)', exitCode: 4, statusReason: 'failed', attempts: 2 };
    expect(JSON.parse(bad)).toEqual(failure);
    expect(good).toBe('null');
    expect(JSON.parse(run.log('end/0'))).toEqual({ bad_failed: failure, good_failed: null });
    expect(run.task('bad/0')).toMatchObject({ status: 'caught', caught: failure });
    expect(run.events.some((e) => e.type === 'task-caught' && e.var === 'bad_failed')).toBe(true);
  });

  test('a timeout is caught like any failure', async () => {
    const run = await runSteps([
      { name: 'start', timeout: { seconds: 0.2 }, catch: { var: 'slow' }, command: sh('sleep 20'), next: 'end' },
      { name: 'end', command: sh('echo "$MF_CATCH_slow"') },
    ]);
    expect(run.record.status).toBe('succeeded');
    expect(JSON.parse(run.log('end/0'))).toMatchObject({ statusReason: 'timeout', exitCode: null });
  });
});

describe('foreach and branches', () => {
  test('a dynamic foreach fans out over the parent outputs; the join gets every child in order', async () => {
    const run = await runSteps([
      { name: 'start', command: sh(writeOutputs('{"items": ["a", "b", "c", {"k": 1}]}')), foreach: { output: 'items' }, next: 'child' },
      { name: 'child', command: sh('echo "{\\"i\\": $MF_FOREACH_INDEX, \\"n\\": $MF_FOREACH_COUNT, \\"item\\": \\"$(echo $MF_FOREACH_ITEM | tr -d \\")\\"}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
      {
        name: 'join',
        join: true,
        command: node(`const fs = require('fs'); const r = process.env.MF_DATASTORE_ROOT;
          console.log(JSON.stringify(process.env.MF_INPUT_PATHS.split(',').map((p) => JSON.parse(fs.readFileSync(r + '/' + p + '/outputs.json', 'utf8')))));`),
        next: 'end',
      },
      { name: 'end', command: sh('true') },
    ]);
    expect(run.record.status).toBe('succeeded');
    expect(JSON.parse(run.log('join/0'))).toEqual([
      { i: 0, n: 4, item: 'a' },
      { i: 1, n: 4, item: 'b' },
      { i: 2, n: 4, item: 'c' },
      { i: 3, n: 4, item: '{k:1}' },
    ]);
    expect(run.task('child/2')).toMatchObject({ foreachIndex: 2, inputs: ['start/0'] });
    expect(run.task('join/0').inputs).toEqual(['child/0', 'child/1', 'child/2', 'child/3']);
    // The fan-out reached the layer as one group.
    const queued = run.events.filter((e) => e.type === 'task-queued' && e.task.step === 'child');
    expect(queued).toHaveLength(4);
  });

  test('a foreach over a list parameter, with a step after the child inside the body', async () => {
    const run = await runSteps(
      [
        { name: 'start', command: sh('true'), foreach: { param: 'xs' }, next: 'a' },
        { name: 'a', command: sh('echo "a $MF_FOREACH_ITEM"'), next: 'b' },
        { name: 'b', command: sh(`echo "{\\"v\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"`), next: 'join' },
        { name: 'join', join: true, command: node('console.log(process.env.MF_INPUT_PATHS.split(",").map((p) => p.split("/").slice(2).join("/")).join(" "))'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { flow: { parameters: { xs: { type: 'list', default: [1] } } }, params: ['xs=10,20,30'] },
    );
    expect(run.record.status).toBe('succeeded');
    expect(run.log('a/1')).toBe('a 20\n');
    expect(run.outputs('b/2')).toEqual({ v: 30 });
    expect(run.log('join/0').trim()).toBe('b/0 b/1 b/2');
  });

  test('a branch runs its arms in parallel and the join gets both', async () => {
    const run = await runSteps([
      { name: 'start', command: sh('true'), next: ['left', 'right'] },
      { name: 'left', command: sh(writeOutputs('{"side": "L"}')), next: 'join' },
      { name: 'right', command: sh(writeOutputs('{"side": "R"}')), next: 'join' },
      { name: 'join', join: true, command: sh('for p in $(echo $MF_INPUT_PATHS | tr , " "); do cat "$MF_DATASTORE_ROOT/$p/outputs.json"; done'), next: 'end' },
      { name: 'end', command: sh('true') },
    ]);
    expect(run.log('join/0')).toBe('{"side": "L"}\n{"side": "R"}\n');
  });

  test('nested foreach: task ids are index paths and each inner join closes its own fan-out', async () => {
    const run = await runSteps([
      { name: 'start', command: sh('true'), foreach: { items: ['x', 'y'] }, next: 'outer' },
      { name: 'outer', command: sh('true'), foreach: { items: [1, 2, 3] }, next: 'inner' },
      { name: 'inner', command: sh('true'), next: 'ijoin' },
      { name: 'ijoin', join: true, command: sh('echo $MF_INPUT_PATHS | tr , "\\n" | wc -l'), next: 'ojoin' },
      { name: 'ojoin', join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ]);
    expect(run.record.status).toBe('succeeded');
    expect(run.record.tasks.filter((t) => t.step === 'inner').map((t) => t.taskId).sort()).toEqual(['0_0', '0_1', '0_2', '1_0', '1_1', '1_2']);
    expect(run.log('ijoin/1').trim()).toBe('3');
    expect(run.task('ojoin/0').inputs).toEqual(['ijoin/0', 'ijoin/1']);
  });

  test('a very wide join gets its input paths in a file instead of MF_INPUT_PATHS', async () => {
    const run = await runSteps([
      { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 100 }, (_, i) => i) }, next: 'a_child_step_with_a_long_name' },
      { name: 'a_child_step_with_a_long_name', command: ['/bin/true'], next: 'join' },
      { name: 'join', join: true, command: sh('echo "${MF_INPUT_PATHS:-unset}"; wc -l < "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"; tail -1 "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"'), next: 'end' },
      { name: 'end', command: sh('echo "$MF_INPUT_PATHS"') },
    ]);
    expect(run.record.status).toBe('succeeded');
    expect(run.log('join/0').split('\n')).toEqual(['unset', '100', `TestFlow/${run.record.runId}/a_child_step_with_a_long_name/99`, '']);
    expect(run.log('end/0')).toBe(`TestFlow/${run.record.runId}/join/0\n`);
  });

  test('a foreach whose outputs hold no list fails that attempt, and the run, with a clear message', async () => {
    const run = await runSteps([
      { name: 'start', command: sh(writeOutputs('{"items": 3}')), foreach: { output: 'items' }, next: 'a' },
      { name: 'a', command: sh('true'), next: 'j' },
      { name: 'j', join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ]);
    expect(run.record).toMatchObject({ status: 'failed', error: 'step start/0 failed: foreach needs a list under "items" in outputs.json, got 3' });
    expect(run.task('start/0')).toMatchObject({ status: 'failed', attempts: [{ status: 'failed', exitCode: 0 }] });
  });

  test('max workers bounds how many tasks run at once', async () => {
    const root = tempDir();
    const trace = path.join(root, 'trace');
    // Each process marks its start and end in one shared file (appends are atomic): the real overlap.
    const run = await runSteps(
      [
        { name: 'start', command: sh('true'), foreach: { items: [1, 2, 3, 4, 5, 6] }, next: 'a' },
        { name: 'a', command: sh(`echo + >> ${trace}; sleep 0.1; echo - >> ${trace}`), next: 'j' },
        { name: 'j', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { layer: { maxWorkers: 2 }, root },
    );
    expect(run.record.status).toBe('succeeded');
    let running = 0;
    let peak = 0;
    const marks = fs.readFileSync(trace, 'utf8').trim().split('\n');
    expect(marks).toHaveLength(12);
    for (const m of marks) peak = Math.max(peak, (running += m === '+' ? 1 : -1));
    expect(peak).toBe(2);
  });
});

describe('failure and interrupt stop everything', () => {
  test('when one task fails, the others running are cancelled and their processes killed', async () => {
    const root = tempDir();
    const run = await runSteps(
      [
        { name: 'start', command: sh('true'), next: ['slow', 'bad'] },
        { name: 'slow', command: sh(`echo $$ > ${root}/slow.pid; sleep 30`), next: 'join' },
        // Fails once slow is surely running.
        { name: 'bad', command: sh(`while [ ! -s ${root}/slow.pid ]; do sleep 0.02; done; exit 2`), next: 'join' },
        { name: 'join', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { root },
    );
    expect(run.record.status).toBe('failed');
    expect(run.task('slow/0').status).toBe('cancelled');
    expect(alive(Number(fs.readFileSync(path.join(root, 'slow.pid'), 'utf8')))).toBe(false);
  });

  test('an abort (Ctrl-C) cancels running tasks and records the run as interrupted', async () => {
    const abort = new AbortController();
    const root = tempDir();
    const p = runSteps(
      [
        { name: 'start', command: sh('true'), foreach: { items: [1, 2, 3] }, next: 'a' },
        { name: 'a', command: sh(`echo $$ > ${root}/a$MF_FOREACH_INDEX.pid; sleep 30`), next: 'j' },
        { name: 'j', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { root, run: { signal: abort.signal, onEvent: (e) => e.type === 'task-log' || (e.type === 'task-started' && e.task.step === 'a' && setTimeout(() => abort.abort(), 200)) } },
    );
    const run = await p;
    expect(run.record.status).toBe('interrupted');
    expect(run.record.tasks.filter((t) => t.step === 'a').map((t) => t.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    for (const f of fs.readdirSync(root).filter((n) => n.endsWith('.pid'))) expect(alive(Number(fs.readFileSync(path.join(root, f), 'utf8')))).toBe(false);
    const onDisk = JSON.parse(fs.readFileSync(path.join(run.datastore.root, 'TestFlow', run.record.runId, 'run.json'), 'utf8'));
    expect(onDisk.status).toBe('interrupted');
  });
});

describe('resume', () => {
  test('a new run reuses every task that succeeded and reruns the rest', async () => {
    const root = tempDir();
    const flag = path.join(root, 'fixed');
    const steps = [
      { name: 'start', command: sh(`echo ran >> ${root}/start.count; ${writeOutputs('{"items": [1, 2, 3]}')}`), foreach: { output: 'items' }, next: 'child' },
      // Child 1 fails until the flag file exists.
      { name: 'child', command: sh(`echo ran >> ${root}/child$MF_FOREACH_INDEX.count; if [ "$MF_FOREACH_INDEX" = 1 ] && [ ! -e ${flag} ]; then exit 1; fi; echo "{\\"v\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"`), next: 'join' },
      { name: 'join', join: true, command: sh('echo "$MF_INPUT_PATHS"'), next: 'end' },
      { name: 'end', command: sh('true') },
    ];
    // One worker: child 1 fails before child 2 starts, so child 2 is cancelled.
    const first = await runSteps(steps, { root, layer: { maxWorkers: 1 } });
    expect(first.record.status).toBe('failed');
    fs.writeFileSync(flag, '');
    const second = await runSteps(steps, { root, run: { origin: first.record } });
    expect(second.record).toMatchObject({ status: 'succeeded', originRunId: first.record.runId });
    expect(second.task('start/0')).toMatchObject({ status: 'reused', reusedFrom: first.record.runId, attempts: [] });
    expect(second.task('child/0').status).toBe('reused');
    expect(second.task('child/1').status).toBe('succeeded');
    expect(second.task('child/2').status).toBe('succeeded');
    expect(fs.readFileSync(path.join(root, 'start.count'), 'utf8')).toBe('ran\n');
    expect(fs.readFileSync(path.join(root, 'child0.count'), 'utf8')).toBe('ran\n');
    // Reused by reference: nothing is copied; the join's inputs point at the origin's outputs.
    expect(second.task('child/0').outputsAt).toBe(`TestFlow/${first.record.runId}/child/0`);
    expect(fs.existsSync(path.join(root, 'TestFlow', second.record.runId, 'child', '0'))).toBe(false);
    expect(first.outputs('child/0')).toEqual({ v: 1 });
    const [a, b] = [first.record.runId, second.record.runId];
    expect(second.log('join/0').trim()).toBe(`TestFlow/${a}/child/0,TestFlow/${b}/child/1,TestFlow/${b}/child/2`);
    expect(second.task('join/0').inputs).toEqual(['child/0', 'child/1', 'child/2']);

    // A task whose files were removed from the origin run runs again instead of being reused.
    fs.rmSync(path.join(root, 'TestFlow', second.record.runId, 'child', '2'), { recursive: true });
    const third = await runSteps(steps, { root, run: { origin: second.record } });
    expect(third.record.status).toBe('succeeded');
    expect(third.task('child/0').status).toBe('reused');
    expect(third.task('child/2').status).toBe('succeeded');
    expect(third.outputs('child/2')).toEqual({ v: 3 });
  });
});

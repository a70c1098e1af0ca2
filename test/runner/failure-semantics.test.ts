import * as fs from 'node:fs';
import * as path from 'node:path';
import { AttemptRef } from '../../runner/contract';
import { LocalDatastore } from '../../runner/datastore/local';
import { runSteps, sh, tempDir } from './support/harness';

const node = (src: string) => [process.execPath, '-e', src];
const writeOutputs = (json: string) => `echo '${json}' > "$MF_OUTPUT_DIR/outputs.json"`;
const body = [
  { name: 'a', command: sh('echo "$MF_FOREACH_ITEM"'), next: 'j' },
  { name: 'j', join: true, command: sh('echo "inputs=$MF_INPUT_PATHS caught=${MF_CATCH_split:-unset}"'), next: 'end' },
  { name: 'end', command: sh('true') },
];

describe('a foreach whose items are unusable has failed that attempt', () => {
  test('retry applies: the next attempt that writes a list fans out', async () => {
    const run = await runSteps([
      // Attempt 0 writes no list, attempt 1 does.
      { name: 'start', retry: { times: 1, minutesBetweenRetries: 0 }, command: sh(`if [ "$MF_RETRY_COUNT" = 0 ]; then ${writeOutputs('{"items": "x"}')}; else ${writeOutputs('{"items": [7, 8]}')}; fi`), foreach: { output: 'items' }, next: 'a' },
      ...body,
    ]);
    expect(run.record.status).toBe('succeeded');
    expect(run.task('start/0').attempts).toMatchObject([
      { attempt: 0, status: 'failed', exitCode: 0, reason: 'foreach needs a list under "items" in outputs.json, got "x"' },
      { attempt: 1, status: 'succeeded' },
    ]);
    expect(run.log('a/1')).toBe('8\n');
  });

  test('an empty list, or no outputs.json, is a failure too', async () => {
    const empty = await runSteps([{ name: 'start', command: sh(writeOutputs('{"items": []}')), foreach: { output: 'items' }, next: 'a' }, ...body]);
    expect(empty.record.error).toBe('step start/0 failed: foreach has no items to fan out over ("items" in outputs.json is empty)');
    const missing = await runSteps([{ name: 'start', command: sh('true'), foreach: { output: 'items' }, next: 'a' }, ...body]);
    expect(missing.record.error).toBe('step start/0 failed: foreach needs a list under "items" in outputs.json, got no outputs.json');
    expect(missing.task('start/0').status).toBe('failed');
  });

  test('catch applies: the join runs with no inputs and sees the failure; the run succeeds', async () => {
    const run = await runSteps([{ name: 'start', catch: { var: 'split' }, command: sh(writeOutputs('{"items": 3}')), foreach: { output: 'items' }, next: 'a' }, ...body]);
    expect(run.record.status).toBe('succeeded');
    expect(run.task('start/0').status).toBe('caught');
    expect(run.record.tasks.filter((t) => t.step === 'a')).toEqual([]);
    const line = run.log('j/0').trim();
    expect(line.startsWith('inputs= caught=')).toBe(true);
    expect(JSON.parse(line.slice('inputs= caught='.length))).toMatchObject({ step: 'start', statusReason: 'failed', message: 'step start/0 failed: foreach needs a list under "items" in outputs.json, got 3' });
  });

  test('resume reruns the bad foreach step instead of reusing it', async () => {
    const root = tempDir();
    const flag = path.join(root, 'fixed');
    const steps = [{ name: 'start', command: sh(`if [ -e ${flag} ]; then ${writeOutputs('{"items": [1]}')}; fi`), foreach: { output: 'items' as const }, next: 'a' }, ...body];
    const first = await runSteps(steps, { root });
    expect(first.record.status).toBe('failed');
    fs.writeFileSync(flag, '');
    const second = await runSteps(steps, { root, run: { origin: first.record } });
    expect(second.record.status).toBe('succeeded');
    expect(second.task('start/0').status).toBe('succeeded');
  });
});

test("each attempt writes to its own place: a failed attempt's outputs and files are not seen downstream", async () => {
  const run = await runSteps([
    {
      name: 'start',
      retry: { times: 1, minutesBetweenRetries: 0 },
      // Attempt 0 writes outputs and a file, then fails; attempt 1 succeeds and writes nothing.
      command: sh(`if [ "$MF_RETRY_COUNT" = 0 ]; then ${writeOutputs('{"x": 1}')}; echo junk > "$MF_OUTPUT_DIR/model.bin"; exit 3; fi`),
      next: 'end',
    },
    { name: 'end', command: sh('ls "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS"; cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json" 2>/dev/null || echo "no outputs"') },
  ]);
  expect(run.record.status).toBe('succeeded');
  const seen = run.log('end/0').trim().split('\n');
  expect(seen).not.toContain('outputs.json');
  expect(seen).not.toContain('model.bin');
  expect(seen[seen.length - 1]).toBe('no outputs');
});

test('a join sees every caught failure of its inputs: several foreach children failing under one catch var', async () => {
  const run = await runSteps([
    { name: 'start', command: sh('true'), foreach: { items: [0, 1, 2, 3] }, next: 'a' },
    { name: 'a', catch: { var: 'a_failed', printException: false }, command: sh('[ $((MF_FOREACH_INDEX % 2)) = 1 ] && exit 9; true'), next: 'b' },
    // A step after the catch inside the body still sees its own child's value.
    { name: 'b', command: sh('echo "$MF_CATCH_a_failed"'), next: 'j' },
    { name: 'j', join: true, command: sh('echo "$MF_CATCH_a_failed"'), next: 'end' },
    { name: 'end', command: sh('echo "$MF_CAUGHT"') },
  ]);
  expect(run.record.status).toBe('succeeded');
  const failure = (i: number) => ({ step: 'a', taskId: String(i), message: `step a/${i} failed: exit code 9`, exitCode: 9, statusReason: 'failed', attempts: 1 });
  expect(run.log('b/0').trim()).toBe('null');
  expect(JSON.parse(run.log('b/3'))).toEqual(failure(3));
  // From the join on, the var is the list of every failure (successes left out), none dropped.
  expect(JSON.parse(run.log('j/0'))).toEqual([failure(1), failure(3)]);
  expect(JSON.parse(run.log('end/0'))).toEqual({ a_failed: [failure(1), failure(3)] });
});

test('a 200 KiB foreach item reaches its task through a file, not one environment variable', async () => {
  const big = 'x'.repeat(200 * 1024);
  const run = await runSteps([
    { name: 'start', command: sh('true'), foreach: { items: ['small', big] }, next: 'a' },
    { name: 'a', command: node('const e = process.env; const item = e.MF_FOREACH_ITEM ?? JSON.parse(require("fs").readFileSync(e.MF_DATASTORE_ROOT + "/" + e.MF_FOREACH_ITEM_FILE, "utf8")); console.log(e.MF_FOREACH_ITEM === undefined ? "file" : "env", item.length)'), next: 'j' },
    { name: 'j', join: true, command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true') },
  ]);
  expect(run.record.status).toBe('succeeded');
  expect(run.log('a/0')).toBe('env 5\n');
  expect(run.log('a/1')).toBe(`file ${big.length}\n`);
});

describe('an error preparing a task fails the run with one line', () => {
  test('a name the file system refuses (too long) fails the attempt with the reason', async () => {
    class LongNames extends LocalDatastore {
      attemptOutputs(a: AttemptRef): string {
        return `${super.attemptOutputs(a)}/${'n'.repeat(300)}`;
      }
    }
    const root = tempDir();
    const run = await runSteps([{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }], { run: { datastore: new LongNames(root) }, root });
    expect(run.record.status).toBe('failed');
    expect(run.record.error).toMatch(/^step start\/0 failed: could not prepare the task: ENAMETOOLONG[^\n]*$/);
  });

  test('a datastore that refuses writes (read-only, full) fails the run, naming the task', async () => {
    class ReadOnlyAfterStart extends LocalDatastore {
      async put(key: string, body: string): Promise<void> {
        if (key.endsWith('input-paths.txt')) throw Object.assign(new Error(`EROFS: read-only file system, open '${key}'`), { code: 'EROFS' });
        return super.put(key, body);
      }
    }
    const root = tempDir();
    const run = await runSteps(
      [
        { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 300 }, (_, i) => i) }, next: 'child_with_a_name' },
        { name: 'child_with_a_name', command: ['/bin/true'], next: 'j' },
        { name: 'j', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
      { run: { datastore: new ReadOnlyAfterStart(root) }, root },
    );
    expect(run.record.status).toBe('failed');
    expect(run.record.error).toMatch(/^step j\/0 failed: could not prepare the task: EROFS: read-only file system[^\n]*$/);
    expect(run.task('j/0').status).toBe('failed');
  });
});

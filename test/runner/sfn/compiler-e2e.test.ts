/**
 * Compiled state machines executed end to end: aws-local-stepfunctions runs the definition, and
 * its Task states do the work for real — `batch:submitJob.sync` plays the compiled one-container
 * job (the loader downloads the code package, the task runtime fetches inputs, runs the step's
 * argv and uploads and commits its outputs) in a root file system standing in for the job's
 * image (batch-task-player.ts, bubblewrap), and `aws-sdk:s3:getObject|putObject` call S3 on
 * moto_server, which the runtime reads and writes too. What is asserted is what a user would look
 * at: the outputs and the committed status.json of every task in S3, the items each foreach child
 * saw, a caught failure downstream — and that an example whose image lacks what its steps run
 * fails as it would on AWS. Every example's execution (resilient with Batch's minimum 60 s timeout,
 * played as 1 s) registers from inside its jobs with the real Metaflow metadata service, started
 * once for the file, and is read back at its end (issue 16).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fanout from '../../../examples/fanout';
import hello from '../../../examples/hello';
import pyscripts from '../../../examples/pyscripts/flow';
import resilient from '../../../examples/resilient';
import sweep from '../../../examples/sweep';
import { RUNTIME_EXIT } from '../../../runner/batch/job-shape';
import { defineFlow, type Flow, type FlowSpec } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { graphInfoPackageFile } from '../../../runner/metadata';
import type { CompiledFlow, CompileOptions } from '../../../runner/sfn/compiler';
import { minimalCodePackage } from '../../../runner/task-runtime/minimal-package';
import { describeWithTool } from '../../support/external-tool';
import { EXAMPLES, resilientOnBatch, type ExampleExpectation, useExampleService } from '../../support/metadata/examples';
import { s3Reader } from '../../support/metadata/service';
import { useMotoBucket } from '../../support/moto-bucket';
import { BatchTaskPlayer, playOnMoto } from './batch-task-player';
import { compileValid, EXECUTION, graphOf, sh, storeCodePackage } from './compiler-support';

const BUCKET = 'mf-bucket';
const PREFIX = 'metaflow';
const PYTHON = 'public.ecr.aws/docker/library/python:3.12-slim';

const graph = (flow: Flow) => {
  const result = validateFlow(flow);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.graph;
};

/** An example with another image and some steps' commands replaced (what the example would be once it meets the image contract). */
const variant = (flow: Flow, image: string, commands: Record<string, string[]> = {}): Flow =>
  defineFlow({ ...(flow as FlowSpec), image, steps: flow.steps.map((s) => (commands[s.name] ? { ...s, command: commands[s.name] } : s)) });

const TIME = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

/** The job description a failed execution's error carries (the `.sync` task's Cause). */
const failedJob = (run: { error?: Error }) => JSON.parse(run.error!.message.replace(/^[^{]*/, '')) as Record<string, unknown>;

describeWithTool('moto_server', 'compiled machines played end to end (aws-local-stepfunctions, Batch jobs in image stand-ins, S3 on moto_server)', () => {
  const moto = useMotoBucket(BUCKET, PREFIX);
  const { get, keys } = moto;
  beforeAll(() => storeCodePackage(moto));
  // The real Metaflow metadata service, once for the file: the examples' executions register with it from their jobs.
  const examples = useExampleService('mde2e-');

  /**
   * An example compiled against a code package of its own (the task runtime, the flow's graph for the UI,
   * `files` beside them) and, when there is a service, registering with it as `expected`.
   */
  async function compileExample(flow: Flow, options: Partial<CompileOptions>, expected: ExampleExpectation, files: Record<string, string> = {}) {
    const g = graph(flow);
    const pkg = minimalCodePackage({ ...graphInfoPackageFile(g, `${flow.name}.ts`), ...files });
    const key = `${PREFIX}/${pkg.key(flow.name)}`;
    await moto.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: pkg.body }));
    const { service } = examples;
    const compiled = compileValid(g, { ...options, codePackageUrl: `s3://${BUCKET}/${key}`, ...(service ? { metadata: { url: service.url, authKey: 'test-key', user: 'ada' } } : {}) });
    return { compiled, registered: () => void (service && examples.registered.push({ runId: EXECUTION, expected })) };
  }
  const json = async (key: string) => {
    const body = await get(key);
    if (body === undefined) throw new Error(`${key} is not in S3`);
    return JSON.parse(body) as Record<string, unknown>;
  };

  /** Run a compiled flow; each test's flow has its own name, so its run's keys are its own. */
  const play = (compiled: CompiledFlow, input: unknown = {}) => playOnMoto(compiled, moto, input);

  /** The execution succeeded; else its error with every container's log, to say why. */
  const succeeded = (run: { error?: Error; batch: BatchTaskPlayer }) => {
    if (run.error) throw new Error(`${run.error.message}\n${run.batch.log()}`);
  };

  /** The committed record of a task, as the orchestrator writes it. */
  const committed = (step: string, taskId: string, inputs: string[], extra: object = {}) => ({
    step,
    taskId,
    status: 'succeeded',
    inputs,
    ...extra,
    // externalId: the Batch job (array child `<job>:<index>`) whose runtime committed it
    attempts: [{ attempt: 0, status: 'succeeded', exitCode: 0, externalId: expect.stringMatching(/^job-\d+(:\d+)?$/), startedAt: TIME, finishedAt: TIME }],
  });

  test('an image without python3 (hello in busybox): start fails at once with one line and the loader\'s exit code, never a retry', async () => {
    const run = await play(compileValid(graph(variant(hello, 'public.ecr.aws/docker/library/busybox:1.36')), { params: { name: 'Ada' } }));
    expect(run.batch.jobs.map((j) => [j.state, j.children[0].exitCode])).toEqual([['start', RUNTIME_EXIT.noPython]]);
    expect(run.batch.log()).toBe('start: metaflow-cdk: this image has no python3 on its PATH; metaflow-cdk Batch jobs need /bin/sh and python3 (3.8+)');
    expect(failedJob(run)).toMatchObject({ Status: 'FAILED', StatusReason: 'Essential container in task exited', Container: { ExitCode: RUNTIME_EXIT.noPython } });
  }, 60_000);

  test('examples/hello.ts as it is (--param name=Ada): start\'s outputs reach hello through S3; every task committed with its inputs', async () => {
    const { compiled, registered } = await compileExample(hello, { params: { name: 'Ada' } }, EXAMPLES.hello('Ada'));
    const run = await play(compiled);
    succeeded(run);
    registered();
    const r = `HelloFlow/${EXECUTION}`;
    expect(run.batch.jobs.map((j) => j.state)).toEqual(['start', 'hello', 'end']);
    expect(await json(`${r}/start/0/outputs.json`)).toEqual({ greeting: 'hello, Ada' });
    expect(run.batch.log('hello')).toContain('hello: {"greeting": "hello, Ada"}');
    expect(await json(`${r}/start/0/status.json`)).toEqual(committed('start', '0', []));
    expect(await json(`${r}/hello/0/status.json`)).toEqual(committed('hello', '0', ['start/0']));
    expect(await json(`${r}/end/0/status.json`)).toEqual(committed('end', '0', ['hello/0']));
    // The attempt's outputs and the committed copy.
    expect(await keys(`${r}/start/0/`)).toEqual([`${r}/start/0/attempt-0/outputs.json`, `${r}/start/0/outputs.json`, `${r}/start/0/status.json`]);
  }, 60_000);

  test('a step naming the submitting machine\'s node (what sweep\'s pick did before): python:3.12-slim lacks it, and it fails as on AWS', async () => {
    const pick = [process.execPath, '-e', 'console.log(1)'];
    const run = await play(compileValid(graph(variant(sweep, PYTHON, { pick })), { params: { rates: '0.1,0.01' } }));
    expect(failedJob(run)).toMatchObject({ Status: 'FAILED', Container: { ExitCode: 127 } });
    expect(run.batch.jobs.map((j) => [j.state, j.children.map((c) => c.exitCode)])).toEqual([['start', [0]], ['train', [0, 0]], ['pick', [127]]]);
    expect(run.batch.log('pick')).toBe(`pick: metaflow-cdk: ${process.execPath}: command not found in this image (PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)`);
  }, 60_000);

  test('examples/sweep.ts as it is (--param rates=5 values): each child trains on its own rate; pick sees all 5 and picks the best', async () => {
    const rates = [0.2, 0.03, 0.007, 0.0004, 0.1];
    const { compiled, registered } = await compileExample(sweep, { params: { rates: rates.join(',') } }, EXAMPLES.sweep(rates));
    const run = await play(compiled);
    succeeded(run);
    registered();
    const r = `SweepFlow/${EXECUTION}`;
    expect(run.batch.jobs.map((j) => [j.state, j.params.ArrayProperties?.Size])).toEqual([
      ['start', undefined],
      ['train', 5],
      ['pick', undefined],
      ['end', undefined],
    ]);
    expect(JSON.parse((await get(`${r}/start/0/foreach-items.json`))!)).toEqual(rates);
    for (const [i, rate] of rates.entries()) {
      expect(await json(`${r}/train/${i}/outputs.json`)).toEqual({ rate, loss: expect.any(Number) });
      expect(await json(`${r}/train/${i}/status.json`)).toEqual(committed('train', String(i), ['start/0'], { foreachIndex: i }));
    }
    const picked = await json(`${r}/pick/0/outputs.json`);
    expect(picked).toEqual({ best: { rate: 0.007, loss: expect.any(Number) }, tried: 5 });
    expect(await json(`${r}/pick/0/status.json`)).toEqual(committed('pick', '0', rates.map((_, i) => `train/${i}`)));
    expect(run.batch.log('end')).toContain('end: {"best": {"rate": 0.007');
  }, 90_000);

  test('examples/fanout.ts as it is (--param width=4, Fargate queue): items from start\'s committed outputs; the join sums every child', async () => {
    const options: Partial<CompileOptions> = { params: { width: '4' }, platformOf: () => 'FARGATE', executionRoleArn: 'arn:aws:iam::123456789012:role/exec' };
    const { compiled, registered } = await compileExample(fanout, options, EXAMPLES.fanout(4));
    const run = await play(compiled);
    succeeded(run);
    registered();
    const r = `FanoutFlow/${EXECUTION}`;
    expect(await json(`${r}/start/0/outputs.json`)).toEqual({ items: [1, 2, 3, 4] });
    for (let i = 0; i < 4; i++) {
      expect(await json(`${r}/square/${i}/outputs.json`)).toEqual({ square: (i + 1) ** 2 });
      expect(await json(`${r}/square/${i}/status.json`)).toEqual(committed('square', String(i), ['start/0'], { foreachIndex: i }));
    }
    expect(await json(`${r}/join/0/outputs.json`)).toEqual({ total: 30, children: 4 });
    expect(run.batch.log('end')).toContain('end: {"total": 30, "children": 4}');
  }, 90_000);

  test('examples/pyscripts/flow.ts (--param rows=40): its scripts from the code package, the data set through S3', async () => {
    const dir = path.join(__dirname, '../../../examples/pyscripts');
    const scripts = Object.fromEntries(['prepare.py', 'train.py', 'report.py'].map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
    const { compiled, registered } = await compileExample(pyscripts, { params: { rows: '40' } }, EXAMPLES.pyscripts(40), scripts);
    const run = await play(compiled);
    succeeded(run);
    registered();
    const r = `PyScriptsFlow/${EXECUTION}`;
    expect(await json(`${r}/start/0/outputs.json`)).toEqual({ rows: 40 });
    expect((await get(`${r}/start/0/data.csv`))!.split(/\r?\n/)[0]).toBe('x,y');
    expect(await json(`${r}/train/0/outputs.json`)).toMatchObject({ slope: expect.closeTo(3, 0), intercept: expect.closeTo(2, 0) });
  }, 60_000);

  test('examples/resilient.ts with Batch\'s minimum timeout (60 s, played as 1 s; the example\'s 1 s is refused): retry, timeout and catch', async () => {
    const { compiled, registered } = await compileExample(resilientOnBatch(resilient), {}, EXAMPLES.resilient());
    const run = await playOnMoto(compiled, moto, {}, undefined, { MF_ATTEMPT_TIMEOUT_SECONDS: '1', MF_STOP_GRACE_SECONDS: '1' });
    succeeded(run);
    registered();
    const r = `ResilientFlow/${EXECUTION}`;
    expect((await json(`${r}/hung/0/status.json`)).attempts).toMatchObject([{ attempt: 0, status: 'timeout' }, { attempt: 1, status: 'succeeded' }]);
    expect(await json(`${r}/failing/0/status.json`)).toMatchObject({ status: 'caught' });
    expect(run.batch.log('end')).toMatch(/end: caught failure: \{"step":"failing".*"exitCode":3/);
  }, 90_000);

  (examples.available ? test : test.skip)('every example execution is in the metadata service: the Python client (from S3) and the UI backend read it back; a screenshot of its DAG', async () => {
    await examples.check({ count: 5, env: s3Reader(`s3://${BUCKET}/${PREFIX}`, moto.endpoint), screenshot: { flow: 'ResilientFlow', layer: 'sfn' } });
  }, 180_000);

  test('a branch with a caught failure: both arms run, the failed attempts are kept, the join and end see the failure', async () => {
    const flow = graphOf({
      name: 'CaughtFlow',
      image: PYTHON,
      steps: [
        { name: 'start', command: sh('echo \'{"n": 7}\' > "$MF_OUTPUT_DIR/outputs.json"'), next: ['ok', 'failing'] },
        { name: 'ok', command: sh('n=$(sed -e "s/[^0-9]//g" "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"); echo "{\\"double\\": $((n * 2))}" > "$MF_OUTPUT_DIR/outputs.json"'), next: 'join' },
        {
          name: 'failing',
          command: sh('echo "attempt $MF_RETRY_COUNT" > "$MF_OUTPUT_DIR/trace.txt"; exit 3'),
          retry: { times: 1, minutesBetweenRetries: 0 },
          catch: { var: 'compute_failed' },
          next: 'join',
        },
        {
          name: 'join',
          join: true,
          command: sh('printf \'{"ok": %s, "caught": %s}\' "$(cat "$MF_DATASTORE_ROOT/${MF_INPUT_PATHS%%,*}/outputs.json")" "$MF_CATCH_compute_failed" > "$MF_OUTPUT_DIR/outputs.json"'),
          next: 'end',
        },
        { name: 'end', command: sh('echo "caught: $MF_CATCH_compute_failed"') },
      ],
    });
    const compiled = compileValid(flow);
    const run = await play(compiled);
    succeeded(run);
    const r = `CaughtFlow/${EXECUTION}`;
    // the second (last allowed) attempt fails too: its runtime records the task caught and exits 0
    expect(run.batch.jobs.filter((j) => j.state === 'failing').map((j) => j.children[0].exitCode)).toEqual([3, 0]);
    // Both failed attempts' outputs are uploaded for diagnosis; nothing of theirs is committed.
    expect(await get(`${r}/failing/0/attempt-0/trace.txt`)).toBe('attempt 0\n');
    expect(await get(`${r}/failing/0/attempt-1/trace.txt`)).toBe('attempt 1\n');
    expect(await get(`${r}/failing/0/trace.txt`)).toBeUndefined();
    const failure = { step: 'failing', taskId: '0', message: 'step failing/0 failed: exit code 3 (after 2 attempts)', exitCode: 3, statusReason: 'failed', attempts: 2 };
    expect(await json(`${r}/failing/0/status.json`)).toMatchObject({
      step: 'failing',
      taskId: '0',
      status: 'caught',
      inputs: ['start/0'],
      attempts: [
        { attempt: 0, status: 'failed', exitCode: 3 },
        { attempt: 1, status: 'failed', exitCode: 3 },
      ],
      caught: failure,
    });
    expect(await json(`${r}/join/0/outputs.json`)).toEqual({ ok: { double: 14 }, caught: failure });
    expect(await json(`${r}/join/0/status.json`)).toEqual(committed('join', '0', ['ok/0', 'failing/0']));
    expect(run.batch.log('end')).toContain(`end: caught: ${JSON.stringify(failure)}`);
  }, 30_000);
  test('a nested foreach with string items, a chunk of one and a retried body child: each child sees its item, each inner join its own children; only the failed child reruns', async () => {
    const flow = graphOf({
      name: 'NestFlow',
      image: PYTHON,
      steps: [
        { name: 'start', command: sh('true'), foreach: { items: ['a', 'b c'] }, next: 'outer' },
        {
          name: 'outer',
          // "a" opens one inner child, "b c" two
          command: sh('echo "outer [$MF_FOREACH_ITEM]"; case "$MF_FOREACH_ITEM" in a) p=\'["x"]\';; *) p=\'["y","z"]\';; esac; echo "{\\"parts\\": $p}" > "$MF_OUTPUT_DIR/outputs.json"'),
          foreach: { output: 'parts' },
          next: 'inner',
        },
        {
          name: 'inner',
          // the first attempt of child "z" fails: that child alone is retried, in its container (in-task.ts)
          command: sh('[ "$MF_FOREACH_ITEM$MF_RETRY_COUNT" != z0 ] || exit 4; echo "{\\"item\\": \\"$MF_FOREACH_ITEM\\", \\"task\\": \\"$MF_TASK_ID\\"}" > "$MF_OUTPUT_DIR/outputs.json"'),
          retry: { times: 1, minutesBetweenRetries: 0 },
          next: 'innerjoin',
        },
        {
          name: 'innerjoin',
          join: true,
          command: sh('{ printf \'{"items": "\'; while read -r p; do sed -n -e \'s/.*"item": "\\([^"]*\\)".*/\\1/p\' "$MF_DATASTORE_ROOT/$p/outputs.json" | tr -d "\\n"; done < "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"; echo \'"}\'; } > "$MF_OUTPUT_DIR/outputs.json"'),
          next: 'after',
        },
        { name: 'after', command: sh('cp "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json" "$MF_OUTPUT_DIR/outputs.json"'), next: 'outerjoin' },
        {
          name: 'outerjoin',
          join: true,
          command: sh('{ printf \'{"all": "\'; while read -r p; do sed -n -e \'s/.*"items": "\\([^"]*\\)".*/\\1/p\' "$MF_DATASTORE_ROOT/$p/outputs.json" | tr -d "\\n"; printf /; done < "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"; echo \'"}\'; } > "$MF_OUTPUT_DIR/outputs.json"'),
          next: 'end',
        },
        { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"') },
      ],
    });
    const run = await play(compileValid(flow));
    succeeded(run);
    const r = `NestFlow/${EXECUTION}`;
    expect(run.batch.log('outer')).toContain('outer: outer [b c]');
    expect(await json(`${r}/outer/0/outputs.json`)).toEqual({ parts: ['x'] });
    expect(await json(`${r}/outer/1/outputs.json`)).toEqual({ parts: ['y', 'z'] });
    expect(await json(`${r}/outer/1/status.json`)).toEqual(committed('outer', '1', ['start/0'], { foreachIndex: 1 }));
    // Outer child 0 has one inner child (a plain job), outer child 1 two (an array, run once: child 1_1 retried inside it).
    const inner = run.batch.jobs.filter((j) => j.state.startsWith('inner') && !j.state.startsWith('innerjoin'));
    expect(inner.map((j) => [j.state, j.params.ArrayProperties?.Size, j.children.map((c) => c.exitCode)]).sort()).toEqual([
      ['inner', 2, [0, 0]],
      ['inner.single', undefined, [0]],
    ]);
    expect(await json(`${r}/inner/0_0/outputs.json`)).toEqual({ item: 'x', task: '0_0' });
    expect(await json(`${r}/inner/1_0/outputs.json`)).toEqual({ item: 'y', task: '1_0' });
    expect(await json(`${r}/inner/1_1/outputs.json`)).toEqual({ item: 'z', task: '1_1' });
    // the retried child's two attempts in its record, the second committed (attempt 1 in its key); its sibling ran once
    expect(await json(`${r}/inner/1_1/status.json`)).toMatchObject({ step: 'inner', taskId: '1_1', status: 'succeeded', inputs: ['outer/1'], foreachIndex: 1, attempts: [{ attempt: 0, status: 'failed', exitCode: 4 }, { attempt: 1, status: 'succeeded' }] });
    expect(await json(`${r}/inner/1_0/status.json`)).toMatchObject({ attempts: [{ attempt: 0, status: 'succeeded' }] });
    expect(run.batch.log('inner')).toContain('inner: metaflow-cdk: attempt 0 of inner/1_1 failed: retrying in 0s (attempt 1)');
    expect(await keys(`${r}/inner/1_1/attempt-`)).toEqual([`${r}/inner/1_1/attempt-1/outputs.json`]);
    expect(await json(`${r}/innerjoin/0/outputs.json`)).toEqual({ items: 'x' });
    expect(await json(`${r}/innerjoin/1/outputs.json`)).toEqual({ items: 'yz' });
    expect(await json(`${r}/innerjoin/1/status.json`)).toEqual(committed('innerjoin', '1', ['inner/1_0', 'inner/1_1'], { foreachIndex: 1 }));
    expect(await json(`${r}/outerjoin/0/outputs.json`)).toEqual({ all: 'x/yz/' });
    expect(await json(`${r}/outerjoin/0/status.json`)).toEqual(committed('outerjoin', '0', ['after/0', 'after/1']));
    expect(run.batch.log('end')).toContain('end: {"all": "x/yz/"}');
  }, 30_000);
  test('a branch inside a foreach body and a foreach inside a branch arm: every join gets its own inputs', async () => {
    const flow = graphOf({
      name: 'MixFlow',
      image: PYTHON,
      steps: [
        { name: 'start', command: sh('true'), next: ['left', 'right'] },
        { name: 'left', command: sh('true'), foreach: { items: [{ k: 1 }, { k: 2 }] }, next: 'body' },
        { name: 'body', command: sh('echo "$MF_FOREACH_ITEM" > "$MF_OUTPUT_DIR/item.json"'), next: ['p', 'q'] },
        { name: 'p', command: sh('cp "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/item.json" "$MF_OUTPUT_DIR/p.json"'), next: 'bj' },
        { name: 'q', command: sh('echo "\\"q$MF_TASK_ID\\"" > "$MF_OUTPUT_DIR/q.json"'), next: 'bj' },
        { name: 'bj', join: true, command: sh('set -- $(echo "$MF_INPUT_PATHS" | tr , " "); echo "[$(cat "$MF_DATASTORE_ROOT/$1/p.json"),$(cat "$MF_DATASTORE_ROOT/$2/q.json")]" > "$MF_OUTPUT_DIR/outputs.json"; mkdir "$MF_OUTPUT_DIR/keep"; : > "$MF_OUTPUT_DIR/keep/attempt-x.txt"'), next: 'fj' },
        { name: 'fj', join: true, command: sh('{ echo "["; sed -e "s#.*#\\"&\\",#" "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE"; echo "null]"; } > "$MF_OUTPUT_DIR/outputs.json"; cd "$MF_DATASTORE_ROOT/MixFlow/$MF_RUN_ID/bj" && echo "mirror:" $(find . -type f | sort)'), next: 'j' },
        { name: 'right', command: sh('true'), next: 'j' },
        { name: 'j', join: true, command: sh('echo "$MF_INPUT_PATHS"'), next: 'end' },
        { name: 'end', command: sh('true') },
      ],
    });
    const run = await play(compileValid(flow));
    succeeded(run);
    const r = `MixFlow/${EXECUTION}`;
    expect(await json(`${r}/bj/0/outputs.json`)).toEqual([{ k: 1 }, 'q0']);
    expect(await json(`${r}/bj/1/outputs.json`)).toEqual([{ k: 2 }, 'q1']);
    expect(await json(`${r}/bj/1/status.json`)).toEqual(committed('bj', '1', ['p/1', 'q/1'], { foreachIndex: 1 }));
    expect(await json(`${r}/fj/0/outputs.json`)).toEqual([`${r}/bj/0`, `${r}/bj/1`, null]);
    // The foreach join mirrors each child's committed outputs, not its attempt-* copies (nothing under
    // them, however deep) — but a user's deeper attempt-* file stays.
    expect(await keys(`${r}/bj/0/attempt-0/`)).toEqual([`${r}/bj/0/attempt-0/keep/attempt-x.txt`, `${r}/bj/0/attempt-0/outputs.json`]);
    const mirrored = (i: number) => [`./${i}/keep/attempt-x.txt`, `./${i}/outputs.json`, `./${i}/status.json`];
    expect(run.batch.log('fj')).toContain(`fj: mirror: ${[...mirrored(0), ...mirrored(1)].join(' ')}`);
    expect(await json(`${r}/j/0/status.json`)).toEqual(committed('j', '0', ['fj/0', 'right/0']));
    expect(run.batch.log('j')).toContain(`j: ${r}/fj/0,${r}/right/0`);
  }, 30_000);
  test('a caught foreach split: no child runs; its join runs at once with an empty input list and the failure, as on the runner', async () => {
    const flow = graphOf({
      name: 'CaughtSplitFlow',
      image: PYTHON,
      steps: [
        { name: 'start', command: sh('exit 5'), foreach: { items: [1, 2] }, catch: { var: 'split_failed' }, next: 'body' },
        { name: 'body', command: sh('true'), next: 'join' },
        {
          name: 'join',
          join: true,
          command: sh('printf \'{"inputs": %s, "caught": %s}\' "$(wc -l < "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS_FILE")" "$MF_CATCH_split_failed" > "$MF_OUTPUT_DIR/outputs.json"'),
          next: 'end',
        },
        { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"') },
      ],
    });
    const run = await play(compileValid(flow));
    succeeded(run);
    const r = `CaughtSplitFlow/${EXECUTION}`;
    expect(run.batch.jobs.map((j) => j.state)).toEqual(['start', 'join.no-inputs', 'end']);
    // caught by the split's runtime (its job then succeeds): the machine reads its status.json and goes to the join without inputs
    expect(run.batch.jobs.map((j) => j.children[0].exitCode)).toEqual([0, 0, 0]);
    const failure = { step: 'start', taskId: '0', message: 'step start/0 failed: exit code 5', exitCode: 5, statusReason: 'failed', attempts: 1 };
    expect(await json(`${r}/start/0/status.json`)).toMatchObject({ status: 'caught', attempts: [{ attempt: 0, status: 'failed', exitCode: 5 }], caught: failure });
    expect(await json(`${r}/join/0/outputs.json`)).toEqual({ inputs: 0, caught: failure });
    expect(await json(`${r}/join/0/status.json`)).toEqual(committed('join', '0', []));
    expect(await keys(`${r}/body/`)).toEqual([]);
    expect(run.batch.log('end')).toContain('end: {"inputs": 0, "caught": {');
  }, 30_000);
}, ['--help']);

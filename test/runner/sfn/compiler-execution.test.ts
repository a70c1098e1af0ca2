/**
 * Compiled state machines executed with aws-local-stepfunctions: Batch jobs emulated per Task state
 * (success, failure with Batch's status reason), S3 in memory. Each test asserts the path taken
 * (the SubmitJob calls in order), the SubmitJob parameters the tasks would get, and the final state.
 */
import { BACKSTOP_MARGIN_SECONDS, STOP_GRACE_SECONDS } from '../../../runner/sfn/compiler/in-task';
import { allStates, compileValid, envOf, execute, EXECUTION, graphOf, key, sh, type Outcome, type SubmitJob } from './compiler-support';

const IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';
const x = sh('true');
const fail = (reason: string): Outcome => ({ ok: false, reason });

const states = (run: { submits: { state: string }[] }) => run.submits.map((s) => s.state);

describe('linear flows, parameters, retries, timeouts', () => {
  const flow = graphOf({
    name: 'Lin',
    image: IMAGE,
    parameters: { who: { default: 'world' }, n: { type: 'integer' } },
    steps: [
      { name: 'start', command: x, next: 'flaky' },
      { name: 'flaky', command: x, next: 'end', retry: { times: 2, minutesBetweenRetries: 0.5 }, timeout: { minutes: 2 } },
      { name: 'end', command: x },
    ],
  });
  const compiled = compileValid(flow);

  test('success: every step once, in order, with the run id and the merged parameters', async () => {
    const run = await execute(compiled, { Parameters: { n: 3, who: 'mars' } });
    expect(run.error).toBeUndefined();
    expect(states(run)).toEqual(['start', 'flaky', 'end']);
    const env = envOf(run.submits[1].params);
    expect(env).toMatchObject({ MF_RUN_ID: EXECUTION, MF_PARAM_WHO: 'mars', MF_PARAM_N: '3', MF_RETRY_COUNT: '0', MF_INPUT_PATHS: `Lin/${EXECUTION}/start/0` });
    expect(envOf(run.submits[1].params)).toMatchObject({ MF_OUTPUT_KEY: `Lin/${EXECUTION}/flaky/0/attempt-0`, MF_COMMIT_KEY: `Lin/${EXECUTION}/flaky/0` });
    expect(run.submits[1].params.Tags).toMatchObject({ 'metaflow.run_id': EXECUTION, 'metaflow.attempt': '0', 'metaflow.step': 'flaky' });
    expect(run.output).toEqual({ params: { who: 'mars', n: 3 }, caught: {}, ctx: {} });
  });

  test('parameters: the compiled default when the input has none; a missing required one stops at once', async () => {
    const withDefault = await execute(compiled, { Parameters: { n: 1 } });
    expect(envOf(withDefault.submits[0].params).MF_PARAM_WHO).toBe('world');
    const missing = await execute(compiled, {});
    expect(missing.submits).toEqual([]);
    expect(missing.error?.message).toContain('flow "Lin" needs "n" in the execution input');
  });

  test('failure then success: the retry is a fresh SubmitJob with MF_RETRY_COUNT=1, after the step interval', async () => {
    const retry = (allStates(compiled.definition).get('flaky')!.Retry as { ErrorEquals: string[]; IntervalSeconds: number }[])[1];
    expect(retry).toMatchObject({ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 30, MaxAttempts: 2 });
    const run = await execute(compiled, { Parameters: { n: 1 } }, { flaky: [fail('Essential container in task exited'), { ok: true }] });
    expect(run.error).toBeUndefined();
    expect(states(run)).toEqual(['start', 'flaky', 'flaky', 'end']);
    const [first, second] = run.submits.filter((s) => s.state === 'flaky').map((s) => s.params);
    expect(envOf(first).MF_RETRY_COUNT).toBe('0');
    expect(envOf(second).MF_RETRY_COUNT).toBe('1');
    expect(envOf(second).MF_OUTPUT_KEY).toBe(`Lin/${EXECUTION}/flaky/0/attempt-1`);
    expect(second.Tags['metaflow.attempt']).toBe('1');
    expect(envOf(run.submits[3].params).MF_RETRY_COUNT).toBe('0');
  });

  test('a timed-out attempt (Batch ends it at the job definition timeout) is retried like any failure; out of retries the execution fails', async () => {
    const definition = compiled.jobDefinitions.find((d) => d.jobDefinitionName!.startsWith('metaflow_Lin-flaky'))!;
    // the runtime stops the attempt at 120 s; Batch's timeout is the backstop (in-task.ts)
    expect(definition.timeout).toEqual({ attemptDurationSeconds: 120 + STOP_GRACE_SECONDS + BACKSTOP_MARGIN_SECONDS });
    const timeout = fail('Job attempt duration exceeded timeout');
    const saved = await execute(compiled, { Parameters: { n: 1 } }, { flaky: [timeout, timeout, { ok: true }] });
    expect(states(saved)).toEqual(['start', 'flaky', 'flaky', 'flaky', 'end']);
    const lost = await execute(compiled, { Parameters: { n: 1 } }, { flaky: [timeout] });
    expect(states(lost)).toEqual(['start', 'flaky', 'flaky', 'flaky']);
    expect(lost.error?.message).toContain('Job attempt duration exceeded timeout');
  });

  test('a spot reclaim is absorbed by Batch (retryStrategy in the job definition): one SubmitJob, no ASL retry', async () => {
    const definition = compiled.jobDefinitions.find((d) => d.jobDefinitionName!.startsWith('metaflow_Lin-flaky'))!;
    expect(definition.retryStrategy?.evaluateOnExit?.[0]).toEqual({ onStatusReason: 'Host EC2*', action: 'RETRY' });
    const run = await execute(compiled, { Parameters: { n: 1 } }, { flaky: [{ ok: true }] });
    expect(states(run)).toEqual(['start', 'flaky', 'end']);
  });
});

describe('catch and branches', () => {
  const flow = graphOf({
    name: 'Br',
    image: IMAGE,
    steps: [
      { name: 'start', command: x, next: ['ok', 'failing'] },
      { name: 'ok', command: x, next: 'join' },
      { name: 'failing', command: x, next: 'join', catch: { var: 'compute_failed' } },
      { name: 'join', join: true, command: x, next: 'end' },
      { name: 'end', command: x },
    ],
  });
  const compiled = compileValid(flow);

  test('branch/join: both arms run, the join gets both inputs; a caught var is null when its step succeeded', async () => {
    const run = await execute(compiled);
    expect(run.error).toBeUndefined();
    expect(states(run).slice(1, 3).sort()).toEqual(['failing', 'ok']);
    expect(states(run).slice(3)).toEqual(['join', 'end']);
    const join = envOf(run.submits[3].params);
    expect(join.MF_INPUT_PATHS).toBe(`Br/${EXECUTION}/ok/0,Br/${EXECUTION}/failing/0`);
    // the runtime reads the var from the catch step's status.json (in-task.ts): null there when it succeeded
    expect(JSON.parse(join.MF_CAUGHT_READ)).toEqual([{ var: 'compute_failed', step: 'failing', mode: 'task', depth: 0 }]);
    expect(join.MF_CATCH_compute_failed).toBeUndefined();
    expect(envOf(run.submits[3].params).MF_FETCH_KEYS).toBe(`Br/${EXECUTION}/ok/0/ Br/${EXECUTION}/failing/0/`);
    expect(run.output).toEqual({ params: {}, caught: { compute_failed: null }, ctx: {} });
  });

  test('catch: the failure is recorded under the var and the flow goes on along the normal edges', async () => {
    const run = await execute(compiled, {}, { failing: [fail('Essential container in task exited')] });
    expect(run.error).toBeUndefined();
    expect(states(run).filter((s) => s === 'failing')).toHaveLength(1);
    expect(states(run).slice(-2)).toEqual(['join', 'end']);
    const failure = { step: 'failing', taskId: '0', message: 'step failing/0 failed: States.TaskFailed', exitCode: null, statusReason: 'States.TaskFailed', attempts: 1 };
    // the later steps' runtimes read the failure from the record below (MF_CAUGHT_READ)
    for (const s of run.submits.slice(-2)) expect(JSON.parse(envOf(s.params).MF_CAUGHT_READ)).toEqual([{ var: 'compute_failed', step: 'failing', mode: 'task', depth: 0 }]);
    // The caught task's record: the next steps' fetch of its task path finds it.
    expect(JSON.parse(run.s3.get(key(`Br/${EXECUTION}/failing/0/status.json`))!)).toEqual({
      step: 'failing',
      taskId: '0',
      status: 'caught',
      inputs: ['start/0'],
      attempts: [{ attempt: 0, status: 'failed', exitCode: null }],
      caught: failure,
    });
    // Steps before the catch step do not see the var.
    expect(envOf(run.submits[0].params).MF_CAUGHT_READ).toBeUndefined();
    expect(run.output).toEqual({ params: {}, caught: { compute_failed: failure }, ctx: {} });
  });
});

test('catch without a var: the failure is recorded in the task\'s status.json only, and the flow goes on', async () => {
  const compiled = compileValid(
    graphOf({
      name: 'NoVar',
      image: IMAGE,
      steps: [
        { name: 'start', command: x, next: 'risky' },
        { name: 'risky', command: x, next: 'end', catch: {} },
        { name: 'end', command: x },
      ],
    }),
  );
  const run = await execute(compiled, {}, { risky: [fail('Essential container in task exited')] });
  expect(run.error).toBeUndefined();
  expect(states(run)).toEqual(['start', 'risky', 'end']);
  expect(JSON.parse(run.s3.get(key(`NoVar/${EXECUTION}/risky/0/status.json`))!)).toEqual({
    step: 'risky',
    taskId: '0',
    status: 'caught',
    inputs: ['start/0'],
    attempts: [{ attempt: 0, status: 'failed', exitCode: null }],
    caught: { step: 'risky', taskId: '0', message: 'step risky/0 failed', exitCode: null, statusReason: 'failed', attempts: 1 },
  });
  expect(run.output).toEqual({ params: {}, caught: {}, ctx: {} });
});

describe('foreach', () => {
  const foreachFlow = (name: string, foreach: object, parameters?: object) =>
    graphOf({
      name,
      image: IMAGE,
      parameters: parameters as never,
      steps: [
        { name: 'start', command: x, next: 'body', foreach: foreach as never },
        { name: 'body', command: x, next: 'more' },
        { name: 'more', command: x, next: 'join' },
        { name: 'join', join: true, command: x, next: 'end' },
        { name: 'end', command: x },
      ],
    });

  test('static items, 3 children: the items written for the children, every body step one array job of 3, the join gets all 3', async () => {
    const run = await execute(compileValid(foreachFlow('Fe', { items: ['a', 'b', { c: 1 }] })));
    expect(run.error).toBeUndefined();
    expect(states(run)).toEqual(['start', 'body', 'more', 'join', 'end']);
    expect(run.s3.get(key(`Fe/${EXECUTION}/start/0/foreach-items.json`))).toBe('["a","b",{"c":1}]');
    const body = run.submits[1].params;
    expect(body.ArrayProperties).toEqual({ Size: 3 });
    expect(envOf(body)).toMatchObject({
      MF_TASK_ID_PREFIX: '',
      MF_ARRAY_INDEX_OFFSET: '0',
      MF_FOREACH_COUNT: '3',
      MF_FOREACH_ITEMS_FILE: `Fe/${EXECUTION}/start/0/foreach-items.jsonl`,
      MF_INPUT_PATHS: `Fe/${EXECUTION}/start/0`,
      MF_OUTPUT_KEY: `Fe/${EXECUTION}/body/{taskId}/attempt-0`,
    });
    expect(envOf(body)).toMatchObject({ MF_FOREACH_ITEMS_JSON: `Fe/${EXECUTION}/start/0/foreach-items.json`, MF_COMMIT_KEY: `Fe/${EXECUTION}/body/{taskId}` });
    expect(body.Tags['metaflow.task_id']).toBe('0_2');
    expect(envOf(run.submits[2].params).MF_INPUT_PATHS).toBe(`Fe/${EXECUTION}/body/{taskId}`);
    const join = run.submits[3].params;
    expect(join.ArrayProperties).toBeUndefined();
    expect(envOf(join)).toMatchObject({ MF_JOIN_INPUT_PREFIX: `Fe/${EXECUTION}/more/`, MF_JOIN_INPUT_COUNT: '3', MF_INPUT_PATHS_FILE: `Fe/${EXECUTION}/join/0/input-paths.txt` });
    expect(envOf(join)).toMatchObject({ MF_FETCH_CHILDREN: `Fe/${EXECUTION}/more/` });
    expect(envOf(join).MF_FETCH_KEYS).toBeUndefined();
    // status.json lists the join's inputs from the list its prelude writes (only known in the container).
    expect(envOf(join)).toMatchObject({ MF_COMMIT_INPUTS_FILE: `Fe/${EXECUTION}/join/0/input-paths.txt` });
    expect(envOf(join).MF_COMMIT_INPUTS).toBeUndefined();
    expect(envOf(run.submits[2].params).MF_COMMIT_INPUTS).toBe('body/{taskId}');
    expect(envOf(body).MF_COMMIT_INPUTS).toBe('start/0');
    expect(run.output).toMatchObject({ params: {}, caught: {}, ctx: {}, joined: { prefix: '', count: 3 } });
  });

  const big = foreachFlow('Wide', { param: 'ids' }, { ids: { type: 'list', itemType: 'integer', default: [1] } });
  const wide = compileValid(big);

  test('10,000 children from a parameter: one array job of 10,000 per body step', async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => i);
    const run = await execute(wide, { Parameters: { ids } });
    expect(run.error).toBeUndefined();
    expect(states(run)).toEqual(['start', 'body', 'more', 'join', 'end']);
    expect(run.submits[1].params.ArrayProperties).toEqual({ Size: 10_000 });
    expect(envOf(run.submits[3].params).MF_JOIN_INPUT_COUNT).toBe('10000');
    expect(JSON.parse(run.s3.get(key(`Wide/${EXECUTION}/start/0/foreach-items.json`))!)).toHaveLength(10_000);
  });

  test('10,001 children: a chunk of 10,000 (array) and a chunk of one (a plain job: Batch arrays start at 2)', async () => {
    const run = await execute(wide, { Parameters: { ids: Array.from({ length: 10_001 }, (_, i) => i) } });
    expect(run.error).toBeUndefined();
    const body = run.submits.filter((s) => s.state.startsWith('body')).map((s) => [s.state, s.params.ArrayProperties?.Size, envOf(s.params).MF_ARRAY_INDEX_OFFSET]);
    expect(body.sort()).toEqual([
      ['body', 10_000, '0'],
      ['body.single', undefined, '10000'],
    ]);
    expect(envOf(run.submits.find((s) => s.state === 'join')!.params).MF_JOIN_INPUT_COUNT).toBe('10001');
  });

  test('a caught split: no child; the join\'s twin fetches nothing and lists no inputs; a successful split takes the normal path', async () => {
    const flow = graphOf({
      name: 'CS',
      image: IMAGE,
      steps: [
        { name: 'start', command: x, next: 'body', foreach: { items: [1, 2] }, catch: { var: 'v' } },
        { name: 'body', command: x, next: 'join' },
        { name: 'join', join: true, command: x, next: 'end', retry: { times: 1, minutesBetweenRetries: 0 } },
        { name: 'end', command: x },
      ],
    });
    const compiled = compileValid(flow);
    const caught = await execute(compiled, {}, { start: [fail('Essential container in task exited')] });
    expect(caught.error).toBeUndefined();
    expect(states(caught)).toEqual(['start', 'join.no-inputs', 'end']);
    const twin = caught.submits[1].params;
    expect(envOf(twin).MF_FETCH_KEYS).toBeUndefined();
    expect(envOf(twin).MF_FETCH_CHILDREN).toBeUndefined();
    expect(envOf(twin)).toMatchObject({ MF_JOIN_INPUT_COUNT: '0', MF_INPUT_PATHS_FILE: `CS/${EXECUTION}/join/0/input-paths.txt`, MF_OUTPUT_KEY: `CS/${EXECUTION}/join/0/attempt-0` });
    // MF_DATASTORE_ROOT and MF_OUTPUT_DIR are the task runtime's to set in the container (its mirror)
    expect(envOf(twin).MF_OUTPUT_DIR).toBeUndefined();
    expect(envOf(twin).MF_DATASTORE_ROOT).toBeUndefined();
    expect(JSON.parse(envOf(twin).MF_CAUGHT_READ)).toEqual([{ var: 'v', step: 'start', mode: 'task', depth: 0 }]);
    expect(JSON.parse(caught.s3.get(key(`CS/${EXECUTION}/start/0/status.json`))!).caught).toMatchObject({ step: 'start', statusReason: 'States.TaskFailed' });
    // the twin has the join's retry
    expect(allStates(compiled.definition).get('join.no-inputs')!.Retry).toEqual(allStates(compiled.definition).get('join')!.Retry);
    // the split's runtime commits its status.json; the machine reads it to tell a split its runtime caught
    const record = (status: string): Outcome => ({ ok: true, write: (_p, s3) => s3.set(key(`CS/${EXECUTION}/start/0/status.json`), JSON.stringify({ status })) });
    const ok = await execute(compiled, {}, { start: [record('succeeded')] });
    expect(states(ok)).toEqual(['start', 'body', 'join', 'end']);
    const caughtInTask = await execute(compiled, {}, { start: [record('caught')] });
    expect(caughtInTask.error).toBeUndefined();
    expect(states(caughtInTask)).toEqual(['start', 'join.no-inputs', 'end']);
  });

  test('an empty list stops the execution with metaflow.ForeachItems before any child', async () => {
    const run = await execute(wide, { Parameters: { ids: [] } });
    expect(states(run)).toEqual(['start']);
    expect(run.error?.message).toContain('needs a non-empty list in parameter "ids"');
  });

  test('items from the split step outputs (read from its committed outputs.json)', async () => {
    const compiled = compileValid(foreachFlow('Out', { output: 'items' }));
    const write = (_p: SubmitJob, s3: Map<string, string>) => s3.set(key(`Out/${EXECUTION}/start/0/outputs.json`), JSON.stringify({ items: [10, 20] }));
    const run = await execute(compiled, {}, { start: [{ ok: true, write }] });
    expect(run.error).toBeUndefined();
    expect(run.submits[1].params.ArrayProperties).toEqual({ Size: 2 });
    expect(run.s3.get(key(`Out/${EXECUTION}/start/0/foreach-items.json`))).toBe('[10,20]');
    const missing = await execute(compiled);
    expect(missing.error?.message).toContain('NoSuchKey');
  });

  test('nested foreach: a Map over the outer children, each with its own inner array job and join', async () => {
    const nested = compileValid(
      graphOf({
        name: 'Nest',
        image: IMAGE,
        steps: [
          { name: 'start', command: x, next: 'outer', foreach: { items: ['a', 'b', 'c'] } },
          { name: 'outer', command: x, next: 'inner', foreach: { output: 'parts' } },
          { name: 'inner', command: x, next: 'innerjoin' },
          { name: 'innerjoin', join: true, command: x, next: 'after' },
          { name: 'after', command: x, next: 'outerjoin' },
          { name: 'outerjoin', join: true, command: x, next: 'end' },
          { name: 'end', command: x },
        ],
      }),
    );
    const sizes = [2, 1, 3];
    const write = (_p: SubmitJob, s3: Map<string, string>) => sizes.forEach((n, i) => s3.set(key(`Nest/${EXECUTION}/outer/${i}/outputs.json`), JSON.stringify({ parts: Array(n).fill('p') })));
    const run = await execute(nested, {}, { outer: [{ ok: true, write }] });
    expect(run.error).toBeUndefined();
    expect(run.submits[1].params.ArrayProperties).toEqual({ Size: 3 });
    const inner = run.submits.filter((s) => s.state.startsWith('inner') && !s.state.startsWith('innerjoin'));
    const byPrefix = Object.fromEntries(inner.map((s) => [envOf(s.params).MF_TASK_ID_PREFIX, [s.params.ArrayProperties?.Size ?? 1, envOf(s.params).MF_INPUT_PATHS]]));
    expect(byPrefix).toEqual({
      '0_': [2, `Nest/${EXECUTION}/outer/0`],
      '1_': [1, `Nest/${EXECUTION}/outer/1`],
      '2_': [3, `Nest/${EXECUTION}/outer/2`],
    });
    for (let i = 0; i < 3; i++) expect(run.s3.get(key(`Nest/${EXECUTION}/outer/${i}/foreach-items.json`))).toBe(JSON.stringify(Array(sizes[i]).fill('p')));
    const joins = run.submits.filter((s) => s.state === 'innerjoin').map((s) => envOf(s.params)).map((e) => [e.MF_ARRAY_INDEX_OFFSET, e.MF_JOIN_INPUT_PREFIX, e.MF_JOIN_INPUT_COUNT]);
    expect(joins.sort()).toEqual([
      ['0', `Nest/${EXECUTION}/inner/0_`, '2'],
      ['1', `Nest/${EXECUTION}/inner/1_`, '1'],
      ['2', `Nest/${EXECUTION}/inner/2_`, '3'],
    ]);
    const after = run.submits.filter((s) => s.state === 'after').map((s) => [envOf(s.params).MF_ARRAY_INDEX_OFFSET, s.params.ArrayProperties]);
    expect(after.sort()).toEqual([['0', undefined], ['1', undefined], ['2', undefined]]);
    const outerJoin = envOf(run.submits.find((s) => s.state === 'outerjoin')!.params);
    expect(outerJoin).toMatchObject({ MF_JOIN_INPUT_PREFIX: `Nest/${EXECUTION}/after/`, MF_JOIN_INPUT_COUNT: '3' });
    expect(states(run).at(-1)).toBe('end');
  });
});

describe('json parameters reach every task as the runner renders them (envValue)', () => {
  // start → two arms → join → foreach over [1, 2] (a Map over chunks) → join → end: every state
  // that rebuilds the execution's state must carry the rendering on.
  const flow = graphOf({
    name: 'Js',
    image: IMAGE,
    parameters: { cfg: { type: 'json', default: { a: 1 } }, label: { default: 'x' } },
    steps: [
      { name: 'start', command: x, next: ['left', 'right'] },
      { name: 'left', command: x, next: 'meet' },
      { name: 'right', command: x, next: 'meet' },
      { name: 'meet', join: true, command: x, next: 'body', foreach: { items: [1, 2] } },
      { name: 'body', command: x, next: 'gather' },
      { name: 'gather', join: true, command: x, next: 'end' },
      { name: 'end', command: x },
    ],
  });
  const compiled = compileValid(flow);
  const cfgOf = (run: { submits: { state: string; params: SubmitJob }[] }) => new Set(run.submits.map((s) => envOf(s.params).MF_PARAM_CFG));

  test.each([
    ['the compiled default (an object)', {}, '{"a":1}'],
    ['an object in the input', { Parameters: { cfg: { b: [2, 3] } } }, '{"b":[2,3]}'],
    ['JSON text in the input (a string): the text itself, not the text quoted', { Parameters: { cfg: '{"b":2}' } }, '{"b":2}'],
    ['a plain string', { Parameters: { cfg: 'abc' } }, 'abc'],
    ['a number', { Parameters: { cfg: 7 } }, '7'],
    ['null', { Parameters: { cfg: null } }, 'null'],
  ])('%s', async (_what, input, expected) => {
    const run = await execute(compiled, input);
    expect(run.error).toBeUndefined();
    expect(states(run).sort()).toEqual(['body', 'end', 'gather', 'left', 'meet', 'right', 'start']);
    expect(cfgOf(run)).toEqual(new Set([expected]));
    // the string parameter is untouched, and the run's parameters stay the values given
    expect(envOf(run.submits[0].params).MF_PARAM_LABEL).toBe('x');
    const given = input as { Parameters?: { cfg?: unknown } };
    expect((run.output as { params: Record<string, unknown> }).params.cfg).toEqual(given.Parameters ? given.Parameters.cfg : { a: 1 });
  });

  test('a flow without json parameters carries no rendering', () => {
    const plain = compileValid(graphOf({ name: 'Pl', image: IMAGE, parameters: { n: { default: 1 } }, steps: [{ name: 'start', command: x, next: 'end' }, { name: 'end', command: x }] }));
    expect(JSON.stringify(plain.definition)).not.toContain('ptext');
  });
});

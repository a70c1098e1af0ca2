import { defineFlow, FlowSpec, StepSpec } from '../../../runner/flow/model';
import { effectivePolicies } from '../../../runner/policy';
import { MAX_TIMEOUT_SECONDS } from '../../../runner/limits';
import { validateFlow } from '../../../runner/flow/validate';

const cmd = ['/bin/true'];
const s = (name: string, rest: Partial<StepSpec> = {}): StepSpec => ({ name, command: cmd, ...rest });
const flow = (steps: StepSpec[], extra: Partial<FlowSpec> = {}) => defineFlow({ name: 'F', steps, ...extra });

function problems(steps: StepSpec[], extra: Partial<FlowSpec> = {}): string[] {
  const r = validateFlow(flow(steps, extra));
  if (r.ok) throw new Error('expected the flow to be invalid');
  return r.problems;
}

describe('validateFlow accepts', () => {
  test.each<[string, StepSpec[]]>([
    ['linear', [s('start', { next: 'a' }), s('a', { next: 'end' }), s('end')]],
    ['branch + join', [s('start', { next: ['a', 'b'] }), s('a', { next: 'j' }), s('b', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]],
    ['foreach + join', [s('start', { foreach: { items: [1, 2] }, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]],
    [
      'nested foreach inside a branch',
      [
        s('start', { next: ['a', 'b'] }),
        s('a', { foreach: { output: 'xs' }, next: 'a1' }),
        s('a1', { next: 'aj' }),
        s('aj', { join: true, next: 'j' }),
        s('b', { next: 'j' }),
        s('j', { join: true, next: 'end' }),
        s('end'),
      ],
    ],
  ])('%s', (_name, steps) => {
    const r = validateFlow(flow(steps));
    expect(r.ok ? [] : r.problems).toEqual([]);
  });

  test('records which split each join closes', () => {
    const r = validateFlow(flow([s('start', { foreach: { items: [1] }, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]));
    expect(r.ok && r.graph.closes.get('j')).toBe('start');
  });
});

describe('validateFlow rejects, naming the step and value', () => {
  const linear = (mid: Partial<StepSpec>) => [s('start', { next: 'a' }), s('a', { next: 'end', ...mid }), s('end')];
  const cases: [string, () => string[], RegExp][] = [
    ['no start', () => problems([s('a', { next: 'end' }), s('end')]), /the flow has no "start" step/],
    ['no end', () => problems([s('start', { next: 'a' }), s('a', { next: 'start' })]), /the flow has no "end" step/],
    ['unreachable step', () => problems([s('start', { next: 'end' }), s('orphan', { next: 'end' }), s('end')]), /step "orphan" is unreachable from "start"/],
    ['cycle', () => problems([s('start', { next: 'a' }), s('a', { next: 'b' }), s('b', { next: ['a', 'end'] }), s('end')]), /cycle: a → b → a/],
    ['unknown step', () => problems([s('start', { next: 'nope' }), s('end')]), /step "start" goes to unknown step "nope"/],
    ['duplicate names', () => problems([s('start', { next: 'end' }), s('end'), s('end')]), /duplicate step name "end"/],
    [
      'branch without a join',
      () => problems([s('start', { next: ['a', 'b'] }), s('a', { next: 'end' }), s('b', { next: 'end' }), s('end')]),
      /the branch at "start" has no matching join/,
    ],
    ['non-join with several inputs', () => problems([s('start', { next: ['a', 'b'] }), s('a', { next: 'end' }), s('b', { next: 'end' }), s('end')]), /step "end" has 2 inputs \(a, b\) but is not a join/],
    ['foreach without a join', () => problems([s('start', { foreach: { items: [1] }, next: 'a' }), s('a', { next: 'end' }), s('end')]), /the foreach at "start" has no join/],
    [
      'join with the wrong number of inputs',
      () =>
        problems([s('start', { next: ['a', 'b'] }), s('a', { next: 'j' }), s('b', { next: 'j2' }), s('j', { join: true, next: 'j2' }), s('j2', { join: true, next: 'end' }), s('end')]),
      /join step "j" has 1 input \(a\) but the branch at "start" has 2 \(a, b\)/,
    ],
    ['join without a split', () => problems([s('start', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]), /join step "j" has no matching branch or foreach/],
    [
      'foreach join with two inputs',
      () => problems([s('start', { foreach: { items: [1] }, next: 'a' }), s('a', { next: ['b', 'c'] }), s('b', { next: 'j' }), s('c', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]),
      /join step "j" closes the foreach at "a" and must have 1 input, has 2|the foreach at "start" has no join/,
    ],
    ['negative cpu', () => problems(linear({ resources: { cpu: -1 } })), /step "a": resources.cpu must be a positive number of vCPUs, got -1/],
    ['non-numeric memory', () => problems(linear({ resources: { memory: '4GB' as unknown as number } })), /step "a": resources.memory must be a positive number of MiB, got "4GB"/],
    ['fractional gpu', () => problems(linear({ resources: { gpu: 0.5 } })), /step "a": resources.gpu must be a whole number ≥ 0, got 0.5/],
    ['retry times above 9', () => problems(linear({ retry: { times: 10 } })), /step "a": retry.times must be a whole number from 0 to 9, got 10/],
    ['negative retry times', () => problems(linear({ retry: { times: -1 } })), /step "a": retry.times must be a whole number from 0 to 9, got -1/],
    ['negative retry delay', () => problems(linear({ retry: { minutesBetweenRetries: -2 } })), /step "a": retry.minutesBetweenRetries must be a number ≥ 0, got -2/],
    ['zero timeout', () => problems(linear({ timeout: { seconds: 0 } })), /step "a": timeout must be greater than zero, got \{"seconds":0\}/],
    ['negative timeout', () => problems(linear({ timeout: { minutes: -5 } })), /step "a": timeout.minutes must be a number ≥ 0, got -5/],
    ['catch var not an identifier', () => problems(linear({ catch: { var: '2bad-name' } })), /step "a": catch.var must be a valid identifier .*, got "2bad-name"/],
    ['unknown policy field', () => problems(linear({ retry: { count: 3 } as never })), /step "a": unknown retry field "count"/],
    ['parameter default of the wrong type', () => problems(linear({}), { parameters: { n: { type: 'integer', default: 'ten' } } }), /parameter "n": default "ten" is not of type integer/],
    ['unknown parameter type', () => problems(linear({}), { parameters: { n: { type: 'float' as never } } }), /parameter "n": unknown type "float"/],
    ['foreach over an unknown parameter', () => problems([s('start', { foreach: { param: 'xs' }, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]), /step "start": foreach over unknown parameter "xs"/],
    [
      'foreach over a non-list parameter',
      () => problems([s('start', { foreach: { param: 'n' }, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')], { parameters: { n: { default: 3 } } }),
      /step "start": foreach parameter "n" must be of type list, is number/,
    ],
    ['empty static foreach', () => problems([s('start', { foreach: { items: [] }, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]), /step "start": foreach.items is empty/],
    ['foreach with two next steps', () => problems([s('start', { foreach: { items: [1] }, next: ['a', 'b'] }), s('a', { next: 'end' }), s('b', { next: 'end' }), s('end')]), /a foreach needs exactly one next step/],
    ['empty command', () => problems([s('start', { next: 'end', command: [] }), s('end')]), /step "start": command must be a non-empty array of strings, got \[\]/],
    ['step without next', () => problems([s('start', { next: 'a' }), s('a'), s('end')]), /step "a" has no next step/],
    ['end with a next step', () => problems([s('start', { next: 'end' }), s('end', { next: 'start' })]), /step "end" must not have next steps/],
    ['bad step name', () => problems([s('start', { next: 'my step' }), s('my step', { next: 'end' }), s('end')]), /step "my step": the name must be a valid identifier/],
    ['bad flow name', () => { const r = validateFlow(defineFlow({ name: 'my flow!', steps: [s('start', { next: 'end' }), s('end')] })); return r.ok ? [] : r.problems; }, /flow name "my flow!" must be/],
    ['bad flow defaults', () => problems(linear({}), { defaults: { retry: { times: 12 } } }), /flow defaults: retry.times must be a whole number from 0 to 9, got 12/],
  ];

  test.each(cases)('%s', (_name, run, expected) => {
    expect(run().join('\n')).toMatch(expected);
  });

  test('reports every problem at once', () => {
    const found = problems([
      s('start', { next: 'a', resources: { cpu: 0 } }),
      s('a', { next: 'missing', retry: { times: 99 }, timeout: { hours: 0 } }),
      s('a'),
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        'duplicate step name "a"',
        'the flow has no "end" step',
        'step "start": resources.cpu must be a positive number of vCPUs, got 0',
        'step "a": retry.times must be a whole number from 0 to 9, got 99',
        'step "a": timeout must be greater than zero, got {"hours":0}',
        'step "a" goes to unknown step "missing"',
      ]),
    );
    expect(found.length).toBeGreaterThanOrEqual(6);
  });
});

describe('validateFlow catches before anything runs what no layer could honour', () => {
  const linear = (mid: Partial<StepSpec> | Record<string, unknown>) => [s('start', { next: 'a' }), s('a', { next: 'end', ...mid } as Partial<StepSpec>), s('end')];
  const one = (steps: StepSpec[], extra: Partial<FlowSpec> | Record<string, unknown> = {}) => problems(steps, extra as Partial<FlowSpec>);

  test.each<[string, () => string[], string[]]>([
    [
      'a timeout no timer can hold (720 h fired after 1 ms)',
      () => one(linear({ timeout: { hours: 720 } })),
      ['step "a": timeout must be at most 24 days (2073600 s), got {"hours":720} (2592000 s)'],
    ],
    [
      'a retry delay no timer can hold (60,000 minutes retried at once)',
      () => one(linear({ retry: { minutesBetweenRetries: 60_000 } })),
      ['step "a": retry.minutesBetweenRetries must be at most 34560 (24 days), got 60000'],
    ],
    ['a timeout in the flow defaults', () => one(linear({}), { defaults: { timeout: { minutes: 40_000 } } }), ['flow defaults: timeout must be at most 24 days (2073600 s), got {"minutes":40000} (2400000 s)']],
    ['unknown step field, with the close name', () => one(linear({ retries: { times: 2 } })), ['step "a": unknown field "retries" (did you mean "retry"?)']],
    ['unknown step field, case only', () => one(linear({ Command: ['x'] })), ['step "a": unknown field "Command" (did you mean "command"?)']],
    [
      'unknown step field with nothing close',
      () => one(linear({ gpuCount: 1 })),
      ['step "a": unknown field "gpuCount" (expected one of name, image, command, env, next, foreach, join, description, batch, resources, retry, timeout, catch)'],
    ],
    ['unknown policy field, with the close name', () => one(linear({ retry: { time: 2 } })), ['step "a": unknown retry field "time" (did you mean "times"?)']],
    ['unknown flow field', () => one(linear({}), { paramters: {} }), ['flow: unknown field "paramters" (did you mean "parameters"?)']],
    ['unknown policy in the flow defaults', () => one(linear({}), { defaults: { retries: {} } }), ['flow defaults: unknown policy "retries" (did you mean "retry"?)']],
    ['unknown foreach field', () => one([s('start', { foreach: { parm: 'xs' } as never, next: 'a' }), s('a', { next: 'j' }), s('j', { join: true, next: 'end' }), s('end')]), [
      'step "start": unknown foreach field "parm" (did you mean "param"?)',
      'step "start": foreach must be one of {items: [...]}, {output: "key"} or {param: "name"}, got {"parm":"xs"}',
    ]],
    ['unknown parameter field', () => one(linear({}), { parameters: { n: { default: 1, hlep: 'x' } } }), ['parameter "n": unknown field "hlep" (did you mean "help"?)']],
    ['env that is not a map', () => one(linear({ env: ['A=1'] })), ['step "a": env must be an object of NAME: "value" strings, got ["A=1"]']],
    ['env values that are not strings', () => one(linear({ env: { PORT: 8080, DEBUG: true, OPTS: { a: 1 } } })), [
      'step "a": env.PORT must be a string, got 8080 (write it as a string: "8080")',
      'step "a": env.DEBUG must be a string, got true (write it as a string: "true")',
      'step "a": env.OPTS must be a string, got {"a":1}',
    ]],
    ['env names that are not identifiers', () => one(linear({}), { env: { 'MY-VAR': 'x', '1X': 'y' } }), [
      'flow: env name "MY-VAR" must be letters, digits and _, not starting with a digit',
      'flow: env name "1X" must be letters, digits and _, not starting with a digit',
    ]],
    ['env names that override the task contract', () => one(linear({ env: { MF_RUN_ID: 'x', mf_param_lr: '1' } })), [
      'step "a": env name "MF_RUN_ID" is reserved: names starting with MF_ belong to the task contract (MF_FLOW, MF_PARAM_*, …)',
      'step "a": env name "mf_param_lr" is reserved: names starting with MF_ belong to the task contract (MF_FLOW, MF_PARAM_*, …)',
    ]],
    ['cpu above the largest instance', () => one(linear({ resources: { cpu: 1024 } })), ['step "a": resources.cpu must be at most 192 vCPUs (the largest instance size), got 1024']],
    [
      'memory above the largest instance (bytes instead of MiB)',
      () => one(linear({ resources: { memory: 8_589_934_592 } })),
      ['step "a": resources.memory must be at most 4194304 MiB (4 TiB, the largest instance memory), got 8589934592'],
    ],
    ['gpu above the most one instance has', () => one(linear({ resources: { gpu: 16 } })), ['step "a": resources.gpu must be at most 8 GPUs (the most one instance has), got 16']],
    ['ephemeral storage outside Fargate\'s range', () => one(linear({ resources: { ephemeralStorage: 500 } })), ['step "a": resources.ephemeralStorage must be a whole number of GiB from 21 to 200, got 500']],
    [
      'a step name longer than every layer can hold',
      () => one([s('start', { next: 'a'.repeat(41) }), s('a'.repeat(41), { next: 'end' }), s('end')]),
      [`step "${'a'.repeat(41)}": the name is 41 characters long, at most 40 fit every layer (Batch job names, Step Functions state names)`],
    ],
    [
      'a flow name longer than every layer can hold',
      () => { const r = validateFlow(defineFlow({ name: 'F'.repeat(41), steps: [s('start', { next: 'end' }), s('end')] })); return r.ok ? [] : r.problems; },
      [`flow name "${'F'.repeat(41)}" is 41 characters long, at most 40 fit every layer (Batch job names, Step Functions state machine names)`],
    ],
    ['parameter names that collide in MF_PARAM_*', () => one(linear({}), { parameters: { lr: { default: 1 }, LR: { default: 2 } } }), ['parameter "LR": reaches tasks as MF_PARAM_LR, like parameter "lr": rename one']],
    ['a list default whose items are not of the item type', () => one(linear({}), { parameters: { xs: { type: 'list', itemType: 'integer', default: [1, 'two'] } } }), [
      'parameter "xs": default [1,"two"] has an item that is not a integer: "two"',
    ]],
    ['a step that is not an object', () => one([s('start', { next: 'end' }), null as never, s('end')]), ['flow steps[1] must be a step object {name, command, next, ...}, got null']],
    ['next listing a step twice', () => one([s('start', { next: ['end', 'end'] }), s('end')]), ['step "start": next lists "end" more than once']],
  ])('%s', (_name, run, expected) => {
    const found = run();
    for (const e of expected) expect(found).toContain(e);
  });

  test('values at the limits are accepted', () => {
    const r = validateFlow(
      flow([
        s('start', { next: 'a'.repeat(40) }),
        s('a'.repeat(40), {
          next: 'end',
          resources: { cpu: 192, memory: 4 * 1024 * 1024, gpu: 8, ephemeralStorage: 200 },
          timeout: { hours: 24 * 24 },
          retry: { times: 9, minutesBetweenRetries: 24 * 24 * 60 },
          env: { PORT: '8080', _x: '' },
        }),
        s('end'),
      ], { name: 'F'.repeat(40), env: { A: 'b' }, parameters: { lr: { default: 0.1 }, lr2: { default: 2 } } }),
    );
    expect(r.ok ? [] : r.problems).toEqual([]);
  });
});

describe('the timers a step really gets, flow defaults merged in, fit the caps', () => {
  test('validation agrees with effectivePolicies on every step', () => {
    const steps = [
      s('start', { next: 'a', timeout: { minutes: 30_000 } }), // 20.8 days; with the default hours, 29.2 days
      s('a', { next: 'end', retry: { times: 2 } }),
      s('end'),
    ];
    const defaults = { timeout: { hours: 200 }, retry: { minutesBetweenRetries: 30_000 } };
    const r = validateFlow(flow(steps, { defaults }));
    const found = r.ok ? [] : r.problems;
    for (const step of steps) {
      const merged = effectivePolicies(step, { flowDefaults: defaults });
      const flagged = found.some((p) => p.startsWith(`step "${step.name}": timeout with the flow defaults merged in`));
      expect(flagged).toBe((merged.timeoutSeconds ?? 0) > MAX_TIMEOUT_SECONDS);
      expect(merged.retryDelayMs).toBeLessThanOrEqual(30_000 * 60_000);
    }
  });
});

test('a next that is neither a name nor a list is reported, not a crash', () => {
  expect(problems([s('start', { next: 5 as never }), s('end')])).toEqual(
    expect.arrayContaining(['step "start": next must be a step name or a list of step names, got 5', 'step "start" has no next step (only "end" may end the flow)']),
  );
});

import { effectivePolicies, validatePolicies } from '../../runner/policy';
import { parseParameterValue, resolveParameters } from '../../runner/flow/parameters';
import { defineFlow } from '../../runner/flow/model';

describe('effectivePolicies', () => {
  test("Metaflow's resource defaults, overridden field by field", () => {
    expect(effectivePolicies({}).resources).toEqual({ cpu: 1, memory: 4096, gpu: 0 });
    expect(effectivePolicies({ resources: { memory: 512 } }, { flowDefaults: { resources: { cpu: 4 } } }).resources).toEqual({ cpu: 4, memory: 512, gpu: 0 });
  });

  test('flow defaults merge into retry and catch field by field; a timeout replaces the default duration whole', () => {
    const flowDefaults = { retry: { minutesBetweenRetries: 1 }, catch: { printException: false }, timeout: { hours: 1 } };
    expect(effectivePolicies({ retry: { times: 2 }, catch: { var: 'oops' }, timeout: { minutes: 5 } }, { flowDefaults })).toMatchObject({
      retries: 2,
      retryDelayMs: 60_000,
      catch: { var: 'oops', printException: false },
      timeoutSeconds: 300,
    });
    expect(effectivePolicies({}, { flowDefaults })).toMatchObject({ retries: 3, retryDelayMs: 60_000, catch: { printException: false }, timeoutSeconds: 3600 });
    // --with retry gives the default policy only to steps with none, the flow's included.
    expect(effectivePolicies({}, { withRetry: true, flowDefaults: { retry: { times: 1 } } })).toMatchObject({ retries: 1, retryDelayMs: 120_000 });
  });

  test('no retry unless asked; --with retry gives 3 retries 2 minutes apart; {times: 0} opts out', () => {
    expect(effectivePolicies({})).toMatchObject({ retries: 0, retryDelayMs: 0 });
    expect(effectivePolicies({}, { withRetry: true })).toMatchObject({ retries: 3, retryDelayMs: 120_000 });
    expect(effectivePolicies({ retry: { times: 0 } }, { withRetry: true })).toMatchObject({ retries: 0 });
    expect(effectivePolicies({ retry: { minutesBetweenRetries: 0.5 } })).toMatchObject({ retries: 3, retryDelayMs: 30_000 });
  });

  test('timeout parts are summed into seconds', () => {
    expect(effectivePolicies({ timeout: { seconds: 30, minutes: 2, hours: 1 } }).timeoutSeconds).toBe(3750);
    expect(effectivePolicies({}).timeoutSeconds).toBeUndefined();
  });

  test('catch prints the exception by default', () => {
    expect(effectivePolicies({ catch: { var: 'oops' } }).catch).toEqual({ var: 'oops', printException: true });
  });

  test('a policy that is not an object is reported with the value', () => {
    expect(validatePolicies('step "x"', { retry: 3 as never })).toEqual(['step "x": retry must be an object, got 3']);
  });
});

describe('parameters', () => {
  const flow = defineFlow({
    name: 'P',
    parameters: { n: { type: 'integer', default: 1 }, rate: { default: 0.1 }, tags: { type: 'list' }, on: { default: false } },
    steps: [],
  });

  test('command-line values are parsed by type', () => {
    expect(parseParameterValue('x', 'list', '0.1, 0.2,abc')).toEqual([0.1, 0.2, 'abc']);
    expect(parseParameterValue('x', 'list', '[1,"a"]')).toEqual([1, 'a']);
    expect(parseParameterValue('x', 'boolean', 'yes')).toBe(true);
    expect(parseParameterValue('x', 'json', '{"a":1}')).toEqual({ a: 1 });
  });

  test('every bad --param is reported, each naming the parameter and value', () => {
    const { problems } = resolveParameters(flow, ['n=1.5', 'rate=fast', 'on=maybe', 'zzz=1', 'noequals']);
    expect(problems).toEqual([
      '--param n=1.5: expected an integer',
      '--param rate=fast: expected a number',
      '--param on=maybe: expected true or false',
      '--param zzz: flow "P" has no parameter "zzz" (parameters: n, rate, tags, on)',
      '--param "noequals": expected name=value',
      'parameter "tags" has no default: give it with --param tags=VALUE',
    ]);
  });

  test('defaults apply and values override them', () => {
    expect(resolveParameters(flow, ['tags=a,b', 'n=7'])).toEqual({ values: { n: 7, rate: 0.1, on: false, tags: ['a', 'b'] }, problems: [] });
  });
});

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
    // Comma-separated items stay strings as given unless the items are declared numeric.
    expect(parseParameterValue('x', 'list', '0.1, 0.2,abc')).toEqual(['0.1', '0.2', 'abc']);
    expect(parseParameterValue('x', 'list', '007,08')).toEqual(['007', '08']);
    expect(parseParameterValue('x', 'list', '0.1, 0.2', 'number')).toEqual([0.1, 0.2]);
    expect(parseParameterValue('x', 'list', '7,8', 'integer')).toEqual([7, 8]);
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

describe('list parameters keep their items as given unless declared numeric', () => {
  const flow = defineFlow({
    name: 'L',
    parameters: {
      ids: { type: 'list' },
      rates: { type: 'list', default: [0.1, 0.01] },
      counts: { type: 'list', itemType: 'integer', default: [] },
      tags: { type: 'list', itemType: 'string', default: [1] as never },
    },
    steps: [],
  });

  test('"007" stays "007" in an untyped list; a default list of numbers makes the items numbers', () => {
    expect(resolveParameters(flow, ['ids=007,1e3, x ', 'rates=0.3,3', 'counts=1,2', 'tags=a']).values).toEqual({
      ids: ['007', '1e3', 'x'],
      rates: [0.3, 3],
      counts: [1, 2],
      tags: ['a'],
    });
  });

  test('a numeric list rejects an item that is not a number, naming it', () => {
    expect(resolveParameters(flow, ['ids=a', 'rates=0.1,fast', 'counts=[1,2.5]']).problems).toEqual([
      '--param rates=0.1,fast: expected a JSON array or comma-separated values (numbers); "fast" is not a number',
      '--param counts=[1,2.5]: expected a JSON array or comma-separated values (integers); 2.5 is not an integer',
    ]);
  });

  test('a JSON array keeps its JSON values', () => {
    expect(resolveParameters(flow, ['ids=["007",7]']).values.ids).toEqual(['007', 7]);
  });
});

describe('resolveParameters catches command-line mistakes before anything runs', () => {
  const flow = defineFlow({
    name: 'P2',
    parameters: { lr: { default: 0.1 }, rates: { type: 'list', default: [0.1] }, spec: { type: 'json', default: [1] } },
    steps: [
      { name: 'start', command: ['true'], foreach: { param: 'rates' }, next: 'a' },
      { name: 'a', command: ['true'], foreach: { param: 'spec' }, next: 'b' },
      { name: 'b', command: ['true'], next: 'j' },
      { name: 'j', join: true, command: ['true'], next: 'k' },
      { name: 'k', join: true, command: ['true'], next: 'end' },
      { name: 'end', command: ['true'] },
    ],
  });

  test('a parameter given twice names both values', () => {
    expect(resolveParameters(flow, ['lr=0.2', 'lr=0.3']).problems).toEqual(['--param lr is given twice ("lr=0.2" and "lr=0.3"): give it once']);
  });

  test('an empty list that a foreach fans out over is an error naming the step', () => {
    expect(resolveParameters(flow, ['rates=']).problems).toEqual([
      'parameter "rates" is an empty list, but step "start" fans out over it: a foreach needs at least one item',
    ]);
    expect(resolveParameters(flow, ['rates=[]', 'spec={"a":1}']).problems).toEqual([
      'parameter "rates" is an empty list, but step "start" fans out over it: a foreach needs at least one item',
      'parameter "spec" is {"a":1}, not a list, but step "a" fans out over it',
    ]);
  });

  test('names that are properties of every object are not mistaken for parameters', () => {
    expect(resolveParameters(flow, ['constructor=1']).problems).toEqual(['--param constructor: flow "P2" has no parameter "constructor" (parameters: lr, rates, spec)']);
  });
});

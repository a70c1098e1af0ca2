/**
 * Every compiled Batch task fits ECS's override budget at its longest: the job definition's
 * command (the loader and the step's argv) and environment, plus the state's ContainerOverrides
 * with every run-time value at the most it can be, plus what Batch adds, as
 * runner/batch/job-shape.ts `ecsOverrideChars` counts them (ECS allows 8,192 characters; a job
 * over it fails with "Container Overrides length must be at most 8192" as its status reason).
 *
 * The worst case is worked out here independently of the compiler's own estimate, from the ASL
 * alone: each JSONPath or intrinsic is replaced by the longest value it can give.
 */
import type { KeyValuePair } from '@aws-sdk/client-batch';
import fanout from '../../../examples/fanout';
import hello from '../../../examples/hello';
import sweep from '../../../examples/sweep';
import { ECS_OVERRIDES_BUDGET, ecsOverrideChars } from '../../../runner/batch/job-shape';
import type { Flow } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import type { CompiledFlow, CompileOptions } from '../../../runner/sfn/compiler';
import { allStates, compileValid, graphOf, sh } from './compiler-support';

/** Step Functions execution names: at most 80 characters. */
const RUN_ID_MAX = 80;
/** A task id or prefix (`12_9999_`), an offset, a count, a retry count: generous. */
const SMALL_MAX = 24;
/** A caught failure's JSON (MF_CATCH_<var>): step, task id, message, reason, exit code, attempts. */
const CAUGHT_MAX = 400;
/**
 * A parameter without a compiled value. One with a value is sized by it, as the compiler does:
 * an execution's input may give a longer one, which nothing bounds yet (docs/step-functions.md).
 */
const PARAM_MAX = 256;

/** The longest text a `Value.$` expression can give. */
function longest(expression: string, params: Readonly<Record<string, number>>): number {
  const path = (p: string): number => {
    if (p === '$$.Execution.Name') return RUN_ID_MAX;
    const param = /^\$\.params(?:\.|\[')([^'\]]+)/.exec(p);
    if (param) return params[param[1]] ?? PARAM_MAX;
    if (p.startsWith('$.caught')) return CAUGHT_MAX;
    return SMALL_MAX;
  };
  const format = /^States\.Format\('((?:[^'\\]|\\.)*)'((?:, *[^,)]+(?:\([^)]*\))?)*)\)$/.exec(expression);
  if (format) {
    const args = format[2].split(/, *(?![^(]*\))/).filter(Boolean);
    return format[1].replace(/\{\}/g, '').length + args.reduce((n, a) => n + longest(a.trim(), params), 0);
  }
  const inner = /^States\.(?:JsonToString|Format)\((.*)\)$/.exec(expression);
  if (inner) return longest(inner[1], params);
  if (expression.startsWith('States.MathAdd')) return SMALL_MAX;
  if (expression.startsWith('$')) return path(expression);
  throw new Error(`no worst case for ${expression}`);
}

/** Each submitJob.sync state's characters as ECS counts them, at their longest. */
function worstCases(compiled: CompiledFlow, params: Readonly<Record<string, number>> = {}): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, state] of allStates(compiled.definition)) {
    if (!state.Resource?.endsWith(':batch:submitJob.sync')) continue;
    const p = state.Parameters as { JobDefinition: string; ContainerOverrides: { Environment: Record<string, string>[] } };
    const definition = compiled.jobDefinitions.find((d) => d.jobDefinitionName === p.JobDefinition)!;
    const environment: KeyValuePair[] = p.ContainerOverrides.Environment.map((e) => ({
      name: e.Name,
      value: e.Value ?? 'x'.repeat(longest(e['Value.$'], params)),
    }));
    out.set(name, ecsOverrideChars(definition, { environment }));
  }
  return out;
}

const graph = (flow: Flow) => {
  const result = validateFlow(flow);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.graph;
};

const IMAGE = 'public.ecr.aws/docker/library/python:3.12-slim';
const N40 = (c: string) => c.repeat(40);

test.each<[string, Flow, Partial<CompileOptions>]>([
  ['hello.ts', hello, {}],
  ['sweep.ts (100 default rates)', sweep, {}],
  ['fanout.ts (Fargate)', fanout, { platformOf: () => 'FARGATE', executionRoleArn: 'arn:aws:iam::123456789012:role/exec' }],
])('examples/%s: every Batch task fits the ECS budget at its longest', (_name, flow, options) => {
  const sizes = worstCases(compileValid(graph(flow), options));
  expect(sizes.size).toBeGreaterThan(0);
  for (const [state, size] of sizes) expect([state, size <= ECS_OVERRIDES_BUDGET]).toEqual([state, true]);
});

/** 40-character flow and step names, a nested foreach, `n` parameters, a caught step and a caught split (`catches` 1 or 2), long items. */
const wide = (n: number, catches: 1 | 2) => {
  const params = Object.fromEntries(Array.from({ length: n }, (_, i) => [`parameter_number_${i}`, { default: 'v'.repeat(20) }]));
  const flow = graphOf({
    name: `F${N40('l').slice(1)}`,
    image: IMAGE,
    env: { PYTHONUNBUFFERED: '1' },
    parameters: params,
    steps: [
      { name: 'start', command: sh('true'), ...(catches === 2 ? { catch: { var: `v${N40('s').slice(1)}` } } : {}), next: N40('a') },
      { name: N40('a'), command: sh('true'), foreach: { items: Array.from({ length: 50 }, (_, i) => ({ item: i, text: 'long item '.repeat(100) })) }, catch: { var: `v${N40('a').slice(1)}` }, next: N40('b') },
      { name: N40('b'), command: sh('true'), foreach: { output: 'parts' }, next: N40('c') },
      { name: N40('c'), command: sh('true'), next: N40('d') },
      { name: N40('d'), join: true, command: sh('true'), next: N40('e') },
      { name: N40('e'), join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ],
  });
  return { flow, params };
};

test('the widest flow that fits: 40-character names, nested foreach, 12 parameters, a caught split, long items — every task fits at its longest', () => {
  const { flow, params } = wide(12, 1);
  const compiled = compileValid(flow);
  const sizes = worstCases(compiled, Object.fromEntries(Object.keys(params).map((k) => [k, 22])));
  expect([...sizes.keys()].sort()).toEqual(expect.arrayContaining([N40('c'), N40('d'), 'end']));
  for (const [state, size] of sizes) expect([state, size <= ECS_OVERRIDES_BUDGET]).toEqual([state, true]);
  // Items never travel in the command or the environment: they are in the definition (a Pass state), in no job.
  expect(JSON.stringify(compiled.definition.States)).toContain('long item');
  const jobs = [...allStates(compiled.definition).values()].filter((st) => st.Resource?.endsWith(':batch:submitJob.sync'));
  expect(JSON.stringify(jobs)).not.toContain('long item');
  expect(JSON.stringify(compiled.jobDefinitions)).not.toContain('long item');
});

test('two catch vars fit too: caught failures do not travel in the overrides (the runtime reads them, MF_CAUGHT_READ)', () => {
  const { flow, params } = wide(12, 2);
  const sizes = worstCases(compileValid(flow), Object.fromEntries(Object.keys(params).map((k) => [k, 22])));
  for (const [state, size] of sizes) expect([state, size <= ECS_OVERRIDES_BUDGET]).toEqual([state, true]);
});

test('wider still (30 parameters): refused at compile time with one line naming the heaviest variables', () => {
  // The string parameters' names (MF_TEXT_PARAMS, so the helpers keep their values as text) are the second heaviest.
  expect(() => compileValid(wide(30, 2).flow)).toThrow(/^step "b{40}" on Step Functions \(estimated at its longest\): the container's command and environment come to \d+ characters as ECS counts them .*largest: command \(\d+\), MF_TEXT_PARAMS \(\d+\), MF_CAUGHT_READ \(\d+\)/);
});

test('a 10,000-child foreach: one array job of 10,000 children per chunk, its overrides no longer than a plain job\'s', () => {
  const flow = graphOf({
    name: 'Wide',
    image: IMAGE,
    steps: [
      { name: 'start', command: sh('true'), foreach: { items: Array.from({ length: 10_000 }, (_, i) => i) }, next: 'body' },
      { name: 'body', command: sh('true'), next: 'join' },
      { name: 'join', join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ],
  });
  const compiled = compileValid(flow);
  const sizes = worstCases(compiled);
  for (const [state, size] of sizes) expect([state, size <= ECS_OVERRIDES_BUDGET]).toEqual([state, true]);
  const body = allStates(compiled.definition).get('body')!;
  expect((body.Parameters as Record<string, unknown>).ArrayProperties).toEqual({ 'Size.$': '$.ctx.size' });
});

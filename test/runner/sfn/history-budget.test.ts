/**
 * The 25,000-event history of one execution as the compiler's budget (runner/sfn/compiler/history-budget.ts):
 * a nested foreach runs its outer children as Distributed Map child executions, so 10,000 outer
 * children of 100 inner each fit; every foreach's widest list is checked at run time (and static
 * items at compile time) with one line instead of an execution killed by the history quota.
 */
import { compileFlow } from '../../../runner/sfn/compiler';
import { applyWidthLimits, foreachWidthLimits, SFN_HISTORY_MAX_EVENTS } from '../../../runner/sfn/compiler/history-budget';
import { allStates, compileValid, execute, graphOf, OPTIONS, sh } from './compiler-support';

const IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';
const x = sh('true');

type Json = Record<string, any>;

const nestedFlow = (retry = 0) =>
  graphOf({
    name: 'Nest',
    image: IMAGE,
    parameters: { ids: { type: 'json', default: [1, 2] } },
    steps: [
      { name: 'start', command: x, next: 'outer', foreach: { param: 'ids' } },
      { name: 'outer', command: x, next: 'inner', foreach: { output: 'parts' }, ...(retry ? { retry: { times: retry } } : {}) },
      { name: 'inner', command: x, next: 'innerjoin', ...(retry ? { retry: { times: retry } } : {}) },
      { name: 'innerjoin', join: true, command: x, next: 'after' },
      { name: 'after', command: x, next: 'outerjoin' },
      { name: 'outerjoin', join: true, command: x, next: 'end' },
      { name: 'end', command: x },
    ],
  });

describe('a nested foreach: outer children as child executions', () => {
  const compiled = compileValid(nestedFlow(3));
  const states = Object.fromEntries(allStates(compiled.definition)) as Record<string, Json>;

  test('the Map over a chunk’s outer children is a Distributed Map of STANDARD child executions, each ending with an empty output', () => {
    const each = states['outer.each-child'];
    expect(each.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(each.MaxConcurrency).toBe(1000);
    const done = each.ItemProcessor.States['outer.child-done'];
    expect(done).toMatchObject({ Type: 'Pass', Result: {}, End: true });
    // The chunk Map itself stays inline (40 chunks of 1,000 at once).
    expect(states['start.foreach'].ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
  });

  test('10,000 outer children of 100 inner each fit: each execution’s limit is above its width', () => {
    const limits = Object.fromEntries(foreachWidthLimits(compiled.definition as never, 'Nest').map((l) => [l.split, l]));
    expect(limits.start.maxChildren).toBeGreaterThanOrEqual(10_000);
    expect(limits.outer.maxChildren).toBeGreaterThanOrEqual(100);
    // The parent writes its base events plus one chunk's events per 1,000 outer children.
    const parent = limits.start.baseEvents + Math.ceil(10_000 / 1000) * limits.start.eventsPerChunk;
    expect(parent).toBeLessThan(SFN_HISTORY_MAX_EVENTS / 10);
    // The old inline Map would have written every outer child's states in the parent's history.
    const child = limits.outer.baseEvents + limits.outer.eventsPerChunk;
    expect(1000 * child).toBeGreaterThan(SFN_HISTORY_MAX_EVENTS);
  });

  test('the machine checks each foreach’s width against its limit before the Map, and fails with one line', () => {
    const limits = Object.fromEntries(foreachWidthLimits(compiled.definition as never, 'Nest').map((l) => [l.split, l.maxChildren]));
    const check = states['start.check-width'];
    expect(check.Choices[0]).toMatchObject({ Variable: '$.fe.count', NumericGreaterThan: limits.start, Next: 'start.too-wide' });
    expect(states['start.too-wide']).toMatchObject({ Type: 'Fail', Error: 'metaflow.ForeachTooWide' });
    expect(states['start.too-wide'].Cause).toContain(`at most ${limits.start} here`);
    expect(states['outer.check-width'].Choices[0].NumericGreaterThan).toBe(limits.outer);
  });

  test('played: a list over the limit stops the execution before any child; one within it runs', async () => {
    const small = compileValid(nestedFlow());
    const check = allStates(small.definition).get('start.check-width') as Json;
    check.Choices[0].NumericGreaterThan = 2; // a limit the player can reach
    const over = await execute(small, { Parameters: { ids: [1, 2, 3] } });
    expect(over.submits.map((s) => s.state)).toEqual(['start']);
    expect(over.error?.message ?? '').toMatch(/ForeachTooWide|more children than one execution/);
    const within = await execute(small, { Parameters: { ids: [1, 2] } }, {}, new Map());
    expect(within.submits.map((s) => s.state)).toContain('outer');
  });
});

describe('compile-time refusals', () => {
  const body = Array.from({ length: 8 }, (_, i) => `b${i}`);
  const wideBody = (items: number[]) =>
    graphOf({
      name: 'Wide',
      image: IMAGE,
      steps: [
        { name: 'start', command: x, next: body[0], foreach: { items } },
        ...body.map((name, i) => ({ name, command: x, next: body[i + 1] ?? 'join' })),
        { name: 'join', join: true, command: x, next: 'end', retry: { times: 2 } },
        { name: 'end', command: x },
      ],
    });

  test('static items over the limit: one line naming the step, the count and the limit', () => {
    const compiled = compileValid(wideBody([1, 2]));
    const [limit] = foreachWidthLimits(compiled.definition as never, 'Wide');
    // Static items fit a state (256 KiB) long before they reach a top-level foreach's limit, so
    // the refusal is shown with the width the compiler would pass for such items.
    expect(() => applyWidthLimits(structuredClone(compiled.definition) as never, 'Wide', new Map([['start', limit.maxChildren + 1]]))).toThrow(
      new RegExp(`^step "start": foreach.items has ${limit.maxChildren + 1} items; on Step Functions this foreach holds at most ${limit.maxChildren} `),
    );
    expect(() => applyWidthLimits(structuredClone(compiled.definition) as never, 'Wide', new Map([['start', limit.maxChildren]]))).not.toThrow();
    // compileFlow passes the items' count: a list within the limit compiles.
    expect(() => compileFlow(wideBody(Array.from({ length: 1000 }, () => 0)), OPTIONS)).not.toThrow();
  });

  test('a body that alone outgrows one execution\'s share is refused at compile time', () => {
    const compiled = compileValid(wideBody([1, 2]));
    const definition = structuredClone(compiled.definition) as { States: Record<string, Json> };
    // Make one chunk costlier than the whole budget: every body task retried 1,000 times.
    const visit = (states: Record<string, Json>) => {
      for (const [name, state] of Object.entries(states)) {
        if (state.Type === 'Task' && /^b\d/.test(name)) state.Retry = [{ ErrorEquals: ['States.TaskFailed'], MaxAttempts: 1000 }];
        if (state.ItemProcessor) visit(state.ItemProcessor.States);
        for (const b of state.Branches ?? []) visit(b.States);
      }
    };
    visit(definition.States);
    expect(() => foreachWidthLimits(definition as never, 'Wide')).toThrow(/^flow "Wide" cannot run on Step Functions: one chunk of the foreach of step "start" writes up to \d+ history events, more than its share/);
  });
});

import { defineFlow, StepSpec } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';

// Every graph walk in validation is iterative: flows of tens of thousands of steps validate
// instead of overflowing the stack (a recursive depth-first search did at ~10,000 steps).
const N = 20_000;
const cmd = ['/bin/true'];
const chain = (n: number, last: string): StepSpec[] =>
  Array.from({ length: n }, (_, i) => ({ name: i === 0 ? 'start' : `s${i}`, command: cmd, next: i === n - 1 ? last : `s${i + 1}` }));

describe(`flows of ${N} steps`, () => {
  test('a linear chain validates', () => {
    const r = validateFlow(defineFlow({ name: 'Long', steps: [...chain(N, 'end'), { name: 'end', command: cmd }] }));
    expect(r.ok ? [] : r.problems).toEqual([]);
    expect(r.ok && r.graph.steps.size).toBe(N + 1);
  });

  test('a cycle at the far end of the chain is found and named', () => {
    const steps = [...chain(N, 's1'), { name: 'end', command: cmd }];
    const r = validateFlow(defineFlow({ name: 'Loop', steps }));
    expect(r.ok).toBe(false);
    const problems = r.ok ? [] : r.problems;
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^cycle: s1 → s2 → .* → s${N - 1} → s1$`)));
    expect(problems).toContain('step "end" is unreachable from "start"');
  });

  test('a branch of that many arms closed by one join validates', () => {
    const arms = Array.from({ length: N }, (_, i) => `a${i}`);
    const steps: StepSpec[] = [
      { name: 'start', command: cmd, next: arms },
      ...arms.map((name) => ({ name, command: cmd, next: 'join' })),
      { name: 'join', command: cmd, join: true, next: 'end' },
      { name: 'end', command: cmd },
    ];
    const r = validateFlow(defineFlow({ name: 'Wide', steps }));
    expect(r.ok ? [] : r.problems).toEqual([]);
    expect(r.ok && r.graph.inputs.get('join')).toHaveLength(N);
  });

  test('deeply nested foreach splits validate', () => {
    // start → f1 → … → f500 (each a foreach) → body → j500 → … → j1 → end
    const depth = 500;
    const steps: StepSpec[] = [{ name: 'start', command: cmd, next: 'f1' }];
    for (let i = 1; i <= depth; i++) steps.push({ name: `f${i}`, command: cmd, foreach: { items: [1, 2] }, next: i === depth ? 'body' : `f${i + 1}` });
    steps.push({ name: 'body', command: cmd, next: `j${depth}` });
    for (let i = depth; i >= 1; i--) steps.push({ name: `j${i}`, command: cmd, join: true, next: i === 1 ? 'end' : `j${i - 1}` });
    steps.push({ name: 'end', command: cmd });
    const r = validateFlow(defineFlow({ name: 'Deep', steps }));
    expect(r.ok ? [] : r.problems).toEqual([]);
    expect(r.ok && r.graph.closes.get('j1')).toBe('f1');
  });
});

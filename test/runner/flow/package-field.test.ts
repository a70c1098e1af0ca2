/** The flow's `package` field is validated one line per problem; run ids never take the packages' folder name. */
import { isRunId } from '../../../runner/datastore/layout';
import { LocalDatastore } from '../../../runner/datastore/local';
import { defineFlow, FlowSpec } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { LocalComputeLayer } from '../../../runner/compute/local';
import { runFlow } from '../../../runner/orchestrator/orchestrator';
import { tempDir } from '../support/harness';

const steps = [
  { name: 'start', command: ['true'], next: 'end' },
  { name: 'end', command: ['true'] },
];
const problems = (pkg: unknown) => {
  const v = validateFlow(defineFlow({ name: 'F', steps, package: pkg } as FlowSpec));
  return v.ok ? [] : v.problems;
};

test('package: root relative, include/exclude lists of patterns, no unknown fields', () => {
  expect(problems({ root: '..', include: ['.env.example'], exclude: ['data/', '*.csv'] })).toEqual([]);
  expect(problems(undefined)).toEqual([]);
  expect(problems('src')).toEqual(['flow package must be an object {root, include, exclude}, got "src"']);
  expect(problems({ roots: '..', exclude: 'data/' })).toEqual([
    'flow package: unknown field "roots" (did you mean "root"?)',
    'flow package.exclude must be a list of gitignore-style patterns, got "data/"',
  ]);
  expect(problems({ root: '/home/me/project', include: ['', 3, '# comment'] })).toEqual([
    'flow package.root must be relative to the flow file (a flow runs on other machines too), got "/home/me/project"',
    'flow package.include[0] must be a gitignore-style pattern, got ""',
    'flow package.include[1] must be a gitignore-style pattern, got 3',
    'flow package.include[2] must be a gitignore-style pattern, got "# comment"',
  ]);
  expect(problems({ root: 4 })).toEqual(['flow package.root must be a folder relative to the flow file, got 4']);
});

test('a run id is never "data", the folder of a flow that holds its code packages', async () => {
  expect(isRunId('data')).toBe(false);
  expect(isRunId('20260101-120000-abc123')).toBe(true);
  const v = validateFlow(defineFlow({ name: 'F', steps }));
  if (!v.ok) throw new Error(v.problems.join('\n'));
  await expect(runFlow({ graph: v.graph, layer: new LocalComputeLayer(), datastore: new LocalDatastore(tempDir()), parameters: {}, runId: 'data' })).rejects.toThrow(
    'run id "data" cannot be used: letters, digits, _ and - only, and not "data"',
  );
});

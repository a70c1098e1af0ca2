/**
 * Run tags and the user namespace (the CLI in-process through main()): every run is tagged
 * `user:<name>` from METAFLOW_USER (else the OS user) plus its `--tag`s, kept in the run record;
 * `runs` lists the current user's runs, `--user`, `--tag` and `--all` choose others.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { describeValue } from '../../../core/describe-value';
import { main } from '../../../runner/cli/main';
import { checkTags, currentUser, runFilter, runTags } from '../../../runner/cli/tags';

const dir = mkdtempSync(join(os.tmpdir(), 'mf-tags-'));
const ROOT = join(dir, 'runs');
// In-process, a flow file is loaded with require (tsx cannot load TypeScript inside jest): JavaScript.
const FLOW = join(dir, 'tiny.js');
writeFileSync(FLOW, `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({ name: 'Tiny', steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }] });
`);

async function cli(user: string | undefined, ...args: string[]) {
  let stdout = '';
  let stderr = '';
  const env = { ...process.env, CI: 'true', METAFLOW_USER: user };
  if (user === undefined) delete env.METAFLOW_USER;
  const code = await main(['node', 'metaflow-cdk', ...args, '--root', ROOT], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env,
  });
  return { code, stdout, stderr };
}

/** The run ids `runs` lists (first column), and its tags column. */
const listed = (stdout: string) => stdout.trim().split('\n').slice(1).map((l) => { const c = l.split(/\s+/); return `${c[1]} ${c[6] ?? ''}`; });

test('the user comes from METAFLOW_USER, else the OS user; tags are checked as Metaflow checks them', () => {
  expect(currentUser({ METAFLOW_USER: 'ada' })).toBe('ada');
  expect(currentUser({})).toBe(os.userInfo().username);
  expect(() => currentUser({ METAFLOW_USER: '' })).toThrow('METAFLOW_USER is set but empty: unset it or give a user name');
  expect(runTags(['exp-1', 'exp-1', 'lr=0.1'], { METAFLOW_USER: 'ada' })).toEqual(['user:ada', 'exp-1', 'lr=0.1']);
  expect(checkTags(['', 'x'.repeat(501), 'user:bob'])).toEqual([
    '--tag "": a tag must not be empty',
    `--tag ${describeValue('x'.repeat(501))}: a tag is at most 500 characters, this one has 501`,
    '--tag "user:bob": "user:" tags are set from METAFLOW_USER (or the OS user), not given',
  ]);
  expect(checkTags(Array.from({ length: 51 }, (_, i) => `t${i}`))).toEqual(['--tag is given 51 times: a run takes at most 50 tags']);
  expect(runFilter({}, { METAFLOW_USER: 'ada' })).toEqual({ all: false, tags: ['user:ada'] });
  expect(runFilter({ user: 'bob', tag: ['exp'] }, { METAFLOW_USER: 'ada' })).toEqual({ all: false, tags: ['user:bob', 'exp'] });
  expect(() => runFilter({ all: true, user: 'bob' }, {})).toThrow('--all lists every run: give it without --user or --tag');
});

test('runs are tagged and kept with their tags; runs lists yours unless --user, --tag or --all', async () => {
  const ada = await cli('ada', 'run', FLOW, '--tag', 'exp-1', '--json');
  expect(ada.code).toBe(0);
  expect(JSON.parse(ada.stdout).tags).toEqual(['user:ada', 'exp-1']);
  expect((await cli('ada', 'run', FLOW)).code).toBe(0);
  expect((await cli('bob', 'run', FLOW, '--tag', 'exp-1')).code).toBe(0);

  const mine = await cli('ada', 'runs');
  expect(listed(mine.stdout)).toEqual(['Tiny user:ada', 'Tiny user:ada,exp-1']);
  expect(mine.stderr).toBe('metaflow-cdk: showing runs tagged user:ada; 1 other run not shown (--all lists every run)\n');
  expect(listed((await cli('ada', 'runs', '--user', 'bob')).stdout)).toEqual(['Tiny user:bob,exp-1']);
  expect(listed((await cli('ada', 'runs', '--tag', 'exp-1')).stdout)).toEqual(['Tiny user:ada,exp-1']);
  expect(listed((await cli('ada', 'runs', '--all')).stdout)).toEqual(['Tiny user:bob,exp-1', 'Tiny user:ada', 'Tiny user:ada,exp-1']);
  expect((await cli('carol', 'runs')).stdout).toBe(`no runs tagged user:carol in ${ROOT}; 3 other runs not shown (--all lists every run)\n`);

  const runId = JSON.parse(ada.stdout).runId as string;
  expect((await cli('ada', 'show', runId)).stdout).toContain('\n  tags user:ada, exp-1\n');
});

test('bad tags and filters are one line each, exit 2, nothing run', async () => {
  const r = await cli('ada', 'run', FLOW, '--tag', 'user:eve', '--tag', '');
  expect(r.stderr).toBe('metaflow-cdk: --tag "user:eve": "user:" tags are set from METAFLOW_USER (or the OS user), not given\nmetaflow-cdk: --tag "": a tag must not be empty\n');
  expect(r.code).toBe(2);
  expect(await cli('ada', 'runs', '--all', '--tag', 'x')).toMatchObject({ code: 2, stderr: 'metaflow-cdk: --all lists every run: give it without --user or --tag\n' });
});

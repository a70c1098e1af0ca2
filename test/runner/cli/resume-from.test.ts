/**
 * `resume <run> --from <step>`: that step and every step after it run again, the steps before it
 * (and branches not after it) are reused, and the new run has the origin's parameters.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../support/harness';

const REPO = path.join(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const runIdOf = (stdout: string) => /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(stdout)![1];

test('resume --from train reruns train and what follows it with the original parameters; bad steps are one line', () => {
  const dir = tempDir('mfcdk-resume-from-');
  const cli = (args: string[]) => {
    const res = spawnSync(process.execPath, [BIN, ...args, '--root', dir], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 60_000 });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };
  const flow = path.join(dir, 'flow.ts');
  fs.writeFileSync(
    flow,
    `import { defineFlow } from ${JSON.stringify(path.join(REPO, 'runner'))};
const sh = (s: string) => ['/bin/sh', '-c', s];
export default defineFlow({
  name: 'ResumeFrom',
  parameters: { lr: { type: 'number', default: 0.1 } },
  steps: [
    { name: 'start', command: sh('echo start'), next: ['other', 'train'] },
    { name: 'other', command: sh('echo other'), next: 'join' },
    { name: 'train', command: sh('echo "train lr=$MF_PARAM_LR"'), next: 'join' },
    { name: 'join', join: true, command: sh('echo join'), next: 'end' },
    { name: 'end', command: sh('echo end') },
  ],
});
`,
  );
  const first = cli(['run', flow, '--lr', '0.5']);
  expect(first.code).toBe(0);
  const id = runIdOf(first.stdout);

  const resumed = cli(['resume', id, '--from', 'train', '--json']);
  expect(resumed.code).toBe(0);
  const record = JSON.parse(resumed.stdout) as { parameters: unknown; originRunId: string; tasks: { step: string; status: string; reusedFrom?: string }[] };
  expect(record.originRunId).toBe(id);
  expect(record.parameters).toEqual({ lr: 0.5 });
  expect(Object.fromEntries(record.tasks.map((t) => [t.step, t.status]))).toEqual({ start: 'reused', other: 'reused', train: 'succeeded', join: 'succeeded', end: 'succeeded' });
  expect(resumed.stderr).toContain('[train/0#0] train lr=0.5');
  expect(resumed.stderr).not.toContain('[other/0#0]');
  // Per reused task a line as it goes (Metaflow's "Cloning results of a previously run task"), and at the end what came from where.
  expect(resumed.stderr).toContain(`[start/0] reused from run ${id}\n`);
  expect(resumed.stderr).toContain(`\nreused from run ${id}: start (1 task), other (1 task)\nran: train (1 task), join (1 task), end (1 task)\nResumeFrom run `);

  // Without --from, the same origin reuses everything it can: every step succeeded.
  const wholeRun = cli(['resume', id, '--json']);
  const whole = JSON.parse(wholeRun.stdout) as typeof record;
  expect(whole.tasks.every((t) => t.status === 'reused')).toBe(true);
  expect(wholeRun.stderr).toContain(`reused from run ${id}: start (1 task), other (1 task), train (1 task), join (1 task), end (1 task)\nran: nothing (every task was reused)\n`);

  const bad = cli(['resume', id, '--from', 'trian']);
  expect([bad.code, bad.stderr]).toEqual([2, 'metaflow-cdk: --from "trian": flow "ResumeFrom" has no such step (did you mean "train"? steps: start, other, train, join, end)\n']);
});

/**
 * `metaflow-cdk show <run>` (in-process through main()) prints what a local run used — the steps'
 * resources × wall time, never priced — and `--json` carries the figures; `--prices` with a bad
 * file is one line naming the file and the field, exit 2, before anything is read.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { main } from '../../../runner/cli/main';

const dir = mkdtempSync(join(os.tmpdir(), 'mf-usage-'));
const ROOT = join(dir, 'runs');
// In-process, a flow file is loaded with require (tsx cannot load TypeScript inside jest): JavaScript.
const FLOW = join(dir, 'sized.js');
writeFileSync(FLOW, `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({ name: 'Sized', steps: [
  { name: 'start', command: ['sleep', '0.2'], resources: { cpu: 4, memory: 8192, gpu: 1 }, next: 'end' },
  { name: 'end', command: ['true'] },
] });
`);
const PRICES = join(dir, 'prices.json');
writeFileSync(PRICES, JSON.stringify({ currency: 'USD', fargate: [{ capacity: 'FARGATE', vcpuHour: 0.04, gibHour: 0.004 }] }));

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'metaflow-cdk', ...args, '--root', ROOT], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env: { ...process.env, CI: 'true', METAFLOW_USER: 'ada' },
  });
  return { code, stdout, stderr };
}

let runId: string;
beforeAll(async () => {
  const r = await cli('run', FLOW, '--json');
  expect(r.code).toBe(0);
  runId = JSON.parse(r.stdout).runId;
});

test('a local run: usage from the steps\' resources and wall time, local, no cost even with a price table', async () => {
  const show = await cli('show', runId, '--prices', PRICES);
  expect(show.code).toBe(0);
  expect(show.stdout).toContain('usage (resources the attempts asked for × their run time):');
  // start: 1 attempt of 4 vCPUs, 8 GiB, 1 GPU for at least 0.2 s; local
  expect(show.stdout).toMatch(/^start\s+1\s+(<0\.001|0\.00\d)\s+(<0\.001|0\.00\d)\s+(<0\.001|0\.00\d)\s+0\s+0\s+1\s+0\s+\$0$/m);
  expect(show.stdout).toMatch(/^total\s+2\s/m);

  const json = JSON.parse((await cli('show', runId, '--json', '--prices', PRICES)).stdout);
  expect(json.tasks[0].attempts[0].usage).toEqual({ vcpus: 4, memoryMiB: 8192, gpus: 1, capacity: 'LOCAL' });
  expect(json.usage).toMatchObject({ estimate: true, prices: PRICES, total: { attempts: 2, placement: { local: 2 }, cost: { currency: 'USD', amount: 0, priced: 0 } } });
  const start = json.usage.steps.find((s: { step: string }) => s.step === 'start');
  const hours = json.tasks[0].attempts[0].durationMs / 3_600_000;
  expect(hours).toBeGreaterThanOrEqual(0.2 / 3600);
  expect(start.vcpuHours).toBeCloseTo(4 * hours, 12);
  expect(start.memoryGiBHours).toBeCloseTo(8 * hours, 12);
  expect(start.gpuHours).toBeCloseTo(hours, 12);
});

test('without --prices: usage only, no cost column', async () => {
  const show = await cli('show', runId);
  expect(show.stdout).toMatch(/^step\s+attempts\s+vCPU-h\s+GiB-h\s+GPU-h\s+on-demand\s+spot\s+local\s+lost$/m);
  expect(JSON.parse((await cli('show', runId, '--json')).stdout).usage.total).not.toHaveProperty('cost');
});

test('a bad price file: one line naming the file and the field, exit 2', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ currency: 'USD', fargate: [{ capacity: 'FARGATE', vcpuHour: 'cheap', gibHour: 0 }] }));
  const r = await cli('show', runId, '--prices', bad);
  expect(r).toEqual({ code: 2, stdout: '', stderr: `metaflow-cdk: price table ${bad}: fargate[0].vcpuHour must be a number ≥ 0, got "cheap"\n` });
  const missing = await cli('show', runId, '--prices', join(dir, 'nope.json'));
  expect(missing).toEqual({ code: 2, stdout: '', stderr: `metaflow-cdk: price table ${join(dir, 'nope.json')}: no such file\n` });
});

test('--prices with a step or task: one line, it applies to a run', async () => {
  const r = await cli('show', `${runId}/start`, '--prices', PRICES);
  expect(r).toEqual({ code: 2, stdout: '', stderr: `metaflow-cdk: --prices applies to \`show <run-id>\`, not to a step's or task's outputs (${runId}/start)\n` });
});

/**
 * `show <run>/<step>[/<task>]` and `outputs`: a task's values and files, read back through the
 * CLI from the local datastore and from S3 (moto_server), and every bad input one line, exit 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../../runner/aws/clients';
import { S3ObjectStore } from '../../../runner/aws/s3-object-store';
import { main } from '../../../runner/cli/main';
import { S3Datastore } from '../../../runner/datastore/s3';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, motoEnv, MotoServer, startMoto } from '../../support/moto';
import { runSteps, sh, tempDir } from '../support/harness';

const BINARY = Buffer.from([0, 1, 2, 250, 255, 10, 13]);
const LONG = Array.from({ length: 12 }, (_, i) => i * 100_000_000);

/** A flow whose `train` writes three values and two files, and whose foreach writes one value per task. */
const steps = () => [
  { name: 'start', command: sh(`printf '{"items": [1, 2]}' > "$MF_OUTPUT_DIR/outputs.json"`), next: ['train'] },
  {
    name: 'train',
    command: sh(
      `printf '{"alpha": 0.5, "label": "best model", "curve": ${JSON.stringify(LONG)}}' > "$MF_OUTPUT_DIR/outputs.json" && ` +
        `printf '${[...BINARY].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('')}' > "$MF_OUTPUT_DIR/model.bin" && ` +
        `mkdir "$MF_OUTPUT_DIR/plots" && printf 'loss' > "$MF_OUTPUT_DIR/plots/loss.txt"`,
    ),
    next: ['each'],
    foreach: { output: 'curve' },
  },
  { name: 'each', command: sh(`printf '{"i": %s}' "$MF_FOREACH_INDEX" > "$MF_OUTPUT_DIR/outputs.json"`), next: ['join'] },
  { name: 'join', join: true, command: sh('true'), next: ['end'] },
  { name: 'end', command: sh('true') },
];

async function cli(args: string[]): Promise<{ code: number; stdout: string; stdoutBytes: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) => new Writable({ write: (chunk, _e, done) => void (into.push(Buffer.from(chunk)), done()) });
  const code = await main(['node', 'metaflow-cdk', ...args], { stdout: sink(out), stderr: sink(err), env: { ...process.env, CI: 'true' } });
  const stdoutBytes = Buffer.concat(out);
  return { code, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr: Buffer.concat(err).toString('utf8') };
}

/** What both stores must show, given the flags that reach the store. */
function outputsContract(ds: () => string[], runId: () => string) {
  test('show <run>/<step>/<task> lists values and files with sizes; --json for scripts', async () => {
    const show = await cli(['show', `${runId()}/train/0`, ...ds()]);
    expect(show.stderr).toBe('');
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('train/0 succeeded\n  alpha = 0.5\n  label = "best model"\n');
    // A long value is cut and says how to get it whole.
    expect(show.stdout).toMatch(new RegExp(`  curve = \\[0,100000000,.*… \\(\\d+ chars: \`metaflow-cdk outputs ${runId()}/train/0 curve`));
    expect(show.stdout).toContain('  file model.bin (7 B)\n  file plots/loss.txt (4 B)\n');
    const json = JSON.parse((await cli(['show', `${runId()}/train/0`, '--json', ...ds()])).stdout);
    expect(json.tasks).toHaveLength(1);
    expect(json.tasks[0]).toMatchObject({ step: 'train', taskId: '0', status: 'succeeded', values: { alpha: 0.5, label: 'best model', curve: LONG } });
    expect(json.tasks[0].files).toEqual([{ name: 'model.bin', bytes: 7 }, { name: 'plots/loss.txt', bytes: 4 }]);
  });

  test('show <run>/<step> shows every task of a foreach step', async () => {
    const show = await cli(['show', `${runId()}/each`, ...ds()]);
    expect(show.code).toBe(0);
    for (let i = 0; i < LONG.length; i++) expect(show.stdout).toContain(`each/${i} succeeded\n  i = ${i}\n`);
    expect((await cli(['show', `${runId()}/join`, ...ds()])).stdout).toBe('join/0 succeeded\n  (no outputs)\n');
  });

  test('outputs prints outputs.json, a value, a file; --to copies it out', async () => {
    const all = await cli(['outputs', `${runId()}/train/0`, ...ds()]);
    expect(JSON.parse(all.stdout)).toEqual({ alpha: 0.5, label: 'best model', curve: LONG });
    expect((await cli(['outputs', `${runId()}/train/0`, 'label', ...ds()])).stdout).toBe('best model\n');
    expect(JSON.parse((await cli(['outputs', `${runId()}/train/0`, 'curve', ...ds()])).stdout)).toEqual(LONG);
    expect((await cli(['outputs', `${runId()}/train/0`, 'model.bin', ...ds()])).stdoutBytes.equals(BINARY)).toBe(true);
    const dir = tempDir('mfcdk-outputs-to-');
    const copied = await cli(['outputs', `${runId()}/train/0`, 'model.bin', '--to', dir, ...ds()]);
    expect(copied.code).toBe(0);
    expect(copied.stderr).toBe(`wrote ${path.join(dir, 'model.bin')} (7 bytes)\n`);
    expect(fs.readFileSync(path.join(dir, 'model.bin')).equals(BINARY)).toBe(true);
    expect((await cli(['outputs', `${runId()}/train/0`, 'plots/loss.txt', '--to', path.join(dir, 'l.txt'), ...ds()])).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'l.txt'), 'utf8')).toBe('loss');
    expect((await cli(['outputs', `${runId()}/train/0`, 'alpha', '--to', path.join(dir, 'a.json'), ...ds()])).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'a.json'), 'utf8')).toBe('0.5\n');
  });

  test('bad input: one line naming it, exit 2', async () => {
    const bad = async (args: string[], line: string | RegExp) => {
      const r = await cli([...args, ...ds()]);
      expect(r.code).toBe(2);
      if (typeof line === 'string') expect(r.stderr).toBe(`metaflow-cdk: ${line}\n`);
      else expect(r.stderr).toMatch(line);
      expect(r.stdout).toBe('');
    };
    await bad(['outputs', `${runId()}/train/0`, 'nope'], `task ${runId()}/train/0 has no output "nope" (values: alpha, label, curve; files: model.bin, plots/loss.txt)`);
    await bad(['outputs', `${runId()}/train/0`, 'status.json'], `task ${runId()}/train/0 has no output "status.json" (values: alpha, label, curve; files: model.bin, plots/loss.txt)`);
    await bad(['outputs', `${runId()}/train`], `bad task path "${runId()}/train": expected <run-id>/<step>/<task>, e.g. 20260101-120000-abc123/start/0`);
    await bad(['show', `${runId()}/trian`], `run ${runId()} has no step "trian" (steps: start, train, each, join, end)`);
    await bad(['show', `${runId()}/each/99`], `run ${runId()} has no task each/99 (tasks of step "each": 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)`);
    await bad(['show', `${runId()}/a/b/c`], `bad task path "${runId()}/a/b/c": expected <run-id>/<step>[/<task>], e.g. 20260101-120000-abc123/start`);
    await bad(['outputs', '20200101-000000-aaaaaa/start/0'], /^metaflow-cdk: unknown run id "20200101-000000-aaaaaa" in \S+ \(see `metaflow-cdk runs`\)\n$/);
  });
}

describe('show and outputs on the local datastore', () => {
  const root = tempDir('mfcdk-outputs-');
  let runId = '';
  beforeAll(async () => {
    const run = await runSteps(steps(), { root });
    expect(run.record.status).toBe('succeeded');
    runId = run.record.runId;
  });
  outputsContract(() => ['--root', root], () => runId);
});

describeWithTool('moto_server', 'show and outputs on the S3 datastore (moto_server)', () => {
  let moto: MotoServer;
  let runId = '';
  const saved = { ...process.env };
  beforeAll(async () => {
    moto = await startMoto();
    // The CLI's S3 client takes its endpoint and credentials from the environment, as for a user.
    Object.assign(process.env, motoEnv(moto));
    const client = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
    await client.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    const datastore = new S3Datastore(new S3ObjectStore(client, 'mf-data', 'metaflow'), { stagingDir: tempDir('mfcdk-outputs-staging-') });
    const run = await runSteps(steps(), { run: { datastore } });
    expect(run.record.status).toBe('succeeded');
    runId = run.record.runId;
  });
  afterAll(async () => {
    process.env = saved;
    await moto?.stop();
  });
  outputsContract(() => ['--datastore', 's3', '--datastore-root', 's3://mf-data/metaflow'], () => runId);
});

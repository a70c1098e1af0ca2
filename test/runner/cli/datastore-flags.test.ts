/**
 * The datastore flags across commands: the follow-up hints after a run that did not succeed carry
 * the flags that find it again, each command's --help names its own default datastore, and a
 * local datastore is refused for Batch (its containers cannot read this machine's disk).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { followUpDatastoreFlags } from '../../../runner/cli/datastore-options';
import { main } from '../../../runner/cli/main';
import { tempDir } from '../support/harness';

const REPO = path.join(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: cwd, METAFLOW_HOME: cwd, CI: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    timeout: 30_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** The arguments of a hinted command: `metaflow-cdk <verb> …` between backquotes, shell words. */
function hinted(stderr: string, verb: string): string[] {
  const m = new RegExp(`\`metaflow-cdk ${verb} ([^\`]+)\``).exec(stderr);
  if (!m) throw new Error(`no ${verb} hint in: ${stderr}`);
  return [verb, ...(m[1].match(/'[^']*'|\S+/g) ?? []).map((w) => w.replace(/^'(.*)'$/, '$1'))];
}

test('followUpDatastoreFlags: --datastore s3 whenever the run is in S3, the roots given, shell-quoted', () => {
  expect(followUpDatastoreFlags({}, 's3')).toBe(' --datastore s3');
  expect(followUpDatastoreFlags({ datastoreRoot: 's3://b/p' }, 's3')).toBe(' --datastore s3 --datastore-root s3://b/p');
  expect(followUpDatastoreFlags({}, 'local')).toBe('');
  expect(followUpDatastoreFlags({ root: "/tmp/my runs/it's" }, 'local')).toBe(` --root '/tmp/my runs/it'\\''s'`);
});

test('a failed run hints `show` and `resume` with its --root; both hinted commands work as printed', () => {
  const cwd = tempDir('mfcdk-hints-');
  const root = path.join(cwd, 'my runs');
  const flow = path.join(cwd, 'fails.ts');
  fs.writeFileSync(flow, `import { defineFlow } from ${JSON.stringify(path.join(REPO, 'runner'))};
export default defineFlow({ name: 'Fails', steps: [{ name: 'start', command: ['/bin/sh', '-c', 'exit 3'], next: 'end' }, { name: 'end', command: ['true'] }] });
`);
  const failed = cli(['run', flow, '--root', root], cwd);
  expect(failed.code).toBe(1);
  const runId = /Fails run (\S+) failed/.exec(failed.stdout)![1];
  expect(failed.stderr).toContain(`metaflow-cdk: see \`metaflow-cdk show ${runId} --root '${root}'\`; \`metaflow-cdk resume ${runId} --root '${root}'\` reruns what did not succeed\n`);
  const show = cli(hinted(failed.stderr, 'show'), cwd);
  expect(show.stderr).toBe('');
  expect(show.stdout).toContain(`Run ${runId} of Fails: failed`);
  const resumed = cli(hinted(failed.stderr, 'resume'), cwd);
  expect(resumed.stdout).toContain(`resuming run ${runId}`);
  expect(resumed.code).toBe(1);
});

test('--help of each command names the datastore it uses by default (jobs and watch: s3)', async () => {
  const defaultOf = async (args: string[]) => {
    let out = '';
    await main(['node', 'metaflow-cdk', ...args, '--help'], { stdout: { write: (t: string) => (out += t) } as unknown as NodeJS.WriteStream });
    return /--datastore <kind> where runs are kept: local or s3 \(default: ([^)]+)\)/.exec(out.replace(/\s+/g, ' '))?.[1];
  };
  expect(await defaultOf(['run'])).toBe('local; s3 with --compute batch');
  expect(await defaultOf(['jobs', 'list'])).toBe('s3');
  expect(await defaultOf(['jobs', 'kill'])).toBe('s3');
  expect(await defaultOf(['watch'])).toBe('s3');
  for (const command of ['show', 'runs', 'logs', 'resume']) expect(await defaultOf([command])).toBe('local');
});

test('--compute batch --datastore local is one line, exit 2, before anything runs', () => {
  const cwd = tempDir('mfcdk-batch-local-');
  const r = cli(['run', path.join(REPO, 'examples', 'hello.ts'), '--compute', 'batch', '--datastore', 'local', '--root', cwd], cwd, { METAFLOW_BATCH_JOB_QUEUE: 'q', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-bucket/metaflow', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
  expect(r.stderr).toBe('metaflow-cdk: --compute batch --datastore local: AWS Batch containers cannot read a directory on this machine; use --datastore s3 (the default with --compute batch)\n');
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(fs.readdirSync(cwd)).toEqual([]);
});

/**
 * Code packages through the real CLI: local tasks run in the package root (examples/pyscripts'
 * run from another folder is in runner-cli.test.ts, registered with the metadata service);
 * `run --compute batch` ships the flow's folder once per content and records it in the run
 * (moto_server's Batch marks jobs done without running them); `code <run-id>` unpacks or lists
 * it, with one-line errors.
 */
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AwsClients } from '../../../runner/aws/clients';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, startMoto } from '../../support/moto';
import { createMotoQueue } from '../batch/moto-queue';
import { tempDir } from '../support/harness';

const REPO = path.join(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const PYSCRIPTS = path.join(REPO, 'examples', 'pyscripts');

function cli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? tempDir('mfcdk-cwd-'),
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...options.env },
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

// examples/pyscripts on the local layer from another folder: test/runner/cli/runner-cli.test.ts (registered with the metadata service).

test('package.root: tasks run there (relative to the flow file); a root that is not a folder is one line, exit 2', () => {
  const project = tempDir('mfcdk-proj-');
  fs.mkdirSync(path.join(project, 'flows'));
  fs.mkdirSync(path.join(project, 'data'));
  fs.writeFileSync(path.join(project, 'data', 'hello.txt'), 'hello from the project root\n');
  const flow = (root: string) => `import { defineFlow } from ${JSON.stringify(path.join(REPO, 'runner'))};
export default defineFlow({ name: 'Rooted', package: { root: ${JSON.stringify(root)} }, steps: [
  { name: 'start', command: ['cat', 'data/hello.txt'], next: 'end' },
  { name: 'end', command: ['true'] },
]});
`;
  fs.writeFileSync(path.join(project, 'flows', 'rooted.ts'), flow('..'));
  const ok = cli(['run', path.join(project, 'flows', 'rooted.ts'), '--root', tempDir('mfcdk-ds-')]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain('[start/0#0] hello from the project root');
  fs.writeFileSync(path.join(project, 'flows', 'bad.ts'), flow('../nope'));
  const bad = cli(['run', path.join(project, 'flows', 'bad.ts'), '--root', tempDir('mfcdk-ds-')]);
  expect([bad.code, bad.stderr]).toEqual([2, `metaflow-cdk: flow "Rooted": package root ${path.join(project, 'nope')} is not a folder (package.root "../nope" is relative to ${path.join(project, 'flows', 'bad.ts')})\n`]);
});

describeWithTool(
  'moto_server',
  'run --compute batch ships the code package; code <run-id> fetches it (moto_server)',
  () => {
    let moto: MotoServer;
    let env: NodeJS.ProcessEnv;
    const root = tempDir('mfcdk-batch-ds-');
    beforeAll(async () => {
      moto = await startMoto();
      await moto.configure({ batch: { use_docker: false } });
      const aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, maxAttempts: 2 });
      await createMotoQueue(moto.endpoint, aws.batch);
      aws.destroy();
      env = {
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        METAFLOW_HOME: tempDir('mfcdk-home-'),
        METAFLOW_BATCH_JOB_QUEUE: 'mf-queue',
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-data/metaflow',
      };
    }, 60_000);
    afterAll(async () => moto?.stop());

    test('once per content, in the S3 datastore and the run record; code unpacks and lists it; bad input is one line', async () => {
      const s3 = new S3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
      const S3 = ['--datastore', 's3'];
      const batch = () => cli(['run', path.join(PYSCRIPTS, 'flow.ts'), '--compute', 'batch', '--logs', 'none', '--poll-interval', '0.5'], { env });
      const first = batch();
      expect(first.stderr).not.toMatch(/error|Error/);
      expect(first.code).toBe(0);
      const line = /^code package: (\d+) files, [\d.]+ KiB, (\S+) \((uploaded|already there)\)$/m.exec(first.stdout);
      expect(line).not.toBeNull();
      const [, files, url, what] = line!;
      // flow.ts, prepare.py, train.py, report.py
      expect([Number(files), what]).toEqual([4, 'uploaded']);
      const sha1 = path.basename(url);
      const key = `metaflow/PyScriptsFlow/data/${sha1.slice(0, 2)}/${sha1}`;
      expect(url).toBe(`s3://mf-data/${key}`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'mf-data', Key: key }));
      const second = batch();
      expect(second.code).toBe(0);
      expect(second.stdout).toContain(`code package: 4 files, `);
      expect(second.stdout).toContain(`${url} (already there)`);

      const runId = /PyScriptsFlow run (\S+) succeeded/.exec(second.stdout)![1];
      const record = JSON.parse(cli(['show', runId, '--json', ...S3], { env }).stdout);
      expect(record.codePackage).toEqual({ url, sha1, files: 4, bytes: head.ContentLength });

      const cwd = tempDir('mfcdk-code-');
      const code = cli(['code', runId, ...S3], { cwd, env });
      expect(code.stderr).toBe('');
      expect(code.code).toBe(0);
      const dir = path.join(cwd, `PyScriptsFlow-${runId}-code`);
      expect(code.stdout).toBe(`code of PyScriptsFlow run ${runId}: 4 files in ${dir}\n`);
      for (const f of ['flow.ts', 'prepare.py', 'train.py', 'report.py']) {
        expect(fs.readFileSync(path.join(dir, f), 'utf8')).toBe(fs.readFileSync(path.join(PYSCRIPTS, f), 'utf8'));
      }
      expect(JSON.parse(fs.readFileSync(path.join(dir, '_mfcdk', 'package.json'), 'utf8'))).toMatchObject({ root: 'pyscripts', flowFile: 'flow.ts' });

      const listed = cli(['code', runId, '--list', ...S3], { env });
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain(`${fs.statSync(path.join(PYSCRIPTS, 'train.py')).size}\ttrain.py\n`);
      expect(listed.stdout).toContain('\t_mfcdk/package.json\n');

      const again = cli(['code', runId, ...S3], { cwd, env });
      expect([again.code, again.stderr]).toEqual([2, `metaflow-cdk: ${dir} is not an empty folder; give a new or empty one with --dir\n`]);
      const unknown = cli(['code', 'nosuch', '--root', root]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toMatch(/^metaflow-cdk: unknown run id "nosuch" in .*\n$/);
      const local = cli(['run', path.join(PYSCRIPTS, 'flow.ts'), '--root', root]);
      const localId = /PyScriptsFlow run (\S+) succeeded/.exec(local.stdout)![1];
      expect(cli(['code', localId, '--root', root])).toMatchObject({ code: 2, stderr: `metaflow-cdk: run ${localId} has no code package: its tasks ran in the flow's folder on the machine that ran it (local compute)\n` });
      await s3.send(new PutObjectCommand({ Bucket: 'mf-data', Key: key, Body: 'damaged' }));
      const corrupt = cli(['code', runId, '--list', ...S3], { env });
      expect(corrupt.code).toBe(1);
      expect(corrupt.stderr).toMatch(new RegExp(`^metaflow-cdk: the code package ${url} is corrupt: its sha1 is [0-9a-f]{40}, the run recorded ${sha1}\\n$`));
      s3.destroy();
    }, 120_000);
  },
  ['-h'],
);

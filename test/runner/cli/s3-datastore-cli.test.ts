/**
 * The real CLI with `--compute local --datastore s3` against moto_server's S3: every example runs,
 * a failed run is resumed, and `runs`, `show`, `logs` read the runs back from S3 alone.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client } from '../../../runner/aws/clients';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, MOTO_START_TIMEOUT_MS, workerMoto } from '../../support/moto';
import { tempDir } from '../support/harness';
import { PROCESS_GUARD_MS } from '../../support/guards';

const REPO = path.join(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const example = (name: string) => path.join(REPO, 'examples', name);
const runIdOf = (stdout: string) => /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(stdout)![1];

describeWithTool('moto_server', 'the CLI on the S3 datastore (moto_server)', () => {
  let moto: MotoServer;
  const cwd = tempDir('mfcdk-s3cli-');
  const ROOT = 's3://mf-data/metaflow';
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => {
    const res = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: PROCESS_GUARD_MS });
    return { code: res.status, stdout: res.stdout, stderr: res.stderr };
  };
  const s3 = (...args: string[]) => [...args, '--compute', 'local', '--datastore', 's3', '--datastore-root', ROOT];

  beforeAll(async () => {
    moto = await workerMoto();
    env = {
      ...process.env,
      CI: 'true',
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: MOTO_CLIENT_CONFIG.region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      METAFLOW_HOME: cwd,
    };
    const client = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
    await client.send(new CreateBucketCommand({ Bucket: 'mf-data' }));
    client.destroy();
  }, MOTO_START_TIMEOUT_MS);
  afterAll(async () => moto?.stop());

  test('every example runs on S3; runs, show and logs read it back; nothing is written locally', async () => {
    const hello = cli(s3('run', example('hello.ts'), '--param', 'name=Ada'));
    expect(hello.stderr).toBe('');
    expect(hello.code).toBe(0);
    expect(hello.stdout).toContain(`datastore ${ROOT}`);
    expect(hello.stdout).toContain('[hello/0#0] {"greeting": "hello, Ada"}');
    const fanout = cli(s3('run', example('fanout.ts'), '--param', 'width=6'));
    expect(fanout.code).toBe(0);
    expect(fanout.stdout).toContain('[end/0#0] {"total": 91, "children": 6}');
    const sweep = cli(s3('run', example('sweep.ts'), '--param', 'rates=0.1,0.01,0.001'));
    expect(sweep.code).toBe(0);
    expect(sweep.stdout).toMatch(/\[end\/0#0\] \{"best": ?\{"rate": ?0\.01, ?"loss": ?0(\.0+)?\}, ?"tried": ?3\}/);
    const resilient = cli(s3('run', example('resilient.ts')));
    expect(resilient.code).toBe(0);
    expect(resilient.stdout).toMatch(/\[end\/0#0\] caught failure: \{"step":"failing".*"exitCode":3/);
    expect(fs.existsSync(path.join(cwd, '.metaflow-cdk'))).toBe(false);

    // Read back with the root from the Metaflow config this time.
    const home = tempDir('mfcdk-s3home-');
    fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ METAFLOW_DATASTORE_SYSROOT_S3: ROOT }));
    const runs = cli(['runs', '--datastore', 's3'], { METAFLOW_HOME: home });
    expect(runs.code).toBe(0);
    const ids = [resilient, sweep, fanout, hello].map((r) => runIdOf(r.stdout));
    // Newest first (runs started within the same second are in any order among themselves).
    expect(runs.stdout.split('\n').slice(1, 5).map((l) => l.split(/\s+/)[0]).sort()).toEqual([...ids].sort());
    const show = cli(['show', ids[0], '--datastore', 's3'], { METAFLOW_HOME: home });
    expect(show.stdout).toMatch(/^hung\s+1\s+2\s+1\s+0\s+0\s+0\s+0\s/m);
    expect(show.stdout).toContain('caught: failing/0 after 1 attempt(s): exit code 3');
    expect(cli(['logs', `${ids[0]}/hung/0`, '--attempt', '0', '--datastore', 's3'], { METAFLOW_HOME: home }).stdout).toBe('hanging...\n');
    expect(cli(['logs', `${ids[0]}/hung/0`, '--datastore', 's3'], { METAFLOW_HOME: home }).stdout).toBe('finished on attempt 1\n');
    expect(cli(['logs', `${ids[3]}/hello/0`, '--datastore', 's3'], { METAFLOW_HOME: home }).stdout).toBe('{"greeting": "hello, Ada"}\n');

    // The committed outputs sit at the task path; the attempt's copies are gone.
    const client = createS3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint });
    const keys = (await client.send(new ListObjectsV2Command({ Bucket: 'mf-data', Prefix: `metaflow/HelloFlow/${ids[3]}/start/0/` }))).Contents!.map((c) => c.Key);
    client.destroy();
    expect(keys.sort()).toEqual([`metaflow/HelloFlow/${ids[3]}/start/0/attempt-0.log`, `metaflow/HelloFlow/${ids[3]}/start/0/outputs.json`, `metaflow/HelloFlow/${ids[3]}/start/0/status.json`]);
  }, PROCESS_GUARD_MS);

  test('a failed run is resumed from S3: reused tasks are read by reference, the rest runs', () => {
    const flow = path.join(cwd, 'flaky.ts');
    const marker = path.join(cwd, 'ok');
    fs.writeFileSync(
      flow,
      `import { defineFlow } from ${JSON.stringify(path.join(REPO, 'runner'))};
const sh = (s: string) => ['/bin/sh', '-c', s];
export default defineFlow({ name: 'Flaky', steps: [
  { name: 'start', command: sh('echo "{\\\\"n\\\\": 7}" > "$MF_OUTPUT_DIR/outputs.json"; echo data > "$MF_OUTPUT_DIR/file.txt"'), next: 'mid' },
  { name: 'mid', command: sh('test -f ${marker} || exit 4; cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json" "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/file.txt"'), next: 'end' },
  { name: 'end', command: sh('echo done') },
]});
`,
    );
    const failed = cli(s3('run', flow));
    expect(failed.code).toBe(1);
    const id = runIdOf(failed.stdout);
    // the hint carries the datastore flags: `show` and `resume` default to the local datastore
    expect(failed.stderr).toContain(`\`metaflow-cdk resume ${id} --datastore s3 --datastore-root ${ROOT}\` reruns what did not succeed`);
    fs.writeFileSync(marker, '');
    const resumed = cli(['resume', id, '--datastore', 's3', '--datastore-root', ROOT]);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('[mid/0#0] {"n": 7}');
    expect(resumed.stdout).toContain('[mid/0#0] data');
    const show = cli(['show', runIdOf(resumed.stdout), '--datastore-root', ROOT, '--json']);
    const record = JSON.parse(show.stdout);
    expect(record.originRunId).toBe(id);
    expect(record.tasks.find((t: { step: string }) => t.step === 'start')).toMatchObject({ status: 'reused', reusedFrom: id });
  });

  test('bad roots: one line naming the value; exit 1 for S3 and config problems, 2 for flags', () => {
    const missing = cli(['runs', '--datastore-root', 's3://no-such-bucket/x']);
    expect([missing.code, missing.stderr]).toEqual([1, 'metaflow-cdk: datastore root s3://no-such-bucket/x: bucket "no-such-bucket" does not exist\n']);
    const bad = cli(['runs', '--datastore-root', 's3://B_A_D']);
    expect([bad.code, bad.stderr]).toEqual([2, 'metaflow-cdk: --datastore-root must be an s3://<bucket>/<prefix> URL, got "s3://B_A_D"\n']);
    const badConfig = cli(['runs', '--datastore', 's3'], { METAFLOW_DATASTORE_SYSROOT_S3: '/not/s3' });
    expect([badConfig.code, badConfig.stderr]).toEqual([1, 'metaflow-cdk: METAFLOW_DATASTORE_SYSROOT_S3 must be an s3://<bucket>/<prefix> URL, got "/not/s3" (from the environment)\n']);
    const kind = cli(['runs', '--datastore', 'ftp']);
    expect([kind.code, kind.stderr]).toEqual([2, 'metaflow-cdk: --datastore "ftp": unknown datastore (available: local, s3)\n']);
    const noRoot = cli(['runs', '--datastore', 's3']);
    expect(noRoot.code).toBe(2);
    expect(noRoot.stderr).toMatch(/^metaflow-cdk: missing Metaflow config key METAFLOW_DATASTORE_SYSROOT_S3: .*--datastore-root/);
  });
}, ['--help']);

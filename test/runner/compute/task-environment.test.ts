/**
 * One environment on every layer: a local task gets the contract, the step's `env` and the
 * documented part of the runner's environment (PATH, HOME, LANG, TZ, AWS_*, proxies, CA bundles)
 * — not a variable that only this shell exported — unless `run --inherit-env`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../runner/cli/main';
import { delimiter } from 'node:path';
import { taskBaseEnvironment, withTaskHelpers } from '../../../runner/compute/task-environment';
import { NODE_HELPERS_DIR, RUNTIME_SOURCE_DIR } from '../../../runner/task-runtime';

const dir = mkdtempSync(join(tmpdir(), 'mf-task-env-'));
// In-process, a flow file is loaded with require (tsx cannot load TypeScript inside jest): JavaScript.
const FLOW = join(dir, 'env.js');
writeFileSync(FLOW, `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({ name: 'Env', steps: [
  { name: 'start', command: ['/bin/sh', '-c', 'env | sort'], env: { STEP_VAR: 'from-the-step' }, next: 'end' },
  { name: 'end', command: ['true'] },
] });
`);

const SHELL = {
  PATH: process.env.PATH,
  HOME: '/home/ada',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TZ: 'UTC',
  AWS_REGION: 'eu-west-1',
  AWS_PROFILE: 'dev',
  HTTPS_PROXY: 'http://proxy:3128',
  no_proxy: '169.254.169.254',
  SSL_CERT_FILE: '/etc/ssl/corp.pem',
  ONLY_IN_MY_SHELL: 'works on my machine',
  CI: 'true',
};

/** The variables the task printed (names → values), read from the progress lines. */
async function taskEnv(...extra: string[]): Promise<Record<string, string>> {
  let stdout = '';
  const code = await main(['node', 'metaflow-cdk', 'run', FLOW, '--root', join(dir, 'runs'), ...extra], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: () => true } as unknown as NodeJS.WritableStream,
    env: SHELL,
  });
  expect(code).toBe(0);
  const lines = stdout.split('\n').filter((l) => l.startsWith('[start/0#0] ') && l.includes('=')).map((l) => l.slice('[start/0#0] '.length));
  return Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('a local task gets the contract, its step env and the documented variables, not the rest of the shell', async () => {
  const env = await taskEnv();
  expect(env).toMatchObject({
    STEP_VAR: 'from-the-step',
    MF_FLOW: 'Env',
    HOME: '/home/ada', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TZ: 'UTC',
    AWS_REGION: 'eu-west-1', AWS_PROFILE: 'dev', HTTPS_PROXY: 'http://proxy:3128', no_proxy: '169.254.169.254', SSL_CERT_FILE: '/etc/ssl/corp.pem',
  });
  expect(env.ONLY_IN_MY_SHELL).toBeUndefined();
  expect(env.CI).toBeUndefined();
});

test('--inherit-env passes the whole shell', async () => {
  const env = await taskEnv('--inherit-env');
  expect(env).toMatchObject({ ONLY_IN_MY_SHELL: 'works on my machine', CI: 'true', STEP_VAR: 'from-the-step' });
});

test('withTaskHelpers puts the Python and Node helpers last on PYTHONPATH and NODE_PATH, after what the step or shell set', () => {
  expect(withTaskHelpers({ A: '1', GONE: undefined })).toEqual({ A: '1', PYTHONPATH: RUNTIME_SOURCE_DIR, NODE_PATH: NODE_HELPERS_DIR });
  expect(withTaskHelpers({ PYTHONPATH: '/mine/py', NODE_PATH: '/mine/node' })).toEqual({
    PYTHONPATH: `/mine/py${delimiter}${RUNTIME_SOURCE_DIR}`,
    NODE_PATH: `/mine/node${delimiter}${NODE_HELPERS_DIR}`,
  });
});

test('taskBaseEnvironment keeps the listed names and prefixes only', () => {
  expect(taskBaseEnvironment({ PATH: '/bin', AWS_SECRET_ACCESS_KEY: 's', LC_TIME: 'C', NODE_OPTIONS: '--inspect', SECRET: 'x', TMPDIR: '/t' }))
    .toEqual({ PATH: '/bin', AWS_SECRET_ACCESS_KEY: 's', LC_TIME: 'C', TMPDIR: '/t' });
});

test('--inherit-env with --compute batch is one line, exit 2', async () => {
  let stderr = '';
  const code = await main(['node', 'metaflow-cdk', 'run', FLOW, '--compute', 'batch', '--inherit-env'], {
    stdout: { write: () => true } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env: { ...SHELL, METAFLOW_BATCH_JOB_QUEUE: 'q', METAFLOW_DATASTORE_SYSROOT_S3: 's3://mf-bucket/x' },
  });
  expect(code).toBe(2);
  expect(stderr).toBe("metaflow-cdk: --inherit-env only applies to --compute local (a Batch task gets its image's environment, the contract and the step's env)\n");
});

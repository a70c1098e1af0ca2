import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_HELPER_IMAGE,
  fetchScript,
  mainScript,
  outputPassingJobDefinition,
  outputPassingOverrides,
  uploadScript,
} from '../../../runner/batch/output-passing';
import { batchJobDefinition, BatchJobDefinitionInput } from '../../../runner/policy';

const input: BatchJobDefinitionInput = {
  flow: 'Flow',
  step: 'train',
  image: 'busybox:1.36',
  policies: { resources: { cpu: 1, memory: 2048, gpu: 0 }, retries: 0, retryDelayMs: 0, timeoutSeconds: 600 },
  platform: 'FARGATE',
  jobRoleArn: 'arn:aws:iam::1:role/job',
  executionRoleArn: 'arn:aws:iam::1:role/exec',
  options: { assignPublicIp: true },
};

describe('output passing: multi-container job definition', () => {
  test('exact payload: fetch → main → upload on a shared volume; only upload essential', () => {
    const def = outputPassingJobDefinition(input);
    const mounts = [{ sourceVolume: 'metaflow', containerPath: '/metaflow' }];
    expect(def).toEqual({
      jobDefinitionName: expect.stringMatching(/^metaflow_Flow-train-io-[0-9a-f]{12}$/),
      type: 'container',
      platformCapabilities: ['FARGATE'],
      ecsProperties: {
        taskProperties: [
          {
            taskRoleArn: 'arn:aws:iam::1:role/job',
            executionRoleArn: 'arn:aws:iam::1:role/exec',
            networkConfiguration: { assignPublicIp: 'ENABLED' },
            volumes: [{ name: 'metaflow' }],
            containers: [
              { name: 'fetch', image: DEFAULT_HELPER_IMAGE, essential: false, command: ['sh', '-c', fetchScript()], mountPoints: mounts },
              {
                name: 'main',
                image: 'busybox:1.36',
                essential: false,
                dependsOn: [{ containerName: 'fetch', condition: 'COMPLETE' }],
                command: ['sh', '-c', mainScript(), 'metaflow-task'],
                resourceRequirements: [
                  { type: 'VCPU', value: '1' },
                  { type: 'MEMORY', value: '2048' },
                ],
                mountPoints: mounts,
              },
              {
                name: 'upload',
                image: DEFAULT_HELPER_IMAGE,
                essential: true,
                dependsOn: [{ containerName: 'main', condition: 'COMPLETE' }],
                command: ['sh', '-c', uploadScript()],
                mountPoints: mounts,
              },
            ],
          },
        ],
      },
      retryStrategy: batchJobDefinition(input).retryStrategy,
      timeout: { attemptDurationSeconds: 600 },
      propagateTags: true,
      tags: { 'metaflow.flow': 'Flow', 'metaflow.step': 'train' },
    });
  });

  test('overrides: argv and task env for main; offset and URLs for the helpers', () => {
    const o = outputPassingOverrides('train/0', ['python', '-c', 'print(1)'], { MF_RUN_ID: '7', MF_ARRAY_INDEX_OFFSET: '0' }, {
      inputs: { start: 's3://b/mf/Flow/7/start/0/0/', items: 's3://b/mf/Flow/7/start/0/0/items/{index}/' },
      output: 's3://b/mf/Flow/7/train/{index}/0/',
    });
    const helperEnv = [
      { name: 'MF_ARRAY_INDEX_OFFSET', value: '0' },
      { name: 'MF_INPUT_URLS', value: 'start=s3://b/mf/Flow/7/start/0/0/ items=s3://b/mf/Flow/7/start/0/0/items/{index}/' },
      { name: 'MF_OUTPUT_URL', value: 's3://b/mf/Flow/7/train/{index}/0/' },
    ];
    expect(o).toEqual({
      taskProperties: [
        {
          containers: [
            { name: 'fetch', environment: helperEnv },
            {
              name: 'main',
              command: ['sh', '-c', mainScript(), 'metaflow-task', 'python', '-c', 'print(1)'],
              environment: [
                { name: 'MF_ARRAY_INDEX_OFFSET', value: '0' },
                { name: 'MF_RUN_ID', value: '7' },
              ],
            },
            { name: 'upload', environment: helperEnv },
          ],
        },
      ],
    });
    expect(() => outputPassingOverrides('train/0', ['x'], { BIG: 'x'.repeat(9000) }, { inputs: {}, output: 's3://b/o/' })).toThrow(
      /^train\/0: container overrides are \d+ characters, Batch allows 8192; largest variables: BIG \(9003\)/,
    );
  });
});

describe('output passing: the three scripts in a POSIX shell (a stand-in aws CLI copies files)', () => {
  function sandbox() {
    const dir = mkdtempSync(join(tmpdir(), 'mf-io-'));
    const bin = join(dir, 'bin');
    const s3 = join(dir, 's3');
    mkdirSync(bin);
    mkdirSync(join(s3, 'parent'), { recursive: true });
    writeFileSync(join(s3, 'parent', 'outputs.json'), '{"x":1}');
    // `aws s3 cp --recursive --only-show-errors SRC DEST` with s3:// mapped onto the sandbox
    writeFileSync(
      join(bin, 'aws'),
      `#!/bin/sh\necho "$@" >> ${dir}/aws.log\nsrc=$(echo "$5" | sed "s#^s3://#${s3}/#"); dst=$(echo "$6" | sed "s#^s3://#${s3}/#")\nmkdir -p "$dst" && cp -R "$src"/. "$dst"\n`,
    );
    chmodSync(join(bin, 'aws'), 0o755);
    const root = join(dir, 'vol');
    const env = { PATH: `${bin}:/usr/bin:/bin`, MF_INPUT_URLS: 'parent=s3://parent', MF_OUTPUT_URL: 's3://out/{index}/', MF_ARRAY_INDEX_OFFSET: '100', AWS_BATCH_JOB_ARRAY_INDEX: '7' };
    return { dir, s3, root, env };
  }
  const sh = (script: string, env: Record<string, string>, args: string[] = []) => spawnSync('sh', ['-c', script, 'metaflow-task', ...args], { env, encoding: 'utf8' });

  test('success: inputs down, the user command sees its index and dirs, outputs up, exit 0', () => {
    const { s3, root, env } = sandbox();
    expect(sh(fetchScript(root), env).status).toBe(0);
    const user = 'echo "{\\"i\\": $MF_FOREACH_INDEX, \\"in\\": $(cat $MF_INPUT_DIR/parent/outputs.json)}" > $MF_OUTPUT_DIR/outputs.json';
    expect(sh(mainScript(root), env, ['sh', '-c', user]).status).toBe(0);
    expect(sh(uploadScript(root), env).status).toBe(0);
    expect(JSON.parse(readFileSync(join(s3, 'out', '107', 'outputs.json'), 'utf8'))).toEqual({ i: 107, in: { x: 1 } });
  });

  test("the user's exit code is the job's: upload runs and exits with it", () => {
    const { s3, root, env } = sandbox();
    sh(fetchScript(root), env);
    expect(sh(mainScript(root), env, ['sh', '-c', 'echo partial > $MF_OUTPUT_DIR/log.txt; exit 3']).status).toBe(3);
    expect(sh(uploadScript(root), env).status).toBe(3);
    expect(existsSync(join(s3, 'out', '107', 'log.txt'))).toBe(true);
  });

  test('a failed download fails the attempt with a message, and main never runs the user command', () => {
    const { root, env } = sandbox();
    const fetch = sh(fetchScript(root), { ...env, MF_INPUT_URLS: 'parent=s3://missing' });
    expect(fetch.status).not.toBe(0);
    const main = sh(mainScript(root), env, ['sh', '-c', 'echo ran > /dev/stderr']);
    expect(main.status).toBe(1);
    expect(main.stderr).toBe("metaflow: the task's inputs were not downloaded (see the fetch container's log)\n");
    expect(sh(uploadScript(root), env).status).toBe(1);
  });

  test('main killed before recording its exit code (OOM): upload exits 137', () => {
    const { root, env } = sandbox();
    sh(fetchScript(root), env);
    expect(sh(uploadScript(root), env).status).toBe(137);
  });

  test('no AWS CLI and no dnf: exit 90 with a message naming what is missing', () => {
    const { root } = sandbox();
    const out = spawnSync('/bin/sh', ['-c', uploadScript(root)], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
    expect(out.status).toBe(90);
    expect(out.stderr).toContain('metaflow: the helper image has no AWS CLI and dnf could not install awscli-2');
  });
});

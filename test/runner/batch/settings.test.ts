import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetaflowConfig } from '../../../runner/config/metaflow-config';
import { batchSettings, parseS3Url, queueForStep, requireExecutionRole } from '../../../runner/batch/settings';

function home(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mf-home-'));
  mkdirSync(dir, { recursive: true });
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));
  return dir;
}

describe('Batch settings from the Metaflow config', () => {
  const file = {
    METAFLOW_BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:1:job-queue/default',
    METAFLOW_BATCH_JOB_QUEUE_GPU: 'arn:aws:batch:us-east-1:1:job-queue/gpu',
    METAFLOW_DATASTORE_SYSROOT_S3: 's3://bucket/metaflow/',
    METAFLOW_ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::1:role/job',
    METAFLOW_UNRELATED: 'ignored',
  };

  test('file values, overridden by METAFLOW_* env, overridden by flags', () => {
    const env = { METAFLOW_HOME: home({ 'config.json': file }), METAFLOW_ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::1:role/from-env' };
    const config = readMetaflowConfig(env);
    expect(config.sources.BATCH_JOB_QUEUE).toBe(config.path);
    expect(config.sources.ECS_S3_ACCESS_IAM_ROLE).toBe('env');
    expect(batchSettings(config)).toEqual({
      queue: 'arn:aws:batch:us-east-1:1:job-queue/default',
      gpuQueue: 'arn:aws:batch:us-east-1:1:job-queue/gpu',
      jobRoleArn: 'arn:aws:iam::1:role/from-env',
      executionRoleArn: undefined,
      datastoreRoot: { bucket: 'bucket', prefix: 'metaflow', url: 's3://bucket/metaflow' },
      region: undefined,
      assignPublicIp: false,
    });
    expect(batchSettings(config, { queue: 'q2', region: 'eu-west-1' })).toMatchObject({ queue: 'q2', region: 'eu-west-1' });
  });

  test('METAFLOW_BATCH_ASSIGN_PUBLIC_IP (published by a stack whose compute is in public subnets) turns assignPublicIp on', () => {
    const on = readMetaflowConfig({ METAFLOW_HOME: home({ 'config.json': { ...file, METAFLOW_BATCH_ASSIGN_PUBLIC_IP: 'true' } }) });
    expect(batchSettings(on).assignPublicIp).toBe(true);
  });

  test('METAFLOW_PROFILE selects config_<profile>.json', () => {
    const dir = home({ 'config.json': file, 'config_dev.json': { ...file, METAFLOW_BATCH_JOB_QUEUE: 'dev-queue' } });
    expect(batchSettings(readMetaflowConfig({ METAFLOW_HOME: dir, METAFLOW_PROFILE: 'dev' })).queue).toBe('dev-queue');
  });

  test('queues: a step names its own; GPU steps go to the GPU queue; others to the default', () => {
    const settings = batchSettings(readMetaflowConfig({ METAFLOW_HOME: home({ 'config.json': file }) }));
    expect(queueForStep(settings, { gpu: 0 })).toBe('arn:aws:batch:us-east-1:1:job-queue/default');
    expect(queueForStep(settings, { gpu: 1 })).toBe('arn:aws:batch:us-east-1:1:job-queue/gpu');
    expect(queueForStep(settings, { gpu: 1, queue: 'mine' })).toBe('mine');
    const noGpu = batchSettings(readMetaflowConfig({ METAFLOW_HOME: home({}), METAFLOW_BATCH_JOB_QUEUE: 'q', METAFLOW_DATASTORE_SYSROOT_S3: 's3://bkt' }));
    expect(queueForStep(noGpu, { gpu: 2 })).toBe('q');
  });

  test('a missing key is one line naming it, the file and the flag', () => {
    const dir = home({});
    const config = readMetaflowConfig({ METAFLOW_HOME: dir, METAFLOW_DATASTORE_SYSROOT_S3: 's3://bkt/p' });
    expect(() => batchSettings(config)).toThrow(
      `missing Metaflow config key METAFLOW_BATCH_JOB_QUEUE: set it in ${join(dir, 'config.json')} or the environment, or pass --queue (metaflow-cdk configure writes it from the stack)`,
    );
    const settings = batchSettings(config, { queue: 'q' });
    expect(() => requireExecutionRole(settings, config, 'train')).toThrow(
      /^step "train" runs on a Fargate queue: missing Metaflow config key METAFLOW_ECS_FARGATE_EXECUTION_ROLE: .* or pass --execution-role/,
    );
  });

  test('bad config files and datastore roots are one line', () => {
    const dir = home({ 'config.json': '{not json' });
    expect(() => readMetaflowConfig({ METAFLOW_HOME: dir })).toThrow(new RegExp(`^Metaflow config ${join(dir, 'config.json')} is not valid JSON`));
    expect(() => readMetaflowConfig({ METAFLOW_HOME: home({ 'config.json': '[1]' }) })).toThrow(/must hold a JSON object, got \[1\]$/);
    expect(() => parseS3Url('DATASTORE_SYSROOT_S3', 'bucket/x')).toThrow('DATASTORE_SYSROOT_S3 must be an s3://<bucket>/<prefix> URL, got "bucket/x"');
    expect(parseS3Url('x', 's3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '', url: 's3://my-bucket' });
  });
});

/**
 * The S3 side of a Batch layer test: an S3 datastore on a test file's moto_server, the run's
 * code package in it (built and stored by runner/package, as `run --compute batch` does), and the
 * check every test makes of what was sent to AWS: each job within ECS's budget, no path of this
 * machine in any command or environment.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RegisterJobDefinitionCommandInput, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { checkEcsBudget } from '../../../runner/batch/job-shape';
import type { BatchSettings } from '../../../runner/batch/settings';
import type { Datastore } from '../../../runner/datastore/types';
import { openS3Datastore, S3Datastore } from '../../../runner/datastore/s3';
import { buildCodePackage, storeCodePackage } from '../../../runner/package';
import { MOTO_CLIENT_CONFIG } from '../../support/moto';
import { tempDir } from '../support/harness';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** An S3 datastore at `s3://<bucket>/<prefix>` on moto (the bucket must exist). */
export function motoDatastore(endpoint: string, bucket: string, prefix: string): S3Datastore {
  return openS3Datastore({ bucket, prefix }, { ...MOTO_CLIENT_CONFIG, endpoint, maxAttempts: 2 }, { stagingDir: tempDir('mfcdk-staging-') });
}

/** Batch settings of a test layer whose datastore is `s3://<bucket>/<prefix>` (one queue for CPU and GPU). */
export function testBatchSettings(bucket: string, prefix: string, extra: Partial<BatchSettings> = {}): BatchSettings {
  return {
    queue: 'metaflow',
    gpuQueue: 'metaflow',
    jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    executionRoleArn: 'arn:aws:iam::123456789012:role/exec',
    region: 'us-east-1',
    datastoreRoot: { bucket, prefix, url: `s3://${bucket}/${prefix}` },
    ...extra,
  };
}

/**
 * Pack `dir` (default: a folder with one `data.txt` holding "packaged") as a code package of
 * `flow`, store it in the datastore and return its URL.
 */
export async function storeTestCodePackage(datastore: Datastore, flow: string, dir?: string): Promise<string> {
  let root = dir;
  if (root === undefined) {
    root = tempDir('mfcdk-code-');
    fs.writeFileSync(path.join(root, 'data.txt'), 'packaged\n');
  }
  const built = await buildCodePackage({ root, homeDir: '/nonexistent-home' });
  try {
    return (await storeCodePackage(datastore, flow, built)).ref.url;
  } finally {
    await built.dispose();
  }
}

/** Paths of this machine a job must never carry: the repository, the temporary folders. */
function localPaths(): string[] {
  return [...new Set([REPO_ROOT, os.tmpdir(), '/tmp/'])];
}

/**
 * Every job submitted fits ECS's budget with its definition's command (job-shape.ts), and
 * neither its definition's command and environment nor its overrides name a local path.
 * Returns how many jobs were checked.
 */
export function expectPortableJobs(submitted: readonly SubmitJobCommandInput[], definitions: ReadonlyMap<string, RegisterJobDefinitionCommandInput>): number {
  const paths = localPaths();
  for (const input of submitted) {
    const definition = definitions.get(input.jobDefinition!);
    if (!definition) throw new Error(`job ${input.jobName} names an unregistered definition ${input.jobDefinition}`);
    expect(() => checkEcsBudget(input.jobName!, definition, input.containerOverrides)).not.toThrow();
    const sent = JSON.stringify({ command: definition.containerProperties?.command, env: definition.containerProperties?.environment, overrides: input.containerOverrides });
    for (const p of paths) expect({ job: input.jobName, local: p, found: sent.includes(p) }).toEqual({ job: input.jobName, local: p, found: false });
  }
  return submitted.length;
}

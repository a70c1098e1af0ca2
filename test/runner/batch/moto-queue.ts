import { execFileSync } from 'node:child_process';
import { BatchClient, CreateComputeEnvironmentCommand, CreateJobQueueCommand, CreateSchedulingPolicyCommand } from '@aws-sdk/client-batch';

/** A compute environment `mf-ce` and the queue `mf-queue` in a moto_server. */
export async function createMotoQueue(endpoint: string, batch: BatchClient): Promise<void> {
  // moto checks the compute environment's service role exists; the aws CLI creates it
  const role = execFileSync(
    'aws',
    ['--endpoint-url', endpoint, '--region', 'us-east-1', 'iam', 'create-role', '--role-name', 'AWSBatchServiceRole',
      '--assume-role-policy-document', '{"Version":"2012-10-17","Statement":[]}', '--query', 'Role.Arn', '--output', 'text'],
    { env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' }, encoding: 'utf8' },
  ).trim();
  const ce = await batch.send(new CreateComputeEnvironmentCommand({ computeEnvironmentName: 'mf-ce', type: 'UNMANAGED', state: 'ENABLED', serviceRole: role }));
  await batch.send(new CreateJobQueueCommand({ jobQueueName: 'mf-queue', priority: 1, state: 'ENABLED', computeEnvironmentOrder: [{ order: 1, computeEnvironment: ce.computeEnvironmentArn! }] }));
}

/**
 * A queue `name` with a fair-share scheduling policy (one share per team) on `mf-ce`, in a moto_server
 * where {@link createMotoQueue} ran. moto keeps the policy and names it in DescribeJobQueues'
 * `schedulingPolicyArn`, but ignores a job's `shareIdentifier` (moto 5.2: SubmitJob drops it).
 */
export async function createMotoFairShareQueue(batch: BatchClient, name: string, teams: readonly string[]): Promise<string> {
  const policy = await batch.send(new CreateSchedulingPolicyCommand({
    name: `${name}-policy`,
    fairsharePolicy: { shareDecaySeconds: 3600, computeReservation: 10, shareDistribution: teams.map((shareIdentifier) => ({ shareIdentifier, weightFactor: 1 })) },
  }));
  await batch.send(new CreateJobQueueCommand({
    jobQueueName: name, priority: 1, state: 'ENABLED', schedulingPolicyArn: policy.arn, computeEnvironmentOrder: [{ order: 1, computeEnvironment: 'mf-ce' }],
  }));
  return policy.arn!;
}

/**
 * The parts FlowStateMachine is built from, each on its own: compiled job definitions as
 * CloudFormation resources, the permissions read from a definition, and the stand-ins for CDK
 * tokens during compilation.
 */
import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CompileStandIns } from '../../lib/step-functions/compile-stand-ins';
import { definitionNeeds } from '../../lib/step-functions/definition-needs';
import { FlowJobDefinition } from '../../lib/step-functions/flow-job-definition';
import { loaderCommand, taskJobDefinition } from '../../runner/batch/job-shape';
import { batchJobDefinition, BatchJobDefinitionInput } from '../../runner/policy/batch';
import { emptyStack } from '../support/synth';

const ROLE = 'arn:aws:iam::123456789012:role/job';
const EXECUTION_ROLE = 'arn:aws:iam::123456789012:role/execution';

/** Steps exercising every field the Batch mapping writes. */
const STEPS: Record<string, BatchJobDefinitionInput> = {
  ec2: {
    flow: 'F', step: 'ec2', image: 'busybox:1.36', platform: 'EC2', jobRoleArn: ROLE,
    policies: { resources: { cpu: 2, memory: 8192, gpu: 1, sharedMemory: 1024, tmpfs: 512 }, retries: 0, retryDelayMs: 0, timeoutSeconds: 3600 },
    options: { maxSwap: 2048, swappiness: 10, infrastructureRetries: 2 },
  },
  fargate: {
    flow: 'F', step: 'fargate', image: 'busybox:1.36', platform: 'FARGATE', jobRoleArn: ROLE, executionRoleArn: EXECUTION_ROLE,
    policies: { resources: { cpu: 0.5, memory: 2048, gpu: 0, ephemeralStorage: 50 }, retries: 0, retryDelayMs: 0 },
    options: { assignPublicIp: true },
  },
};

/** Lower-case the first letter of every key: CloudFormation's spelling back to the API's. */
function apiSpelling(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(apiSpelling);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), apiSpelling(v)]));
  }
  return value;
}

describe('FlowJobDefinition: a RegisterJobDefinition input as AWS::Batch::JobDefinition, field for field', () => {
  const stack = emptyStack();
  const inputs: Record<string, RegisterJobDefinitionCommandInput> = {
    ec2: batchJobDefinition(STEPS.ec2),
    fargate: batchJobDefinition(STEPS.fargate),
    ec2Task: taskJobDefinition(STEPS.ec2, ['python3', 'train.py', '--epochs', '3']),
    fargateTask: taskJobDefinition(STEPS.fargate, ['sh', '-c', 'echo "$MF_FOREACH_ITEM"']),
  };
  for (const [id, input] of Object.entries(inputs)) new FlowJobDefinition(stack, id, input, RemovalPolicy.DESTROY);
  const resources = Template.fromStack(stack).findResources('AWS::Batch::JobDefinition');

  test.each(Object.keys(inputs))('%s: every field the compiler wrote is in the template, spelled as CloudFormation spells it', (id) => {
    const [resource] = Object.entries(resources).filter(([logicalId]) => logicalId.startsWith(id)).map(([, r]) => r);
    const { ResourceRetentionPolicy, ...properties } = resource.Properties;
    expect(apiSpelling(properties)).toEqual(JSON.parse(JSON.stringify(inputs[id])));
    expect(ResourceRetentionPolicy).toEqual({ SkipDeregisterOnUpdate: true });
  });

  test('the mapped fields include the ones whose CloudFormation names differ most from a naive guess', () => {
    const all = JSON.stringify(resources);
    for (const key of ['"SizeInGiB":50', '"AssignPublicIp":"ENABLED"', '"Tmpfs":[{"ContainerPath"', '"SharedMemorySize":1024', '"AttemptDurationSeconds":3600',
      '"PlatformCapabilities":["FARGATE"]', '"PropagateTags":true', '"LinuxParameters":{', '"ResourceRequirements":[', '"RetryStrategy":{"Attempts":3', '"JobRoleArn"', '"ExecutionRoleArn"']) {
      expect(all).toContain(key);
    }
    // One container per task (containerProperties, what batch:submitJob.sync documents): its command the loader and the step's argv, verbatim.
    expect(all).not.toContain('EcsProperties');
    const task = Object.entries(resources).find(([id]) => id.startsWith('ec2Task'))![1];
    expect(task.Properties.ContainerProperties.Command).toEqual(loaderCommand(['python3', 'train.py', '--epochs', '3']));
    expect(task.Properties.ContainerProperties.Command.slice(-4)).toEqual(['python3', 'train.py', '--epochs', '3']);
  });

  test('updates keep old revisions registered; replaced definitions are retained; deletion follows the removal policy', () => {
    for (const resource of Object.values(resources)) {
      expect(resource).toMatchObject({ UpdateReplacePolicy: 'Retain', DeletionPolicy: 'Delete' });
    }
    const retained = emptyStack();
    new FlowJobDefinition(retained, 'Kept', inputs.ec2, RemovalPolicy.RETAIN);
    expect(Object.values(Template.fromStack(retained).findResources('AWS::Batch::JobDefinition'))[0]).toMatchObject({ DeletionPolicy: 'Retain' });
  });

  test('a field CloudFormation does not have is refused, naming the field (it is not silently dropped)', () => {
    const withUnknown = { ...inputs.ec2, containerProperties: { ...inputs.ec2.containerProperties, notACloudFormationField: true } } as RegisterJobDefinitionCommandInput;
    expect(() => new FlowJobDefinition(emptyStack(), 'Bad', withUnknown, RemovalPolicy.DESTROY))
      .toThrow(/^Test\/Bad: job definition "metaflow_F-ec2-[0-9a-f]{12}" cannot be expressed in CloudFormation as compiled: containerProperties\.notACloudFormationField is not a CloudFormation property$/);
  });
});

const BATCH_SYNC = 'arn:aws:states:::batch:submitJob.sync';
const task = (queue: string, definition: string, extra: Record<string, unknown> = {}) =>
  ({ Type: 'Task', Resource: BATCH_SYNC, Parameters: { JobName: 'j', JobQueue: queue, JobDefinition: definition, ...extra }, End: true });

describe('definitionNeeds: what the role must allow, read from the definition', () => {
  test('Batch tasks in Parallel branches and inline Maps: queues and job definitions, sync, tags', () => {
    const needs = definitionNeeds({
      StartAt: 'a',
      States: {
        a: { ...task('q1', 'd1'), End: undefined, Next: 'p' },
        p: {
          Type: 'Parallel', Next: 'm',
          Branches: [{ StartAt: 'b', States: { b: task('q2', 'd2', { Tags: { k: 'v' } }) } }, { StartAt: 'c', States: { c: task('q1', 'd1') } }],
        },
        m: { Type: 'Map', End: true, ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, StartAt: 'd', States: { d: task('q3', 'd3') } } },
      },
    });
    expect(needs).toEqual({ batchJobsWaitedFor: true, jobQueues: ['q1', 'q2', 'q3'], jobDefinitions: ['d1', 'd2', 'd3'], tagsJobs: true, s3Actions: [], distributedMap: false });
  });

  test('a fire-and-forget submit, S3 SDK tasks, and a distributed Map reading items from S3', () => {
    const needs = definitionNeeds({
      StartAt: 'put',
      States: {
        put: { Type: 'Task', Resource: 'arn:aws-cn:states:::aws-sdk:s3:putObject', Parameters: { Bucket: 'b', Key: 'k', Body: {} }, Next: 'submit' },
        submit: { Type: 'Task', Resource: 'arn:aws:states:::batch:submitJob', Parameters: { JobName: 'j', JobQueue: 'q', JobDefinition: 'd' }, Next: 'map' },
        map: {
          Type: 'Map', End: true,
          ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' }, Parameters: { Bucket: 'b', Key: 'k' } },
          ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, StartAt: 'x', States: { x: { Type: 'Pass', End: true } } },
        },
      },
    });
    expect(needs).toEqual({ batchJobsWaitedFor: false, jobQueues: ['q'], jobDefinitions: ['d'], tagsJobs: false, s3Actions: ['s3:GetObject', 's3:PutObject'], distributedMap: true });
  });

  test.each([
    ['a Lambda task', { a: { Type: 'Task', Resource: 'arn:aws:lambda:us-east-1:123456789012:function:f', End: true } },
      /^state "a": Resource must be a Step Functions service integration \(arn:<partition>:states:::…\), got "arn:aws:lambda:/],
    ['an integration without known permissions', { a: { Type: 'Task', Resource: 'arn:aws:states:::sqs:sendMessage', End: true } },
      /^state "a": FlowStateMachine knows the permissions of Batch and S3 tasks only, got Resource "arn:aws:states:::sqs:sendMessage"$/],
    ['a queue chosen at run time', { a: { Type: 'Task', Resource: BATCH_SYNC, Parameters: { 'JobQueue.$': '$.queue', JobDefinition: 'd' }, End: true } },
      /^state "a": JobQueue must be fixed in the definition \(its permission is granted at deploy time\), got "\$\.queue"$/],
    ['an S3 call of unknown permissions', { a: { Type: 'Task', Resource: 'arn:aws:states:::aws-sdk:s3:putBucketPolicy', End: true } },
      /^state "a": S3 call "putBucketPolicy" is not one whose permissions are known/],
  ])('%s is refused with one line naming the state', (_what, states, message) => {
    expect(() => definitionNeeds({ StartAt: 'a', States: states })).toThrow(message);
  });
});

describe('CompileStandIns: CDK tokens out of the compiler and back', () => {
  const stack = emptyStack();
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });

  test('a token gets a stand-in of the right shape, the same in every synth of the same resource; literals pass unchanged', () => {
    const standIns = new CompileStandIns(stack);
    const standIn = standIns.roleArn(role.roleArn);
    expect(standIn).toMatch(/^arn:aws:iam::123456789012:role\/mfcdkstandin[a-p]{12}$/);
    expect(standIns.bucketName(Stack.of(stack).stackName)).toBe('Test');
    expect(standIns.jobQueue('arn:aws:batch:us-east-1:123456789012:job-queue/q')).toBe('arn:aws:batch:us-east-1:123456789012:job-queue/q');
    // Another app, another token number, the same resource: the same stand-in (so job definition names are stable).
    const again = emptyStack();
    new iam.Role(again, 'Other', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    const sameRole = new iam.Role(again, 'Role', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    expect(sameRole.roleArn).not.toBe(role.roleArn);
    expect(new CompileStandIns(again).roleArn(sameRole.roleArn)).toBe(standIn);
  });

  test('restore puts the tokens back everywhere, inside longer strings too; leftovers finds what cannot be put back', () => {
    const standIns = new CompileStandIns(stack);
    const arn = standIns.roleArn(role.roleArn);
    const bucket = standIns.bucketName(role.roleName);
    const restored = standIns.restore({ a: [arn, `s3://${bucket}/metaflow`], b: 7 });
    expect(restored).toEqual({ a: [role.roleArn, `s3://${role.roleName}/metaflow`], b: 7 });
    expect(standIns.leftovers(restored)).toEqual([]);
    const cut = arn.split('/')[1];
    expect(standIns.leftovers(standIns.restore({ name: cut }))).toEqual([cut]);
  });
});

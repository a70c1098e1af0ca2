import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { GpuImageType } from '../../lib/compute/environment-options';
import { parseInstanceTypes } from '../../lib/compute/instance-types';
import { MetaflowBatchCompute, MetaflowBatchComputeProps } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowJobQueue } from '../../lib/compute/metaflow-job-queue';
import { resourcesOf, stackWithVpcAndDatastore } from '../support/synth';

type Props = Omit<MetaflowBatchComputeProps, 'vpc' | 'datastore'>;

function build(props: Props = {}): { stack: Stack; compute: MetaflowBatchCompute; template: Template; vpc: ec2.Vpc } {
  const { stack, vpc, datastore } = stackWithVpcAndDatastore();
  const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, ...props });
  return { stack, compute, template: Template.fromStack(stack), vpc };
}

/** Compute environments by the construct id they were created under. */
function environments(template: Template): Record<string, Record<string, any>> {
  const result: Record<string, Record<string, any>> = {};
  for (const [id, ce] of resourcesOf(template, 'AWS::Batch::ComputeEnvironment')) {
    const name = /^Compute(\w+Environment)/.exec(id)![1];
    result[name] = ce.Properties;
  }
  return result;
}

/** Job queues by construct id, with their environments (by construct id) in order. */
function queues(template: Template): Record<string, { order: string[]; props: Record<string, any> }> {
  const result: Record<string, { order: string[]; props: Record<string, any> }> = {};
  for (const [id, q] of resourcesOf(template, 'AWS::Batch::JobQueue')) {
    const name = /^Compute(\w+Queue)/.exec(id)![1];
    const order = (q.Properties.ComputeEnvironmentOrder as any[])
      .sort((a, b) => a.Order - b.Order)
      .map((o) => /^Compute(\w+Environment)/.exec(o.ComputeEnvironment['Fn::GetAtt'][0])![1]);
    result[name] = { order, props: q.Properties };
  }
  return result;
}

describe('MetaflowBatchCompute defaults', () => {
  const { template, compute, stack } = build();
  const envs = environments(template);

  test('Spot, on-demand and GPU environments; no Fargate', () => {
    expect(Object.keys(envs).sort()).toEqual(['GpuEnvironment', 'OnDemandEnvironment', 'SpotEnvironment']);
    expect(compute.fargateQueue).toBeUndefined();
    expect(compute.fargateExecutionRole).toBeUndefined();
  });

  test.each(['SpotEnvironment', 'OnDemandEnvironment', 'GpuEnvironment'])('%s scales to zero, is managed, uses the launch template and one security group', (name) => {
    const resources = envs[name].ComputeResources;
    expect(envs[name].Type).toBe('managed');
    expect(resources.MinvCpus).toBe(0);
    // The version is pinned to the template's latest number, so a template change updates the environment.
    expect(resources.LaunchTemplate).toEqual({
      LaunchTemplateId: { Ref: expect.stringMatching(/^ComputeLaunchTemplate/) },
      Version: { 'Fn::GetAtt': [resources.LaunchTemplate.LaunchTemplateId.Ref, 'LatestVersionNumber'] },
    });
    expect(resources.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^ComputeSecurityGroup/), 'GroupId'] }]);
    expect(resources.UpdateToLatestImageVersion).toBe(true);
    expect(resources.InstanceRole).toEqual({ 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^Compute${name}InstanceProfile`)), 'Arn'] });
  });

  test('CPU environments: Spot price-capacity-optimized, on-demand best-fit-progressive, default_x86_64, 256 vCPUs', () => {
    expect(envs.SpotEnvironment.ComputeResources).toMatchObject({ Type: 'SPOT', AllocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED', MaxvCpus: 256, InstanceTypes: ['default_x86_64'] });
    expect(envs.OnDemandEnvironment.ComputeResources).toMatchObject({ Type: 'EC2', AllocationStrategy: 'BEST_FIT_PROGRESSIVE', MaxvCpus: 256, InstanceTypes: ['default_x86_64'] });
  });

  test('GPU environment: NVIDIA AL2023 AMI, g4dn/g5/g6, 64 vCPUs, on-demand', () => {
    expect(envs.GpuEnvironment.ComputeResources).toMatchObject({
      Type: 'EC2',
      MaxvCpus: 64,
      InstanceTypes: ['g4dn', 'g5', 'g6'],
      Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }],
    });
  });

  test('compute runs in the private subnets', () => {
    const subnets = envs.SpotEnvironment.ComputeResources.Subnets.map((s: any) => s.Ref);
    expect(subnets).toEqual([expect.stringMatching(/^VpcPrivateSubnet1/), expect.stringMatching(/^VpcPrivateSubnet2/)]);
  });

  test('launch template: encrypted 100 GiB gp3 root volume, IMDSv2 required, hop limit 2', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: {
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { VolumeSize: 100, VolumeType: 'gp3', Encrypted: true, DeleteOnTermination: true } }],
        MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      },
    });
  });

  test('queues: default = Spot then on-demand; gpu = GPU', () => {
    const q = queues(template);
    expect(Object.keys(q).sort()).toEqual(['DefaultQueue', 'GpuQueue']);
    expect(q.DefaultQueue.order).toEqual(['SpotEnvironment', 'OnDemandEnvironment']);
    expect(q.GpuQueue.order).toEqual(['GpuEnvironment']);
  });

  test('queues cancel jobs no environment can ever run after 30 minutes RUNNABLE', () => {
    for (const q of Object.values(queues(template))) {
      expect(q.props.JobStateTimeLimitActions).toEqual([
        { Action: 'CANCEL', MaxTimeSeconds: 1800, Reason: 'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT', State: 'RUNNABLE' },
        { Action: 'CANCEL', MaxTimeSeconds: 1800, Reason: 'MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE', State: 'RUNNABLE' },
      ]);
    }
  });

  test('security group: no ingress, all egress', () => {
    const [, sg] = resourcesOf(template, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('ComputeSecurityGroup'))!;
    expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
    expect(sg.Properties.SecurityGroupEgress).toEqual([{ CidrIp: '0.0.0.0/0', Description: 'Allow all outbound traffic by default', IpProtocol: '-1' }]);
  });

  test('job role: trusted by ecs-tasks, datastore roots and job log streams only', () => {
    const [jobRoleId] = resourcesOf(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('ComputeRolesJobRole'))!;
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ecs-tasks.amazonaws.com' } }] },
    });
    const [, policy] = resourcesOf(template, 'AWS::IAM::Policy').find(([, p]) => p.Properties.Roles[0].Ref === jobRoleId)!;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    const actions = statements.flatMap((s) => [s.Action].flat()).sort();
    expect(actions).toEqual([
      'logs:CreateLogStream', 'logs:PutLogEvents',
      's3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetBucketLocation', 's3:GetObject', 's3:GetObjectAttributes',
      's3:GetObjectVersion', 's3:ListBucket', 's3:ListMultipartUploadParts', 's3:PutObject',
    ]);
    const logs = statements.find((s) => [s.Action].flat().includes('logs:PutLogEvents'));
    expect(JSON.stringify(logs.Resource)).toContain(':log-group:/aws/batch/job:log-stream:*');
  });

  test('instance role: trusted by EC2, only the ECS agent\'s actions on scoped resources (no managed policy); fails if it widens', () => {
    const [[roleId, role]] = resourcesOf(template, 'AWS::IAM::Role').filter(([id]) => id.startsWith('ComputeRolesInstanceRole'));
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' } }]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = resourcesOf(template, 'AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    // Every action the role may take, with the resources it may take it on ("<account>"/"<region>"
    // for the pseudo parameters): anything added here widens what a job reaches through its host.
    const flat = (v: any): string => typeof v === 'string' ? v : v['Fn::Join'] ? v['Fn::Join'][1].map(flat).join('') : v.Ref ? `<${v.Ref.replace('AWS::', '')}>` : JSON.stringify(v);
    const grants = Object.fromEntries(statements.flatMap((st: any) => [st.Action].flat().map((action: string) => [action, [st.Resource].flat().map(flat).sort()])));
    expect(grants).toEqual({
      'ecs:RegisterContainerInstance': ['arn:<Partition>:ecs:<Region>:<AccountId>:cluster/*'],
      'ecs:DeregisterContainerInstance': ['arn:<Partition>:ecs:<Region>:<AccountId>:cluster/*'],
      'ecs:UpdateContainerInstancesState': ['arn:<Partition>:ecs:<Region>:<AccountId>:cluster/*'],
      'ecs:Submit*': ['arn:<Partition>:ecs:<Region>:<AccountId>:cluster/*'],
      'ecs:Poll': ['arn:<Partition>:ecs:<Region>:<AccountId>:container-instance/*'],
      'ecs:StartTelemetrySession': ['arn:<Partition>:ecs:<Region>:<AccountId>:container-instance/*'],
      'ecs:TagResource': ['arn:<Partition>:ecs:<Region>:<AccountId>:cluster/*', 'arn:<Partition>:ecs:<Region>:<AccountId>:container-instance/*'],
      'ecs:DiscoverPollEndpoint': ['*'],
      'ecr:GetAuthorizationToken': ['*'],
      'ecr:BatchCheckLayerAvailability': ['arn:<Partition>:ecr:<Region>:<AccountId>:repository/*'],
      'ecr:GetDownloadUrlForLayer': ['arn:<Partition>:ecr:<Region>:<AccountId>:repository/*'],
      'ecr:BatchGetImage': ['arn:<Partition>:ecr:<Region>:<AccountId>:repository/*'],
      'logs:CreateLogStream': ['arn:<Partition>:logs:<Region>:<AccountId>:log-group:/aws/batch/job:log-stream:*'],
      'logs:PutLogEvents': ['arn:<Partition>:logs:<Region>:<AccountId>:log-group:/aws/batch/job:log-stream:*'],
    });
    const tagging = statements.find((st: any) => st.Action === 'ecs:TagResource');
    expect(tagging.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': ['RegisterContainerInstance'] } });
    expect(stack.resolve(compute.instanceRole.roleArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeRolesInstanceRole/), 'Arn'] });
  });

  test('no compute environment uses a custom service role (the Batch service-linked role is used)', () => {
    for (const env of Object.values(envs)) expect(env.ServiceRole).toBeUndefined();
  });
});

describe('MetaflowBatchCompute options', () => {
  test('Fargate on: Fargate Spot then Fargate in their own queue, execution role created', () => {
    const { template, compute } = build({ fargate: { enabled: true, maxvCpus: 64 } });
    const envs = environments(template);
    expect(envs.FargateSpotEnvironment.ComputeResources).toMatchObject({ Type: 'FARGATE_SPOT', MaxvCpus: 64 });
    expect(envs.FargateEnvironment.ComputeResources).toMatchObject({ Type: 'FARGATE', MaxvCpus: 64 });
    expect(envs.FargateEnvironment.ComputeResources.MinvCpus).toBeUndefined();
    expect(queues(template).FargateQueue.order).toEqual(['FargateSpotEnvironment', 'FargateEnvironment']);
    expect(compute.fargateExecutionRole).toBeDefined();
    const [, role] = resourcesOf(template, 'AWS::IAM::Role').find(([id]) => id.startsWith('ComputeRolesFargateExecutionRole'))!;
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'ecs-tasks.amazonaws.com' });
  });

  test('Fargate without Spot; EC2 off: the default queue is the Fargate queue', () => {
    const { template, compute } = build({ fargate: { enabled: true, spot: false }, spot: { enabled: false }, onDemand: { enabled: false }, gpu: { enabled: false } });
    expect(Object.keys(environments(template))).toEqual(['FargateEnvironment']);
    expect(compute.defaultQueue).toBe(compute.fargateQueue);
    template.resourceCountIs('AWS::EC2::LaunchTemplate', 0);
  });

  test('Spot off: the default queue holds only on-demand', () => {
    const { template } = build({ spot: { enabled: false } });
    expect(queues(template).DefaultQueue.order).toEqual(['OnDemandEnvironment']);
  });

  test('GPU off: no GPU environment or queue', () => {
    const { template, compute } = build({ gpu: { enabled: false } });
    expect(Object.keys(environments(template))).not.toContain('GpuEnvironment');
    expect(compute.gpuQueue).toBeUndefined();
  });

  test('GPU Spot goes in front of on-demand GPU; custom GPU types', () => {
    const { template } = build({ gpu: { spot: true, imageType: GpuImageType.AL2023_NVIDIA, instanceTypes: ['g5.2xlarge', 'p4d'] } });
    const envs = environments(template);
    expect(queues(template).GpuQueue.order).toEqual(['GpuSpotEnvironment', 'GpuEnvironment']);
    expect(envs.GpuSpotEnvironment.ComputeResources).toMatchObject({ Type: 'SPOT', AllocationStrategy: 'SPOT_PRICE_CAPACITY_OPTIMIZED', Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }] });
    expect(envs.GpuEnvironment.ComputeResources.InstanceTypes).toEqual(['g5.2xlarge', 'p4d']);
  });

  test('custom CPU instance types, min/max vCPUs, root volume and runnable timeout', () => {
    const { template } = build({
      onDemand: { instanceTypes: ['m6i', 'c6i.2xlarge'], minvCpus: 4, maxvCpus: 32 },
      spot: { instanceTypes: ['m6i', 'r6i'], maxvCpus: 512 },
      rootVolumeSizeGiB: 500,
      runnableTimeout: Duration.hours(2),
    });
    const envs = environments(template);
    expect(envs.OnDemandEnvironment.ComputeResources).toMatchObject({ MinvCpus: 4, MaxvCpus: 32, InstanceTypes: ['c6i.2xlarge', 'm6i'] });
    expect(envs.SpotEnvironment.ComputeResources).toMatchObject({ MinvCpus: 0, MaxvCpus: 512, InstanceTypes: ['m6i', 'r6i'] });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: { BlockDeviceMappings: [{ Ebs: { VolumeSize: 500 } }] } });
    expect(queues(template).DefaultQueue.props.JobStateTimeLimitActions[0].MaxTimeSeconds).toBe(7200);
  });

  test('capacity timeout (off by default) cancels jobs RUNNABLE on CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY in every queue', () => {
    const insufficient = (q: { props: Record<string, any> }) => (q.props.JobStateTimeLimitActions as any[])
      .filter((a) => a.Reason === 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY');
    for (const q of Object.values(queues(build().template))) expect(insufficient(q)).toEqual([]);
    const withTimeout = queues(build({ capacityTimeout: Duration.minutes(45), fargate: { enabled: true } }).template);
    expect(Object.keys(withTimeout).sort()).toEqual(['DefaultQueue', 'FargateQueue', 'GpuQueue']);
    for (const q of Object.values(withTimeout)) {
      expect(insufficient(q)).toEqual([{ Action: 'CANCEL', MaxTimeSeconds: 2700, Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY', State: 'RUNNABLE' }]);
    }
  });

  test('existing roles and security group are used instead of creating them', () => {
    const { stack, vpc, datastore } = stackWithVpcAndDatastore();
    const jobRole = new iam.Role(stack, 'MyJobRole', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
    const instanceRole = iam.Role.fromRoleArn(stack, 'MyInstanceRole', 'arn:aws:iam::123456789012:role/hosts');
    const securityGroup = ec2.SecurityGroup.fromSecurityGroupId(stack, 'MySg', 'sg-0123456789abcdef0');
    const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, jobRole, instanceRole, securityGroup, gpu: { enabled: false } });
    const template = Template.fromStack(stack);
    expect(compute.jobRole).toBe(jobRole);
    const ownRoles = resourcesOf(template, 'AWS::IAM::Role').map(([id]) => id).filter((id) => !id.startsWith('CustomVpc'));
    expect(ownRoles).toEqual([expect.stringMatching(/^MyJobRole/)]);
    expect(environments(template).SpotEnvironment.ComputeResources.SecurityGroupIds).toEqual(['sg-0123456789abcdef0']);
    // the given job role still gets datastore access
    const [, policy] = resourcesOf(template, 'AWS::IAM::Policy')[0];
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('s3:PutObject');
  });

  test('a permissions boundary applies to every role the construct creates', () => {
    const { stack, vpc, datastore } = stackWithVpcAndDatastore();
    const boundary = iam.ManagedPolicy.fromManagedPolicyArn(stack, 'Boundary', 'arn:aws:iam::123456789012:policy/Boundary');
    new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, fargate: { enabled: true }, permissionsBoundary: boundary });
    const roles = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Role').filter(([id]) => id.startsWith('Compute'));
    expect(roles.length).toBe(3);
    for (const [, role] of roles) expect(role.Properties.PermissionsBoundary).toBe('arn:aws:iam::123456789012:policy/Boundary');
  });

  test('grantSubmitJobs: submit to these queues and metaflow_* job definitions, pass the job roles to Batch (RegisterJobDefinition)', () => {
    const { stack, vpc, datastore } = stackWithVpcAndDatastore();
    const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, fargate: { enabled: true } });
    const runner = new iam.Role(stack, 'Runner', { assumedBy: new iam.AccountRootPrincipal() });
    expect(compute.grantSubmitJobs(runner).success).toBe(true);
    const [, policy] = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Policy').find(([, p]) => p.Properties.Roles[0].Ref.startsWith('Runner'))!;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    const submit = statements.find((s) => s.Action === 'batch:SubmitJob');
    expect(submit.Resource).toHaveLength(4);
    expect(JSON.stringify(submit.Resource)).toContain(':job-definition/metaflow_*');
    const passRole = statements.find((s) => s.Action === 'iam:PassRole');
    // RegisterJobDefinition passes jobRoleArn/executionRoleArn to AWS Batch: a condition naming only
    // ecs-tasks.amazonaws.com (the old one) refuses it.
    expect(passRole.Condition).toEqual({ StringEquals: { 'iam:PassedToService': ['batch.amazonaws.com', 'ecs-tasks.amazonaws.com'] } });
    expect(passRole.Resource).toHaveLength(2);
    const describe = statements.find((s) => [s.Action].flat().includes('batch:DescribeJobs'));
    expect(describe.Resource).toBe('*');
    const register = statements.find((s) => [s.Action].flat().includes('batch:RegisterJobDefinition'));
    expect(register.Resource).toEqual({ 'Fn::Join': ['', expect.arrayContaining([':job-definition/metaflow_*'])] });
  });

  test('grantRunJobs: submit, tag, cancel and describe jobs — no RegisterJobDefinition, no iam:PassRole', () => {
    const { stack, vpc, datastore } = stackWithVpcAndDatastore();
    const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, fargate: { enabled: true } });
    const machine = new iam.Role(stack, 'Machine', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    expect(compute.grantRunJobs(machine).success).toBe(true);
    const [, policy] = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Policy').find(([, p]) => p.Properties.Roles[0].Ref.startsWith('Machine'))!;
    const actions = (policy.Properties.PolicyDocument.Statement as any[]).flatMap((s) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['batch:SubmitJob', 'batch:TagResource', 'batch:TerminateJob', 'batch:DescribeJobs']));
    expect(actions).not.toContain('batch:RegisterJobDefinition');
    expect(actions).not.toContain('iam:PassRole');
  });

  test('fromAttributes imports queues and roles', () => {
    const { stack } = stackWithVpcAndDatastore();
    const imported = MetaflowBatchCompute.fromAttributes(stack, 'Imported', {
      defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
      gpuQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/gpu',
      jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    });
    expect(imported.jobQueues.map((q) => q.jobQueueArn)).toEqual([
      'arn:aws:batch:us-east-1:123456789012:job-queue/default', 'arn:aws:batch:us-east-1:123456789012:job-queue/gpu',
    ]);
    expect(imported.fargateQueue).toBeUndefined();
    expect(imported.jobRole.roleArn).toBe('arn:aws:iam::123456789012:role/job');
  });
});

describe('MetaflowBatchCompute bad input names the construct and the value', () => {
  test.each<[string, Props, RegExp]>([
    ['min > max vCPUs', { onDemand: { minvCpus: 64, maxvCpus: 8 } }, /Test\/Compute: onDemand.minvCpus must be at most onDemand.maxvCpus \(8\), got 64/],
    ['zero max vCPUs', { spot: { maxvCpus: 0 } }, /Test\/Compute: spot.maxvCpus must be a positive integer, got 0/],
    ['negative max vCPUs', { gpu: { maxvCpus: -4 } }, /gpu.maxvCpus must be a positive integer, got -4/],
    ['fractional max vCPUs', { onDemand: { maxvCpus: 2.5 } }, /onDemand.maxvCpus must be an integer from 1 to 100000, got 2.5/],
    ['negative min vCPUs', { onDemand: { minvCpus: -1 } }, /onDemand.minvCpus must be an integer from 0 to 100000, got -1/],
    ['root volume too small', { rootVolumeSizeGiB: 8 }, /Test\/Compute\/LaunchTemplate: rootVolumeSizeGiB must be an integer from 30 to 16384, got 8/],
    ['root volume too large', { rootVolumeSizeGiB: 20000 }, /rootVolumeSizeGiB must be an integer from 30 to 16384, got 20000/],
    ['GPU environment with CPU types', { gpu: { instanceTypes: ['g5.xlarge', 'm5.large', 'c6i'] } }, /Test\/Compute: gpu.instanceTypes must be NVIDIA GPU instance types or families .*got \["m5.large","c6i"\]/],
    ['GPU environment with AMD GPUs', { gpu: { instanceTypes: ['g4ad.xlarge'] } }, /gpu.instanceTypes must be NVIDIA GPU .*got \["g4ad.xlarge"\]/],
    ['malformed instance type', { onDemand: { instanceTypes: ['M5 Large'] } }, /onDemand.instanceTypes must be an instance type \("m6i.large"\) or family \("m6i"\), got "M5 Large"/],
    ['instance type with a size EC2 does not have', { onDemand: { instanceTypes: ['m6i', 'm5.foo'] } }, /onDemand.instanceTypes must be an instance type \("m6i.large"\) or family \("m6i"\), got "m5.foo"/],
    ['empty instance types', { spot: { instanceTypes: [] } }, /spot.instanceTypes must be a non-empty list/],
    ['EC2 option on Fargate', { fargate: { enabled: true, instanceTypes: ['m5'] } as never }, /Test\/Compute: fargate.instanceTypes must be left unset: it applies only to EC2 environments \(onDemand, spot, gpu\), not Fargate, got \["m5"\]/],
    ['minvCpus on Fargate', { fargate: { enabled: true, minvCpus: 2 } as never }, /fargate.minvCpus must be left unset: it applies only to EC2 environments/],
    ['Fargate option on an EC2 environment', { onDemand: { spot: true } as never }, /Test\/Compute: onDemand.spot must be left unset: onDemand is an EC2 on-demand environment \(Spot Fargate is fargate.spot\), got true/],
    ['unknown option', { spot: { bidPercentage: 50 } as never }, /spot.bidPercentage must be left unset: spot accepts only enabled, maxvCpus, minvCpus, instanceTypes, got 50/],
    ['no environment for the default queue', { spot: { enabled: false }, onDemand: { enabled: false } }, /must be true for at least one of them/],
    ['GPU Spot with GPU off', { gpu: { enabled: false, spot: true } }, /gpu.spot must be left unset when gpu.enabled is false/],
    ['unknown GPU image', { gpu: { imageType: 'ECS_AL1' as GpuImageType } }, /gpu.imageType must be one of ECS_AL2023_NVIDIA, got "ECS_AL1"/],
    ['retired AL2 GPU image', { gpu: { imageType: 'ECS_AL2_NVIDIA' as GpuImageType } }, /Test\/Compute: gpu.imageType must be GpuImageType.AL2023_NVIDIA: AWS Batch no longer creates ECS compute environments on Amazon Linux 2 AMIs \(since 2026-06-30\).*got "ECS_AL2_NVIDIA"/],
    ['p3 on the AL2023 NVIDIA AMI', { gpu: { instanceTypes: ['g5', 'p3.2xlarge', 'p3dn'] } }, /Test\/Compute: gpu.instanceTypes must be GPU instance families the ECS_AL2023_NVIDIA AMI supports \(not p3, p3dn; .*got \["p3.2xlarge","p3dn"\]/],
    ['capacity timeout below 10 minutes', { capacityTimeout: Duration.minutes(9) }, /Test\/Compute: capacityTimeout must be from 10 minutes to 24 hours, got "9 minutes"/],
    ['runnable timeout below 10 minutes', { runnableTimeout: Duration.minutes(5) }, /Test\/Compute: runnableTimeout must be from 10 minutes to 24 hours, got "5 minutes"/],
    ['runnable timeout above 24 hours', { runnableTimeout: Duration.hours(25) }, /runnableTimeout must be from 10 minutes to 24 hours, got "1500 minutes"/],
    ['root volume without EC2', { spot: { enabled: false }, onDemand: { enabled: false }, gpu: { enabled: false }, fargate: { enabled: true }, rootVolumeSizeGiB: 200 }, /rootVolumeSizeGiB must be left unset when no EC2 environment is enabled, got 200/],
  ])('%s', (_name, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});

test('instance types: every size shape EC2 uses is accepted, families stay families', () => {
  const sizes = ['t3.nano', 't3.micro', 't3.small', 'r8gd.medium', 'm5.large', 'm6i.xlarge', 'c7i-flex.2xlarge',
    'p6-b200.48xlarge', 'u7i-12tb.224xlarge', 'm7i.metal-24xl', 'c5.metal'];
  const parsed = parseInstanceTypes(new Stack(), 'instanceTypes', [...sizes, 'm6i', 'default_x86_64']);
  expect(parsed.instanceTypes.map(String)).toEqual(sizes);
  expect(parsed.instanceClasses).toEqual(['m6i', 'default_x86_64']);
  for (const typo of ['m5.lrage', 'm5.foo', 'm5.xlarg', 'm5.0xlarge', 'm5.metal-x']) {
    expect(() => parseInstanceTypes(new Stack(), 'instanceTypes', [typo])).toThrow(`got "${typo}"`);
  }
});

describe('MetaflowJobQueue', () => {
  function environmentsIn(stack: Stack, vpc: ec2.IVpc) {
    const ec2Env = (id: string) => new batch.ManagedEc2EcsComputeEnvironment(stack, id, { vpc, instanceClasses: [ec2.InstanceClass.M6I] });
    const fargateEnv = (id: string) => new batch.FargateComputeEnvironment(stack, id, { vpc });
    return { ec2Env, fargateEnv };
  }

  test('rejects a queue that mixes Fargate and EC2 environments', () => {
    const { stack, vpc } = stackWithVpcAndDatastore();
    const { ec2Env, fargateEnv } = environmentsIn(stack, vpc);
    expect(() => new MetaflowJobQueue(stack, 'Mixed', { computeEnvironments: [ec2Env('A'), fargateEnv('B')] }))
      .toThrow(/Test\/Mixed: computeEnvironments must be all Fargate or all EC2 environments .*got \["Test\/A \(EC2\)","Test\/B \(Fargate\)"\]/);
  });

  test('rejects more than 3 environments, and none', () => {
    const { stack, vpc } = stackWithVpcAndDatastore();
    const { ec2Env } = environmentsIn(stack, vpc);
    expect(() => new MetaflowJobQueue(stack, 'Big', { computeEnvironments: ['A', 'B', 'C', 'D'].map(ec2Env) }))
      .toThrow(/Test\/Big: computeEnvironments must be 1 to 3 compute environments \(an AWS Batch limit\), got \["Test\/A","Test\/B","Test\/C","Test\/D"\]/);
    expect(() => new MetaflowJobQueue(stack, 'Empty', { computeEnvironments: [] })).toThrow(/Test\/Empty: computeEnvironments must be 1 to 3/);
  });

  test('imported environments are classified too (Fargate imports have no instance types)', () => {
    const { stack } = stackWithVpcAndDatastore();
    const importedFargate = batch.FargateComputeEnvironment.fromFargateComputeEnvironmentArn(stack, 'F', 'arn:aws:batch:us-east-1:123456789012:compute-environment/f');
    const importedEc2 = batch.ManagedEc2EcsComputeEnvironment.fromManagedEc2EcsComputeEnvironmentArn(stack, 'E', 'arn:aws:batch:us-east-1:123456789012:compute-environment/e');
    expect(() => new MetaflowJobQueue(stack, 'Mixed', { computeEnvironments: [importedFargate, importedEc2] })).toThrow(/all Fargate or all EC2/);
    expect(new MetaflowJobQueue(stack, 'Fargate', { computeEnvironments: [importedFargate] }).isFargate).toBe(true);
  });

  test('priority must be an integer from 0 to 1000', () => {
    const { stack, vpc } = stackWithVpcAndDatastore();
    const { ec2Env } = environmentsIn(stack, vpc);
    expect(() => new MetaflowJobQueue(stack, 'Q', { computeEnvironments: [ec2Env('A')], priority: -1 })).toThrow(/Test\/Q: priority must be an integer from 0 to 1000, got -1/);
  });
});

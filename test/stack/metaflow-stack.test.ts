import { App } from 'aws-cdk-lib';
import { MetaflowStack } from '../../lib/stack/metaflow-stack';
import { Template } from 'aws-cdk-lib/assertions';
import { ALL_METAFLOW_CONFIG_KEYS, METAFLOW_STACK_OUTPUTS, metaflowOutputId } from '../../core/metaflow-config-keys';
import { CONTEXT_KEYS } from '../../lib/stack/stack-context';
import { profileFromOutputs } from '../../runner/config/profile';
import { appFromContext, resourcesOf, templateFromContext } from '../support/synth';

/** The default stack's template, synthesized once for every test that reads it. */
let defaultTemplateCache: Template | undefined;
function defaultTemplate(): Template {
  defaultTemplateCache ??= templateFromContext();
  return defaultTemplateCache;
}

describe('MetaflowStack outputs form a Metaflow configuration', () => {
  const template = defaultTemplate();
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown; Description: string }>;

  test('one output per key this part determines, named by the shared config-keys module', () => {
    const keys = ['DEFAULT_DATASTORE', 'DATASTORE_SYSROOT_S3', 'DATATOOLS_S3ROOT', 'BATCH_JOB_QUEUE', 'ECS_S3_ACCESS_IAM_ROLE'] as const;
    for (const key of keys) {
      expect(outputs[metaflowOutputId(key)]).toBeDefined();
      expect(outputs[metaflowOutputId(key)].Description).toMatch(new RegExp(`^METAFLOW_${key}: `));
    }
    expect(outputs[metaflowOutputId('ECS_FARGATE_EXECUTION_ROLE')]).toBeUndefined();
    expect(outputs.MetaflowDefaultDatastore.Value).toBe('s3');
  });

  test('values point at the stack resources', () => {
    expect(outputs.MetaflowDatastoreSysrootS3.Value).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^DatastoreBucket/) }, '/metaflow']] });
    expect(outputs.MetaflowDatatoolsS3root.Value).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^DatastoreBucket/) }, '/data']] });
    expect(outputs.MetaflowBatchJobQueue.Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeDefaultQueue/), 'JobQueueArn'] });
    expect(outputs.MetaflowEcsS3AccessIamRole.Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeRolesJobRole/), 'Arn'] });
    expect(outputs[METAFLOW_STACK_OUTPUTS.GPU_JOB_QUEUE_ARN].Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeGpuQueue/), 'JobQueueArn'] });
  });

  test('the whole profile as JSON, in an output and an SSM parameter', () => {
    const json = outputs[METAFLOW_STACK_OUTPUTS.PROFILE_JSON].Value as { 'Fn::Join': [string, unknown[]] };
    const text = json['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : '<token>')).join('');
    expect(JSON.parse(text.replace(/<token>/g, 'X'))).toEqual({
      METAFLOW_DEFAULT_DATASTORE: 's3',
      METAFLOW_DATASTORE_SYSROOT_S3: 's3://X/metaflow',
      METAFLOW_DATATOOLS_S3ROOT: 's3://X/data',
      METAFLOW_DEFAULT_METADATA: 'service',
      METAFLOW_SERVICE_URL: 'https://X.execute-api.X.X/X/',
      METAFLOW_SERVICE_INTERNAL_URL: 'http://X/',
      METAFLOW_BATCH_JOB_QUEUE: 'X',
      METAFLOW_BATCH_JOB_QUEUE_GPU: 'X',
      METAFLOW_ECS_S3_ACCESS_IAM_ROLE: 'X',
      METAFLOW_SFN_IAM_ROLE: 'X',
      METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: 'X',
      METAFLOW_SFN_DYNAMO_DB_TABLE: 'X',
      METAFLOW_SFN_STATE_MACHINE_PREFIX: 'Metaflow',
      METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: 'X',
    });
    expect(text).not.toContain('SERVICE_AUTH_KEY');
    const [, parameter] = resourcesOf(template, 'AWS::SSM::Parameter')[0];
    expect(parameter.Properties.Name).toBe('/metaflow/Metaflow/profile');
    expect(parameter.Properties.Value).toEqual(json);
  });

  test('with Fargate on: the execution role and the Fargate queue are output too', () => {
    const fargate = templateFromContext({ fargate: 'true' }).toJSON().Outputs;
    expect(fargate.MetaflowEcsFargateExecutionRole.Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeRolesFargateExecutionRole/), 'Arn'] });
    expect(fargate[METAFLOW_STACK_OUTPUTS.FARGATE_JOB_QUEUE_ARN]).toBeDefined();
  });

  test('configure reads back every key the stack outputs, and the API key secret', () => {
    const fakeValues = Object.fromEntries(Object.keys(outputs).map((id) => [id, `value-of-${id}`]));
    const read = profileFromOutputs(fakeValues);
    expect(Object.keys(read.profile).sort()).toEqual(ALL_METAFLOW_CONFIG_KEYS.filter((k) => !['SERVICE_AUTH_KEY', 'ECS_FARGATE_EXECUTION_ROLE', 'BATCH_CONTAINER_REGISTRY', 'BATCH_CONTAINER_IMAGE', 'UI_URL', 'BATCH_ASSIGN_PUBLIC_IP', 'BATCH_TEAM_JOB_QUEUE', 'BATCH_TEAM_JOB_QUEUE_GPU', 'BATCH_JOB_LOG_GROUP', 'TEAM'].includes(k)).sort());
    expect(read.missingRequired).toEqual([]);
    expect(read.apiKeySecretArn).toBe(`value-of-${METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN}`);
  });

  test('operator outputs: VPC, compute subnets and security group, bucket name/ARN, API id', () => {
    expect(outputs[METAFLOW_STACK_OUTPUTS.VPC_ID].Value).toEqual({ Ref: expect.stringMatching(/^NetworkVpc/) });
    const subnets = outputs[METAFLOW_STACK_OUTPUTS.COMPUTE_SUBNET_IDS].Value as { 'Fn::Join': [string, Array<{ Ref: string }>] };
    expect(subnets['Fn::Join'][0]).toBe(',');
    expect(subnets['Fn::Join'][1].map((part) => part.Ref)).toEqual([expect.stringMatching(/^NetworkVpccomputeSubnet1/), expect.stringMatching(/^NetworkVpccomputeSubnet2/)]);
    expect(outputs[METAFLOW_STACK_OUTPUTS.COMPUTE_SECURITY_GROUP_ID].Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^ComputeSecurityGroup/), 'GroupId'] });
    expect(outputs[METAFLOW_STACK_OUTPUTS.DATASTORE_BUCKET_NAME].Value).toEqual({ Ref: expect.stringMatching(/^DatastoreBucket/) });
    expect(outputs[METAFLOW_STACK_OUTPUTS.DATASTORE_BUCKET_ARN].Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DatastoreBucket/), 'Arn'] });
    expect(outputs[METAFLOW_STACK_OUTPUTS.API_ID].Value).toEqual({ Ref: expect.stringMatching(/^MetadataServiceApiRestApi/) });
    // Without the UI there is no UI URL and no UI load balancer.
    expect(outputs[metaflowOutputId('UI_URL')]).toBeUndefined();
    expect(outputs[METAFLOW_STACK_OUTPUTS.UI_LOAD_BALANCER_DNS_NAME]).toBeUndefined();
  });

  test('every output id the stack uses is known to the config-keys module', () => {
    const known = new Set<string>([...ALL_METAFLOW_CONFIG_KEYS.map(metaflowOutputId), ...Object.values(METAFLOW_STACK_OUTPUTS)]);
    for (const id of Object.keys(outputs)) expect(known).toContain(id);
  });
});

test('configure reads back every key a stack with every option outputs: UI URL, container image and registry, Fargate role, public IPs', () => {
  const image = '123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:py3.12';
  const registry = '123456789012.dkr.ecr.us-east-1.amazonaws.com';
  const outputs = templateFromContext({
    ui: 'true', uiAllowedCidrs: '10.0.0.0/8', fargate: 'true', batchContainerImage: image, batchContainerRegistry: registry,
    natGateways: '0', computeSubnets: 'public',
  }).toJSON().Outputs as Record<string, { Value: unknown }>;
  expect(outputs[metaflowOutputId('BATCH_CONTAINER_IMAGE')].Value).toBe(image);
  expect(outputs[metaflowOutputId('BATCH_CONTAINER_REGISTRY')].Value).toBe(registry);
  expect(JSON.stringify(outputs[metaflowOutputId('UI_URL')].Value)).toMatch(/UiLoadBalancer/);
  const read = profileFromOutputs(Object.fromEntries(Object.keys(outputs).map((id) => [id, `value-of-${id}`])));
  // Every key but the API key (read from its secret) and a team profile's own keys (`configure --team` takes them from MetaflowTeamsJson) comes back from the outputs.
  const teamProfileKeys = ['TEAM', 'BATCH_TEAM_JOB_QUEUE', 'BATCH_TEAM_JOB_QUEUE_GPU', 'BATCH_JOB_LOG_GROUP'];
  expect(Object.keys(read.profile).sort()).toEqual(ALL_METAFLOW_CONFIG_KEYS.filter((k) => k !== 'SERVICE_AUTH_KEY' && !teamProfileKeys.includes(k)).sort());
  expect(read.profile.UI_URL).toBe(`value-of-${metaflowOutputId('UI_URL')}`);
  expect(outputs[metaflowOutputId('BATCH_ASSIGN_PUBLIC_IP')].Value).toBe('true');
});

test('batchContainerImage / batchContainerRegistry are refused with whitespace', () => {
  // Through -c, the error names the context key; as a stack prop, the construct path and prop.
  expect(() => appFromContext({ batchContainerImage: 'my image' })).toThrow('context key batchContainerImage: expected an image reference or registry host without whitespace (1–1024 characters), got "my image" (set it with -c batchContainerImage=<value>)');
  const app = new App({ context: require('../../cdk.json').context });
  expect(() => new MetaflowStack(app, 'Direct', { batchContainerRegistry: 'my registry' })).toThrow('Direct: batchContainerRegistry must be an image reference or registry host without whitespace (1–1024 characters), got "my registry"');
  expect(() => appFromContext({ batchContainerRegistry: 'my registry' })).toThrow('context key batchContainerRegistry: expected an image reference or registry host without whitespace (1–1024 characters), got "my registry"');
});

test('without the metadata service: no service keys and no API key secret, compute and SFN keys remain', () => {
  const outputs = templateFromContext({ metadataService: 'false' }).toJSON().Outputs as Record<string, unknown>;
  for (const key of ['DEFAULT_METADATA', 'SERVICE_URL', 'SERVICE_INTERNAL_URL'] as const) expect(outputs[metaflowOutputId(key)]).toBeUndefined();
  expect(outputs[METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN]).toBeUndefined();
  expect(outputs[metaflowOutputId('BATCH_JOB_QUEUE')]).toBeDefined();
  expect(outputs[metaflowOutputId('SFN_IAM_ROLE')]).toBeDefined();
});

test('without Step Functions support: no SFN keys', () => {
  const template = templateFromContext({ stepFunctions: 'false' });
  const outputs = template.toJSON().Outputs as Record<string, unknown>;
  for (const key of ['SFN_IAM_ROLE', 'EVENTS_SFN_ACCESS_IAM_ROLE', 'SFN_DYNAMO_DB_TABLE', 'SFN_STATE_MACHINE_PREFIX', 'SFN_EXECUTION_LOG_GROUP_ARN'] as const) {
    expect(outputs[metaflowOutputId(key)]).toBeUndefined();
  }
  template.resourceCountIs('AWS::DynamoDB::Table', 0);
});

describe('the UI in the stack', () => {
  test('internal mode: shares the metadata cluster and database, outputs its URL', () => {
    const template = templateFromContext({ ui: 'true', uiAllowedCidrs: '10.0.0.0/8', uiVersion: 'v1.2.4' });
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    template.resourceCountIs('AWS::ECS::Service', 3);
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal', Type: 'application' });
    expect(template.toJSON().Outputs[metaflowOutputId('UI_URL')]).toBeDefined();
    const ingress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => r.Properties.FromPort === 5433);
    expect(ingress).toHaveLength(2);
    // The UI backend starts only after the migrations have created the schema it reads (a first
    // deploy would otherwise trip its circuit breaker); the static UI needs no database.
    const [migrations] = Object.keys(template.findResources('Custom::MetaflowMigrations'));
    const dependsOn = (prefix: string) => [template.toJSON().Resources[resourcesOf(template, 'AWS::ECS::Service').find(([id]) => id.startsWith(prefix))![0]].DependsOn].flat();
    expect(dependsOn('UiBackend')).toContain(migrations);
    expect(dependsOn('UiStatic')).not.toContain(migrations);
  });

  test('the service and the UI backend run one metadata image: v2.5.1 by default (v2.4.12 has the update_row SQL injection), metadataServiceVersion moves both', () => {
    const images = (context: Record<string, string>) => resourcesOf(templateFromContext({ ui: 'true', uiAllowedCidrs: '10.0.0.0/8', ...context }), 'AWS::ECS::TaskDefinition')
      .flatMap(([, task]) => task.Properties.ContainerDefinitions.map((c: { Image: string }) => c.Image))
      .filter((image: string) => image.startsWith('netflixoss/metaflow_metadata_service:'));
    expect(images({})).toEqual(['netflixoss/metaflow_metadata_service:v2.5.1', 'netflixoss/metaflow_metadata_service:v2.5.1']);
    expect(images({ metadataServiceVersion: 'v2.6.0' })).toEqual(['netflixoss/metaflow_metadata_service:v2.6.0', 'netflixoss/metaflow_metadata_service:v2.6.0']);
  });

  test('cognito mode: a public HTTPS load balancer behind a Cognito login', () => {
    const template = templateFromContext({
      ui: 'true', uiAuth: 'cognito', uiDomainName: 'metaflow.example.com',
      uiCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing' });
    template.resourceCountIs('AWS::Cognito::UserPool', 1);
    const outputs = template.toJSON().Outputs;
    expect(outputs[METAFLOW_STACK_OUTPUTS.UI_LOAD_BALANCER_DNS_NAME].Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^UiLoadBalancer/), 'DNSName'] });
    expect(outputs[metaflowOutputId('UI_URL')].Value).toBe('https://metaflow.example.com');
  });

  test.each([
    [{ ui: 'true' }, 'context key uiAllowedCidrs: required with -c ui=true and uiAuth=internal'],
    [{ ui: 'true', uiAllowedCidrs: '0.0.0.0/0' }, 'context key uiAllowedCidrs: expected a list of restricted CIDRs'],
    [{ ui: 'true', uiAuth: 'cognito', uiDomainName: 'x.example.com' }, 'context key uiCertificateArn: required with -c uiAuth=cognito, got none'],
    [{ ui: 'true', uiAuth: 'internal', uiAllowedCidrs: '10.0.0.0/8', uiDomainName: 'x.example.com' }, 'context keys uiCertificateArn/uiDomainName: need -c uiAuth=cognito'],
    [{ uiAllowedCidrs: '10.0.0.0/8' }, 'context key uiAllowedCidrs: need -c ui=true, got ui=false'],
    [{ ui: 'true', uiAllowedCidrs: '10.0.0.0/8', metadataService: 'false' }, 'context key ui: "true" needs -c metadataService=true, got metadataService=false'],
  ])('bad UI settings %j are refused clearly', (context, message) => {
    expect(() => appFromContext(context as Record<string, string>)).toThrow(message);
  });
});

test('every function that answers CloudFormation runs outside the VPC (the S3 endpoint policy refuses CloudFormation-signed response URLs)', () => {
  // A custom resource's answer is a PUT to a presigned S3 URL signed by CloudFormation, not by
  // this account. From the compute subnets that PUT would go through the S3 gateway endpoint,
  // whose "account" policy admits only this account's principals: the deploy would hang until
  // the custom resource times out. So the handlers that answer (service tokens) stay outside the
  // VPC; the migration function inside it is called by the provider framework, which answers.
  const resources = defaultTemplate().toJSON().Resources as Record<string, any>;
  const tokens = Object.values(resources)
    .filter((r) => r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource')
    .map((r) => r.Properties.ServiceToken['Fn::GetAtt'][0] as string);
  expect(tokens.length).toBeGreaterThanOrEqual(3);
  for (const token of new Set(tokens)) {
    expect({ token, type: resources[token].Type, vpc: resources[token].Properties.VpcConfig }).toEqual({ token, type: 'AWS::Lambda::Function', vpc: undefined });
  }
  const inVpc = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.VpcConfig).map(([id]) => id);
  expect(inVpc).toEqual([expect.stringMatching(/^MetadataServiceMigrationsFunction/)]);
});

describe('removalPolicy=destroy lets a failed or test stack be deleted', () => {
  const retained = (template: Template) => Object.entries(template.toJSON().Resources as Record<string, any>)
    .filter(([, r]) => r.DeletionPolicy === 'Retain' || r.DeletionPolicy === 'Snapshot' || r.UpdateReplacePolicy === 'Retain' || r.UpdateReplacePolicy === 'Snapshot')
    .map(([id, r]) => `${r.Type} ${id}`);

  test('default: the datastore, the database (snapshot, deletion protection) and the logs are kept', () => {
    const template = defaultTemplate();
    const kept = retained(template);
    for (const type of ['AWS::S3::Bucket', 'AWS::RDS::DBInstance', 'AWS::Logs::LogGroup', 'AWS::DynamoDB::Table']) {
      expect(kept.some((entry) => entry.startsWith(`${type} `))).toBe(true);
    }
    template.hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: true });
  });

  test('destroy: nothing is retained but the account-level API Gateway logging role; buckets are emptied; the database is unprotected', () => {
    const template = templateFromContext({
      removalPolicy: 'destroy', encryption: 'kms', ui: 'true', uiAllowedCidrs: '10.0.0.0/8',
    });
    expect(retained(template).map((entry) => entry.replace(/ .*/, '')).sort()).toEqual(['AWS::ApiGateway::Account', 'AWS::IAM::Role']);
    template.hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: false });
    const buckets = resourcesOf(template, 'AWS::S3::Bucket').map(([id]) => id).sort();
    const emptied = resourcesOf(template, 'Custom::S3AutoDeleteObjects').map(([, r]) => r.Properties.BucketName.Ref).sort();
    expect(buckets.length).toBeGreaterThan(1);
    expect(emptied).toEqual(buckets);
    for (const [, cognito] of resourcesOf(template, 'AWS::Cognito::UserPool')) expect(cognito.Properties.DeletionProtection).not.toBe('ACTIVE');
  });

  test('an explicit setting still wins over removalPolicy=destroy', () => {
    templateFromContext({ removalPolicy: 'destroy', dbDeletionProtection: 'true' })
      .hasResourceProperties('AWS::RDS::DBInstance', { DeletionProtection: true });
  });
});

describe('context keys (-c key=value) reach the constructs', () => {
  test('network, datastore and compute options', () => {
    const template = templateFromContext({
      stackName: 'Flows', natGateways: '0', computeSubnets: 'public', availabilityZones: 'us-west-2a,us-west-2b,us-west-2c', vpcCidr: '10.8.0.0/16', flowLogs: 'false',
      encryption: 'kms', versioned: 'true', noncurrentVersionExpirationDays: '30', accessLogs: 'false', removalPolicy: 'destroy',
      spot: 'false', onDemandMaxvCpus: '128', minvCpus: '2', instanceTypes: 'm6i, c6i.4xlarge', gpuMaxvCpus: '16', gpuInstanceTypes: 'p4d',
      gpuImageType: 'al2023', capacityTimeoutMinutes: '20', gpuSpot: 'true', fargate: 'true', fargateSpot: 'false', fargateMaxvCpus: '32', rootVolumeGiB: '250',
      runnableTimeoutMinutes: '60', permissionsBoundaryArn: 'arn:aws:iam::123456789012:policy/Boundary',
      metadataServiceVersion: 'v2.6.0', metadataServiceDesiredCount: '2', dbInstanceType: 'db.r7g.large', dbEngineVersion: '16.10',
      dbMultiAz: 'true', dbDeletionProtection: 'false', dbRemovalPolicy: 'destroy', apiRateLimit: '50', apiBurstLimit: '60', stateMachinePrefix: 'team',
    });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 0);
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.8.0.0/16' });
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.hasResourceProperties('AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' } });
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 1);
    const envs = resourcesOf(template, 'AWS::Batch::ComputeEnvironment').map(([id, ce]) => [id.replace(/[A-F0-9]{8}$/, ''), ce.Properties.ComputeResources]);
    expect(Object.fromEntries(envs)).toEqual({
      ComputeOnDemandEnvironment: expect.objectContaining({ MinvCpus: 2, MaxvCpus: 128, InstanceTypes: ['c6i.4xlarge', 'm6i'] }),
      ComputeGpuSpotEnvironment: expect.objectContaining({ MaxvCpus: 16, InstanceTypes: ['p4d'], Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }] }),
      ComputeGpuEnvironment: expect.objectContaining({ MaxvCpus: 16, Type: 'EC2' }),
      ComputeFargateEnvironment: expect.objectContaining({ MaxvCpus: 32, Type: 'FARGATE' }),
    });
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: { BlockDeviceMappings: [{ Ebs: { VolumeSize: 250 } }] } });
    template.hasResourceProperties('AWS::Batch::JobQueue', { JobStateTimeLimitActions: [{ MaxTimeSeconds: 3600 }, { MaxTimeSeconds: 3600 }, { MaxTimeSeconds: 1200, Reason: 'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY' }] });
    template.hasResourceProperties('AWS::RDS::DBInstance', { EngineVersion: '16.10', DBInstanceClass: 'db.r7g.large', MultiAZ: true, DeletionProtection: false });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { ContainerDefinitions: [{ Image: 'netflixoss/metaflow_metadata_service:v2.6.0' }] });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2 });
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 50, BurstLimit: 60 } });
    expect(template.toJSON().Outputs.MetaflowSfnStateMachinePrefix.Value).toBe('team');
    for (const [, role] of resourcesOf(template, 'AWS::IAM::Role')) {
      expect(role.Properties.PermissionsBoundary).toBe('arn:aws:iam::123456789012:policy/Boundary');
    }
  });

  test('stackName names the stack; existingBucketName imports the bucket; kmsKeyArn uses the key', () => {
    const { stack } = appFromContext({ nag: 'false', stackName: 'Team-Flows', existingBucketName: 'team-bucket' });
    expect(stack.stackName).toBe('Team-Flows');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    expect(template.toJSON().Outputs.MetaflowDatastoreSysrootS3.Value).toBe('s3://team-bucket/metaflow');

    const kms = templateFromContext({ encryption: 'kms', kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' });
    kms.resourceCountIs('AWS::KMS::Key', 0);
    kms.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { KMSMasterKeyID: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' } }] },
    });
  });

  test('values from cdk.json may be JSON numbers, booleans and arrays', () => {
    const { stack } = appFromContext({ nag: false as never, natGateways: 2 as never, gpu: false as never, instanceTypes: ['m6i'] as never });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::NatGateway', 2);
    expect(resourcesOf(template, 'AWS::Batch::JobQueue')).toHaveLength(1);
  });

  test.each([
    [{ natGateways: 'abc' }, 'context key natGateways: expected an integer from 0 to 16, got "abc" (set it with -c natGateways=<value>)'],
    [{ natGateways: '-1' }, 'context key natGateways: expected an integer from 0 to 16, got "-1"'],
    [{ maxAzs: '2.5' }, 'context key maxAzs: expected an integer from 2 to 6, got "2.5"'],
    [{ fargate: 'yes' }, 'context key fargate: expected true or false, got "yes"'],
    [{ encryption: 'aes' }, 'context key encryption: expected one of s3, kms, got "aes"'],
    [{ instanceTypes: 'm6i,,c6i' }, 'context key instanceTypes: expected a comma-separated list of non-empty values, got "m6i,,c6i"'],
    [{ rootVolumeGiB: '10' }, 'context key rootVolumeGiB: expected an integer from 30 to 16384, got "10"'],
    [{ runnableTimeoutMinutes: '5' }, 'context key runnableTimeoutMinutes: expected an integer from 10 to 1440, got "5"'],
    [{ stackName: '9lives' }, 'context key stackName: expected a CloudFormation stack name'],
    [{ kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' }, 'context key kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" needs -c encryption=kms (a new bucket) or -c existingBucketName (an existing SSE-KMS bucket), got encryption="s3"'],
    [{ natGateway: '0' }, 'unknown context key natGateway (known keys: stackName, nag,'],
    [{ encryption: 'kms', kmsKeyArn: 'garbage' }, 'context key kmsKeyArn: expected a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got "garbage"'],
    [{ permissionsBoundaryArn: 'Boundary' }, 'context key permissionsBoundaryArn: expected an IAM managed policy ARN'],
    [{ webAclArn: 'acl' }, 'context key webAclArn: expected a regional WAFv2 web ACL ARN'],
    [{ dbEngineVersion: '17.x' }, 'context key dbEngineVersion: expected a PostgreSQL major version like "17" or a full one like "17.9", got "17.x"'],
    [{ dbInstanceType: 'large' }, 'context key dbInstanceType: expected an instance type like "t4g.small", got "large"'],
    [{ dbRemovalPolicy: 'keep' }, 'context key dbRemovalPolicy: expected one of snapshot, retain, destroy, got "keep"'],
    [{ apiBurstLimit: '0' }, 'context key apiBurstLimit: expected an integer from 1 to 5000, got "0"'],
    [{ stateMachinePrefix: 'a b' }, 'context key stateMachinePrefix: expected 1–40 letters'],
    [{ gpuInstanceTypes: 'm5.large' }, 'context key gpuInstanceTypes: expected NVIDIA GPU instance types or families'],
    [{ gpuImageType: 'al2' }, 'context key gpuImageType: expected one of al2023 (AWS Batch no longer creates ECS compute environments on Amazon Linux 2 AMIs (since 2026-06-30)'],
    [{ existingBucketName: 'bucket', versioned: 'true' }, 'context key versioned: expected left unset with existingBucketName "bucket" (they shape a new bucket), got "true"'],
  ])('bad value %j is refused with the key and the value', (context, message) => {
    expect(() => appFromContext(context as Record<string, string>)).toThrow(message);
  });

  test('the README documents every context key', () => {
    const readme = require('node:fs').readFileSync(require('node:path').join(__dirname, '..', '..', 'README.md'), 'utf8') as string;
    for (const spec of CONTEXT_KEYS) expect(readme).toContain(`| \`${spec.key}\` |`);
  });
});

import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import { MetaflowMetadataService, MetaflowMetadataServiceProps } from '../../lib/metadata/metaflow-metadata-service';
import { emptyStack, resourcesOf } from '../support/synth';

type Props = Omit<MetaflowMetadataServiceProps, 'vpc'>;

function build(props: Props = {}, natGateways = 1) {
  const stack = emptyStack();
  const vpc = new ec2.Vpc(stack, 'Vpc', {
    maxAzs: 2,
    natGateways,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC },
      ...(natGateways > 0 ? [{ name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }] : []),
      { name: 'db', subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    ],
  });
  const service = new MetaflowMetadataService(stack, 'Metadata', { vpc, ...props });
  return { stack, service, template: Template.fromStack(stack) };
}

function migrationFunction(template: Template): Record<string, any> {
  return resourcesOf(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('MetadataMigrationsFunction'))![1].Properties;
}

function container(template: Template): Record<string, any> {
  const [, taskDef] = resourcesOf(template, 'AWS::ECS::TaskDefinition')[0];
  return taskDef.Properties.ContainerDefinitions[0];
}

describe('MetaflowMetadataService defaults', () => {
  const { template, service, stack } = build();

  test('ECS cluster with Container Insights', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
  });

  test('Fargate task: pinned image, ports 8080 and 8082, 0.5 vCPU / 1 GiB, logs with retention', () => {
    const c = container(template);
    expect(c.Image).toBe('netflixoss/metaflow_metadata_service:v2.5.1');
    expect(c.PortMappings.map((p: any) => p.ContainerPort)).toEqual([8080, 8082]);
    expect(c.LogConfiguration.LogDriver).toBe('awslogs');
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '512', Memory: '1024', RequiresCompatibilities: ['FARGATE'] });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
  });

  test('database credentials are ECS secrets, never plain environment', () => {
    const c = container(template);
    const env = Object.fromEntries((c.Environment as any[]).map((e) => [e.Name, e.Value]));
    expect(Object.keys(env).sort()).toEqual(['MF_METADATA_DB_HOST', 'MF_METADATA_DB_NAME', 'MF_METADATA_DB_PORT', 'MF_METADATA_DB_SSL_MODE']);
    expect(env.MF_METADATA_DB_SSL_MODE).toBe('require');
    expect(env.MF_METADATA_DB_NAME).toBe('metaflow');
    const secrets = Object.fromEntries((c.Secrets as any[]).map((s) => [s.Name, JSON.stringify(s.ValueFrom)]));
    expect(Object.keys(secrets).sort()).toEqual(['MF_METADATA_DB_PSWD', 'MF_METADATA_DB_USER']);
    expect(secrets.MF_METADATA_DB_PSWD).toMatch(/:password::/);
    expect(secrets.MF_METADATA_DB_USER).toMatch(/:username::/);
  });

  test('service: 1 task, private subnets without public IPs, circuit breaker with rollback', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 1,
      LaunchType: 'FARGATE',
      DeploymentConfiguration: { DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 },
      NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'DISABLED' } },
    });
  });

  test('RDS PostgreSQL: supported version, encrypted, SSL forced, backups, deletion protection, snapshot on delete, isolated', () => {
    const [, db] = resourcesOf(template, 'AWS::RDS::DBInstance')[0];
    expect(db.Properties).toMatchObject({
      Engine: 'postgres', EngineVersion: '17', AutoMinorVersionUpgrade: true, DBInstanceClass: 'db.t4g.small', StorageEncrypted: true, BackupRetentionPeriod: 7,
      DeletionProtection: true, MultiAZ: false, PubliclyAccessible: false, Port: '5433', EnableIAMDatabaseAuthentication: true,
    });
    expect((db as any).DeletionPolicy).toBe('Snapshot');
    // The major alone: cfn-lint's W3691 false positive on bare majors is silenced, nothing else.
    expect((db as any).Metadata['cfn-lint']).toEqual({ config: { ignore_checks: ['W3691'] } });
    template.hasResourceProperties('AWS::RDS::DBParameterGroup', { Parameters: { 'rds.force_ssl': '1' }, Family: 'postgres17' });
    const [, subnets] = resourcesOf(template, 'AWS::RDS::DBSubnetGroup')[0];
    expect(subnets.Properties.SubnetIds.map((s: any) => s.Ref)).toEqual([expect.stringMatching(/^VpcdbSubnet1/), expect.stringMatching(/^VpcdbSubnet2/)]);
  });

  test('the database accepts connections only from the service security group', () => {
    const ingress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').filter(([, r]) => r.Properties.FromPort === 5433);
    expect(ingress).toHaveLength(1);
    expect(ingress[0][1].Properties.SourceSecurityGroupId).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^MetadataServiceSecurityGroup/), 'GroupId'] });
    expect(service.database.port).toBe('5433');
    expect(stack).toBeDefined();
  });

  test('internal NLB: 80 → 8080 and 8082 → 8082, HTTP health checks on /ping', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal', Type: 'network' });
    const listeners = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::Listener').map(([, l]) => l.Properties.Port).sort();
    expect(listeners).toEqual([80, 8082]);
    const groups = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup').map(([, g]) => g.Properties);
    expect(groups.map((g) => g.Port).sort()).toEqual([8080, 8082]);
    for (const g of groups) expect(g).toMatchObject({ HealthCheckProtocol: 'HTTP', HealthCheckPath: '/ping', TargetType: 'ip' });
  });

  test('the NLB has its own group: PrivateLink inbound rules off, client IP preservation off, the service admits only the NLB', () => {
    const [, nlb] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer')[0];
    expect(nlb.Properties.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic).toBe('off');
    const nlbGroup = nlb.Properties.SecurityGroups[0]['Fn::GetAtt'][0];
    expect(nlbGroup).toMatch(/^MetadataLoadBalancerSecurityGroup/);
    for (const [, g] of resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')) {
      expect(g.Properties.TargetGroupAttributes).toContainEqual({ Key: 'preserve_client_ip.enabled', Value: 'false' });
    }
    const [serviceGroupId, serviceGroup] = resourcesOf(template, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('MetadataServiceSecurityGroup'))!;
    expect(serviceGroup.Properties.SecurityGroupIngress).toBeUndefined();
    const ingress = resourcesOf(template, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties)
      .filter((r) => r.GroupId['Fn::GetAtt'][0] === serviceGroupId);
    expect(ingress.map((r) => [r.FromPort, r.SourceSecurityGroupId['Fn::GetAtt'][0]]).sort()).toEqual([[8080, nlbGroup], [8082, nlbGroup]]);
  });

  test('API Gateway: regional, {proxy+} ANY through the VPC link, API key required, validator, access logs', () => {
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    template.resourceCountIs('AWS::ApiGateway::VpcLink', 1);
    const methods = resourcesOf(template, 'AWS::ApiGateway::Method').map(([, m]) => m.Properties);
    expect(methods).toHaveLength(2);
    for (const m of methods) {
      expect(m).toMatchObject({ HttpMethod: 'ANY', ApiKeyRequired: true, Integration: { Type: 'HTTP_PROXY', ConnectionType: 'VPC_LINK' } });
      expect(m.RequestValidatorId).toBeDefined();
    }
    template.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: '{proxy+}' });
    const [, stage] = resourcesOf(template, 'AWS::ApiGateway::Stage')[0];
    expect(stage.Properties.StageName).toBe('api');
    expect(JSON.stringify(stage.Properties.AccessLogSetting.DestinationArn)).toMatch(/MetadataApiAccessLogs/);
  });

  test('the account-level API Gateway CloudWatch role that access logs need is created and retained', () => {
    const [accountId, account] = Object.entries(template.toJSON().Resources as Record<string, any>).find(([, r]) => r.Type === 'AWS::ApiGateway::Account')!;
    expect(account.DeletionPolicy).toBe('Retain');
    const roleId = account.Properties.CloudWatchRoleArn['Fn::GetAtt'][0];
    const role = template.toJSON().Resources[roleId];
    expect(role.DeletionPolicy).toBe('Retain');
    expect(role.Properties.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ Service: 'apigateway.amazonaws.com' });
    expect(JSON.stringify(role.Properties.ManagedPolicyArns)).toContain('service-role/AmazonAPIGatewayPushToCloudWatchLogs');
    // The stage is created after the account setting, so its access logs can be delivered.
    const [stageId] = resourcesOf(template, 'AWS::ApiGateway::Stage')[0];
    expect(template.toJSON().Resources[stageId].DependsOn).toContain(accountId);
    const [, stage] = resourcesOf(template, 'AWS::ApiGateway::Stage')[0];
    expect(stage.Properties.MethodSettings).toEqual([expect.objectContaining({ LoggingLevel: 'ERROR' })]);
  });

  test('API key value comes from a generated secret; usage plan throttles', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { GenerateSecretString: { PasswordLength: 40, ExcludePunctuation: true } });
    const [, key] = resourcesOf(template, 'AWS::ApiGateway::ApiKey')[0];
    expect(JSON.stringify(key.Properties.Value)).toMatch(/\{\{resolve:secretsmanager:/);
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 100, BurstLimit: 200 } });
    template.resourceCountIs('AWS::ApiGateway::UsagePlanKey', 1);
  });

  test('migrations run on deploy: a custom resource after the service, calling the migration port', () => {
    const [id, cr] = resourcesOf(template, 'Custom::MetaflowMigrations')[0];
    expect(JSON.stringify(cr.Properties.MigrationServiceUrl)).toContain(':8082');
    expect(cr.Properties.Trigger).toBe('netflixoss/metaflow_metadata_service:v2.5.1');
    expect(JSON.stringify(template.toJSON().Resources[id].DependsOn)).toMatch(/MetadataService/);
    expect(migrationFunction(template)).toMatchObject({ Runtime: 'nodejs24.x', Timeout: 840, VpcConfig: { SubnetIds: [{ Ref: expect.stringMatching(/^VpcprivateSubnet1/) }, { Ref: expect.stringMatching(/^VpcprivateSubnet2/) }] } });
    expect(service.migrations?.function).toBeDefined();
  });

  test('the migration check runs on every deploy: a property that changes with every synthesis', () => {
    const [, cr] = resourcesOf(template, 'Custom::MetaflowMigrations')[0];
    expect(cr.Properties.DeployedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const later = resourcesOf(build().template, 'Custom::MetaflowMigrations')[0][1];
    expect(later.Properties.DeployedAt).not.toBe(cr.Properties.DeployedAt);
  });

  test('a schema version change rolls the service: ECS UpdateService forceNewDeployment, scoped to this service', () => {
    const resources = template.toJSON().Resources as Record<string, any>;
    const [migrationsId] = resourcesOf(template, 'Custom::MetaflowMigrations')[0];
    const [rollId, roll] = resourcesOf(template, 'Custom::AWS')[0];
    expect(roll.Properties.SchemaVersion).toEqual({ 'Fn::GetAtt': [migrationsId, 'SchemaVersionAfter'] });
    const [serviceId] = resourcesOf(template, 'AWS::ECS::Service')[0];
    for (const phase of ['Create', 'Update']) {
      const call = stack.resolve(roll.Properties[phase]);
      const text = JSON.stringify(call);
      expect(text).toContain('\\"service\\":\\"ECS\\",\\"action\\":\\"updateService\\"');
      expect(text).toContain('forceNewDeployment\\":true');
      expect(text).toContain(serviceId);
    }
    const policyId = resources[rollId].DependsOn.find((id: string) => resources[id].Type === 'AWS::IAM::Policy');
    expect(resources[policyId].Properties.PolicyDocument.Statement).toEqual([{ Action: 'ecs:UpdateService', Effect: 'Allow', Resource: { Ref: serviceId } }]);
  });

  test('urls: SERVICE_URL is the API stage, SERVICE_INTERNAL_URL the NLB', () => {
    expect(JSON.stringify(stack.resolve(service.url))).toContain('.execute-api.');
    expect(stack.resolve(service.internalUrl)).toEqual({ 'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [expect.stringMatching(/^MetadataLoadBalancer/), 'DNSName'] }, '/']] });
  });
});

describe('MetaflowMetadataService options', () => {
  test('no NAT and only public subnets for tasks: tasks there with public IPs, the migration function beside them (it only reaches the NLB)', () => {
    const { template } = build({}, 0);
    template.hasResourceProperties('AWS::ECS::Service', { NetworkConfiguration: { AwsvpcConfiguration: { AssignPublicIp: 'ENABLED' } } });
    expect(migrationFunction(template).VpcConfig.SubnetIds).toEqual([{ Ref: expect.stringMatching(/^VpcpublicSubnet1/) }, { Ref: expect.stringMatching(/^VpcpublicSubnet2/) }]);
  });

  test('version, size, count, database and API options', () => {
    const { template } = build({
      imageVersion: 'v2.5.0', cpu: 1024, memoryMiB: 4096, desiredCount: 2,
      database: { engineVersion: rds.PostgresEngineVersion.VER_16_10, instanceType: new ec2.InstanceType('m7g.large'), multiAz: true, backupRetentionDays: 14, deletionProtection: false, removalPolicy: RemovalPolicy.DESTROY },
      api: { rateLimit: 20, burstLimit: 40, webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/11111111-2222-3333-4444-555555555555' },
    });
    expect(container(template).Image).toBe('netflixoss/metaflow_metadata_service:v2.5.0');
    template.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '1024', Memory: '4096' });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2 });
    template.hasResourceProperties('AWS::RDS::DBInstance', { EngineVersion: '16.10', DBInstanceClass: 'db.m7g.large', MultiAZ: true, BackupRetentionPeriod: 14, DeletionProtection: false });
    // A pinned minor turns automatic minor upgrades off (RDS would move the instance past the
    // template's version), and cfn-lint's deprecation check stays on for it.
    const [, db] = resourcesOf(template, 'AWS::RDS::DBInstance')[0];
    expect(db.Properties.AutoMinorVersionUpgrade).toBe(false);
    expect((db as any).Metadata?.['cfn-lint']).toBeUndefined();
    template.hasResourceProperties('AWS::ApiGateway::UsagePlan', { Throttle: { RateLimit: 20, BurstLimit: 40 } });
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });

  test('cloudWatchRole off: no account setting, access logs stay, no execution logging', () => {
    const { template } = build({ api: { cloudWatchRole: false } });
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const [, stage] = resourcesOf(template, 'AWS::ApiGateway::Stage')[0];
    expect(stage.Properties.AccessLogSetting).toBeDefined();
    expect(stage.Properties.MethodSettings[0].LoggingLevel).toBeUndefined();
  });

  test('migrations can be turned off', () => {
    const { template, service } = build({ runMigrations: false });
    template.resourceCountIs('Custom::MetaflowMigrations', 0);
    expect(service.migrations).toBeUndefined();
  });

  test('desiredCount 0: no migration check (no task would answer it and the deploy would fail), no roll', () => {
    const { template, service } = build({ desiredCount: 0 });
    template.resourceCountIs('Custom::MetaflowMigrations', 0);
    template.resourceCountIs('Custom::AWS', 0);
    expect(service.migrations).toBeUndefined();
  });
});

describe('MetaflowMetadataService bad input', () => {
  test.each<[string, Props, RegExp]>([
    ['a Fargate cpu that does not exist', { cpu: 300 }, /Test\/Metadata: cpu must be Fargate CPU units, one of 256, 512, 1024, 2048, 4096, 8192, 16384, got 300/],
    ['memory outside the cpu range', { cpu: 256, memoryMiB: 4096 }, /Test\/Metadata: memoryMiB must be a memory size Fargate accepts with cpu 256: 512–2048 MiB in steps of 512, got 4096/],
    ['negative desired count', { desiredCount: -1 }, /desiredCount must be an integer from 0 to 100, got -1/],
    ['migrations asked for with no task to run them', { desiredCount: 0, runMigrations: true }, /Test\/Metadata: runMigrations must be false or unset when desiredCount is 0 \(no task would answer the migration check, so the deploy would fail\), got true/],
    ['an image tag with spaces', { imageVersion: 'latest please' }, /imageVersion must be an image tag such as "v2.5.1", got "latest please"/],
    ['backup retention of 0 days', { database: { backupRetentionDays: 0 } }, /Test\/Metadata\/Database: backupRetentionDays must be an integer from 1 to 35, got 0/],
    ['the database in public subnets', { database: { vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC } } }, /vpcSubnets must be isolated or private subnets \(the database is never public\), got "Public"/],
    ['a bad database name', { database: { databaseName: '1db' } }, /databaseName must be a PostgreSQL database name/],
    ['zero rate limit', { api: { rateLimit: 0 } }, /Test\/Metadata\/Api: rateLimit must be a positive number of requests per second, got 0/],
    ['burst too large', { api: { burstLimit: 10000 } }, /burstLimit must be an integer from 1 to 5000, got 10000/],
  ])('%s', (_name, props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { MetaflowUi, MetaflowUiAuth, MetaflowUiProps } from '../../lib/ui';
import { describeWithTool } from '../support/external-tool';
import { resourcesOf } from '../support/synth';
import { CERTIFICATE_ARN, COGNITO, DOMAIN, INTERNAL, synthWithNag, tempOutdir, UiFixture, uiFixture } from './ui-fixture';

type Mode = 'cognito' | 'internal';
const MODES: Mode[] = ['cognito', 'internal'];

/** Build the UI in a fresh fixture, synthesize with cdk-nag on, and read the template back. */
function build(auth: MetaflowUiAuth, props: (f: UiFixture) => Partial<MetaflowUiProps> = () => ({}), natGateways?: number) {
  const outdir = tempOutdir();
  const fixture = uiFixture({ natGateways, outdir });
  const ui = new MetaflowUi(fixture.stack, 'Ui', { ...fixture.baseProps, ...props(fixture), auth });
  const nag = synthWithNag(fixture, outdir);
  const template = nag.error ? Template.fromJSON({ Resources: {} }) : Template.fromJSON(JSON.parse(readFileSync(nag.templatePath, 'utf8')));
  return { fixture, ui, nag, template };
}

type Built = ReturnType<typeof build>;
const built = {} as Record<Mode | 'internalOptions' | 'cognitoOptions' | 'noNat', Built>;

// Five synths (~1 s each), shared by every test below.
beforeAll(() => {
  built.cognito = build(COGNITO());
  built.internal = build(INTERNAL());
  built.internalOptions = build(MetaflowUiAuth.internal({ allowedCidrs: ['10.1.0.0/16', '2001:db8::/32'], port: 8080 }), (f) => ({
    backendImageVersion: 'v2.5.0',
    staticImageVersion: 'v1.2.8',
    backendCpu: 2048,
    backendMemoryMiB: 16384,
    backendEphemeralStorageGiB: 100,
    staticCpu: 512,
    staticMemoryMiB: 1024,
    backendDesiredCount: 2,
    staticDesiredCount: 0,
    backendEnvironment: { FEATURE_ARTIFACT_SEARCH: '1', PREFETCH_RUNS_LIMIT: '10' },
    logRetention: logs.RetentionDays.ONE_MONTH,
    accessLogs: false,
    deletionProtection: true,
    database: { ...f.baseProps.database, port: 5433, name: 'mf', sslMode: 'verify-full' },
  }));
  built.cognitoOptions = build(
    MetaflowUiAuth.cognito({ certificateArn: CERTIFICATE_ARN, domainName: DOMAIN, cognitoDomainPrefix: 'acme-metaflow', allowedCidrs: ['203.0.113.0/24'] }),
    (f) => ({ accessLogsBucket: s3.Bucket.fromBucketName(f.stack, 'GivenLogs', 'my-elb-logs'), accessLogsPrefix: 'lb/ui', removalPolicy: RemovalPolicy.DESTROY }),
  );
  built.noNat = build(INTERNAL(), (f) => ({ vpcSubnets: f.network.computeSubnets, assignPublicIp: undefined }), 0);
});

function container(template: Template, name: 'Backend' | 'Static'): Record<string, any> {
  const [, task] = resourcesOf(template, 'AWS::ECS::TaskDefinition')
    .find(([, t]) => t.Properties.ContainerDefinitions[0].Name === name)!;
  return { ...task.Properties.ContainerDefinitions[0], task: task.Properties };
}

function envOf(def: Record<string, any>): Record<string, unknown> {
  return Object.fromEntries((def.Environment as Array<{ Name: string; Value: unknown }>).map((e) => [e.Name, e.Value]));
}

function targetGroup(template: Template, port: number): [string, Record<string, any>] {
  const [id, tg] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup').find(([, t]) => t.Properties.Port === port)!;
  return [id, tg.Properties];
}

function ingressOf(template: Template, groupPrefix: string): Array<Record<string, unknown>> {
  const [, sg] = resourcesOf(template, 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith(groupPrefix))!;
  return sg.Properties.SecurityGroupIngress ?? [];
}

function expectLoadBalancer(template: Template, scheme: string, subnets: RegExp): void {
  const [[, lb]] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
  expect(lb.Properties.Scheme).toBe(scheme);
  for (const subnet of lb.Properties.Subnets) expect(subnet.Ref).toMatch(subnets);
}

function lbAttributes(template: Template): Record<string, unknown> {
  const [[, lb]] = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
  return Object.fromEntries((lb.Properties.LoadBalancerAttributes as Array<{ Key: string; Value: unknown }>).map((a) => [a.Key, a.Value]));
}

describe.each(MODES)('%s mode, defaults', (mode) => {
  const t = () => built[mode].template;

  test('the backend runs the pinned metadata service image with the UI server command on 8083', () => {
    const backend = container(t(), 'Backend');
    expect(backend.Image).toBe('netflixoss/metaflow_metadata_service:v2.5.1');
    expect(backend.Command).toEqual(['/opt/latest/bin/python3', '-m', 'services.ui_backend_service.ui_server']);
    expect(backend.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 8083 })]);
    expect(backend.task).toMatchObject({ Cpu: '1024', Memory: '4096', RequiresCompatibilities: ['FARGATE'], NetworkMode: 'awsvpc' });
    expect(backend.task.EphemeralStorage).toBeUndefined();
  });

  test('the backend gets the DB settings as env and the DB user/password only as ECS secrets', () => {
    const backend = container(t(), 'Backend');
    const env = envOf(backend);
    expect(env).toMatchObject({
      MF_METADATA_DB_HOST: 'metaflow-db.abcdefghijkl.us-east-1.rds.amazonaws.com',
      MF_METADATA_DB_PORT: '5432',
      MF_METADATA_DB_NAME: 'metaflow',
      MF_METADATA_DB_SSL_MODE: 'require',
      PATH_PREFIX: '/api/',
      MF_UI_METADATA_PORT: '8083',
      UI_ENABLED: '0',
      METAFLOW_DEFAULT_DATASTORE: 's3',
      METAFLOW_DEFAULT_METADATA: 'service',
      METAFLOW_SERVICE_URL: 'http://localhost:8083/api/metadata',
    });
    const root = { 'Fn::Join': ['', ['s3://', { Ref: expect.stringMatching(/^DatastoreBucket/) }, '/metaflow']] };
    expect(env.METAFLOW_DATASTORE_SYSROOT_S3).toEqual(root);
    expect(env.MF_DATASTORE_ROOT).toEqual(root);
    expect(env).not.toHaveProperty('MF_METADATA_DB_PSWD');
    expect(env).not.toHaveProperty('MF_METADATA_DB_USER');
    expect(JSON.stringify(backend.Environment)).not.toMatch(/DbSecret|password|SecretString/i);
    const secretRef = { Ref: expect.stringMatching(/^DbSecret/) };
    expect(backend.Secrets).toEqual([
      { Name: 'MF_METADATA_DB_USER', ValueFrom: { 'Fn::Join': ['', [secretRef, ':username::']] } },
      { Name: 'MF_METADATA_DB_PSWD', ValueFrom: { 'Fn::Join': ['', [secretRef, ':password::']] } },
    ]);
  });

  test('the static UI runs the pinned metaflow_ui image on 3000 and calls the API on the same origin', () => {
    const ui = container(t(), 'Static');
    expect(ui.Image).toBe('public.ecr.aws/outerbounds/metaflow_ui:v1.2.4');
    expect(ui.PortMappings).toEqual([expect.objectContaining({ ContainerPort: 3000 })]);
    expect(envOf(ui)).toEqual({ METAFLOW_SERVICE: '/api', PORT: '3000' });
    expect(ui.Secrets).toBeUndefined();
    expect(ui.task).toMatchObject({ Cpu: '256', Memory: '512' });
  });

  test('both services run one task in the given cluster and private subnets, with circuit breaker', () => {
    const services = resourcesOf(t(), 'AWS::ECS::Service');
    expect(services).toHaveLength(2);
    for (const [, service] of services) {
      expect(service.Properties.HealthCheckGracePeriodSeconds).toBeGreaterThanOrEqual(60);
      expect(service.Properties).toMatchObject({
        Cluster: { Ref: expect.stringMatching(/^Cluster/) },
        DesiredCount: 1,
        LaunchType: 'FARGATE',
        DeploymentConfiguration: { DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 },
      });
      const network = service.Properties.NetworkConfiguration.AwsvpcConfiguration;
      expect(network.AssignPublicIp).toBe('DISABLED');
      for (const subnet of network.Subnets) expect(subnet.Ref).toMatch(/^NetworkVpccompute/);
    }
  });

  test('target groups: backend on 8083 checked at /api/ping, static on 3000 checked at /', () => {
    const [, backend] = targetGroup(t(), 8083);
    const [, ui] = targetGroup(t(), 3000);
    expect(backend).toMatchObject({ TargetType: 'ip', Protocol: 'HTTP', HealthCheckPath: '/api/ping', Matcher: { HttpCode: '200' } });
    expect(ui).toMatchObject({ TargetType: 'ip', Protocol: 'HTTP', HealthCheckPath: '/', Matcher: { HttpCode: '200' } });
  });

  test('/api/* goes to the backend (priority 10), everything else to the static UI', () => {
    const [backendId] = targetGroup(t(), 8083);
    const [staticId] = targetGroup(t(), 3000);
    const rules = resourcesOf(t(), 'AWS::ElasticLoadBalancingV2::ListenerRule');
    expect(rules).toHaveLength(1);
    const rule = rules[0][1].Properties;
    expect(rule.Priority).toBe(10);
    expect(rule.Conditions).toEqual([{ Field: 'path-pattern', PathPatternConfig: { Values: ['/api/*'] } }]);
    const forwardOf = (actions: Array<Record<string, any>>) => actions.find((a) => a.Type === 'forward')!.TargetGroupArn;
    expect(forwardOf(rule.Actions)).toEqual({ Ref: backendId });
    const [, main] = resourcesOf(t(), 'AWS::ElasticLoadBalancingV2::Listener').find(([, l]) => l.Properties.DefaultActions.some((a: any) => a.Type === 'forward'))!;
    expect(forwardOf(main.Properties.DefaultActions)).toEqual({ Ref: staticId });
  });

  test('only the load balancer reaches the tasks; only the backend reaches the database port', () => {
    const ingress = resourcesOf(t(), 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
    const lbSg = { 'Fn::GetAtt': [expect.stringMatching(/^UiLoadBalancerSecurityGroup/), 'GroupId'] };
    expect(ingress).toEqual(expect.arrayContaining([
      expect.objectContaining({ FromPort: 8083, ToPort: 8083, SourceSecurityGroupId: lbSg, GroupId: { 'Fn::GetAtt': [expect.stringMatching(/^UiBackendSecurityGroup/), 'GroupId'] } }),
      expect.objectContaining({ FromPort: 3000, ToPort: 3000, SourceSecurityGroupId: lbSg, GroupId: { 'Fn::GetAtt': [expect.stringMatching(/^UiStaticSecurityGroup/), 'GroupId'] } }),
      expect.objectContaining({
        FromPort: 5432, ToPort: 5432,
        GroupId: { 'Fn::GetAtt': [expect.stringMatching(/^DbSecurityGroup/), 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^UiBackendSecurityGroup/), 'GroupId'] },
      }),
    ]));
    expect(ingress.filter((r) => r.FromPort === 5432)).toHaveLength(1);
    expect(ingressOf(t(), 'UiBackendSecurityGroup')).toEqual([]);
    expect(ingressOf(t(), 'UiStaticSecurityGroup')).toEqual([]);
  });

  test('the backend task role reads the datastore; the execution role reads only the DB secret', () => {
    const policies = resourcesOf(t(), 'AWS::IAM::Policy');
    const taskPolicy = policies.find(([id]) => id.startsWith('UiBackendTaskTaskRole'))![1].Properties.PolicyDocument.Statement;
    expect(taskPolicy).toContainEqual(expect.objectContaining({ Action: expect.arrayContaining(['s3:GetObject']) }));
    expect(JSON.stringify(taskPolicy)).not.toMatch(/s3:PutObject|s3:DeleteObject/);
    const execPolicy = policies.find(([id]) => id.startsWith('UiBackendTaskExecutionRole'))![1].Properties.PolicyDocument.Statement;
    expect(execPolicy).toContainEqual(expect.objectContaining({
      Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
      Resource: { Ref: expect.stringMatching(/^DbSecret/) },
    }));
    expect(policies.find(([id]) => id.startsWith('UiStaticTaskTaskRole'))).toBeUndefined();
  });

  test('logs go to one log group kept a year', () => {
    expect(resourcesOf(t(), 'AWS::Logs::LogGroup').filter(([id]) => id.startsWith('Ui'))).toHaveLength(1);
    const [, group] = resourcesOf(t(), 'AWS::Logs::LogGroup').find(([id]) => id.startsWith('UiLogs'))!;
    expect(group.Properties.RetentionInDays).toBe(365);
  });

  test('the load balancer drops invalid headers, has no deletion protection, and logs access to a private TLS-only bucket', () => {
    const attributes = lbAttributes(t());
    expect(attributes).toMatchObject({
      'routing.http.drop_invalid_header_fields.enabled': 'true',
      'deletion_protection.enabled': 'false',
      'access_logs.s3.enabled': 'true',
      'access_logs.s3.prefix': 'metaflow-ui',
    });
    const [bucketId, bucket] = resourcesOf(t(), 'AWS::S3::Bucket').find(([id]) => id.startsWith('UiAccessLogsBucket'))!;
    expect(attributes['access_logs.s3.bucket']).toEqual({ Ref: bucketId });
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    const policy = resourcesOf(t(), 'AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === bucketId)![1].Properties.PolicyDocument.Statement;
    expect(policy).toContainEqual(expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
    expect(policy).toContainEqual(expect.objectContaining({ Sid: 'ElbServiceDelivery', Principal: { Service: 'logdelivery.elasticloadbalancing.amazonaws.com' } }));
    expect(policy).toContainEqual(expect.objectContaining({ Sid: 'ElbAccountDelivery', Principal: { AWS: { 'Fn::If': expect.anything() } } }));
  });

  test('the ELB log-delivery account is picked per region at deploy time (environment-agnostic stack)', () => {
    const json = t().toJSON();
    const mapping = Object.entries<any>(json.Mappings).find(([id]) => id.startsWith('UiAccessLogsElbAccounts'))![1];
    expect(mapping['us-east-1']).toEqual({ account: '127311923021' });
    expect(mapping['eu-west-1']).toEqual({ account: '156460612806' });
    expect(Object.keys(json.Conditions).some((id) => id.startsWith('UiAccessLogsLegacyRegion'))).toBe(true);
  });
});

describe('cognito mode', () => {
  const t = () => built.cognito.template;

  test('an internet-facing ALB in public subnets', () => {
    expectLoadBalancer(t(), 'internet-facing', /^NetworkVpcpublic/);
  });

  test('HTTPS 443 with the certificate and a TLS 1.2+ policy; Cognito login before both targets', () => {
    t().hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      DefaultActions: [
        Match.objectLike({ Type: 'authenticate-cognito', Order: 1 }),
        Match.objectLike({ Type: 'forward', Order: 2 }),
      ],
    });
    t().hasResourceProperties('AWS::ElasticLoadBalancingV2::ListenerRule', {
      Actions: [Match.objectLike({ Type: 'authenticate-cognito', Order: 1 }), Match.objectLike({ Type: 'forward', Order: 2 })],
    });
  });

  test('HTTP 80 only redirects to HTTPS 443', () => {
    t().hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }],
    });
    t().resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
  });

  test('the ALB accepts 443 and 80 from anywhere, and may call out only on 443 (Cognito token endpoint)', () => {
    const ingress = ingressOf(t(), 'UiLoadBalancerSecurityGroup');
    expect(ingress.map((r) => [r.CidrIp, r.FromPort]).sort()).toEqual([['0.0.0.0/0', 443], ['0.0.0.0/0', 80]]);
    const [, sg] = resourcesOf(t(), 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('UiLoadBalancerSecurityGroup'))!;
    expect(sg.Properties.SecurityGroupEgress).toEqual([expect.objectContaining({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 })]);
  });

  test('a user pool: admin-created users only, MFA required, strong passwords, threat protection', () => {
    t().hasResourceProperties('AWS::Cognito::UserPool', {
      AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      Policies: { PasswordPolicy: { MinimumLength: 12, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true } },
      UserPoolAddOns: { AdvancedSecurityMode: 'ENFORCED' },
      UserPoolTier: 'PLUS',
      DeletionProtection: 'ACTIVE',
    });
    const [[, pool]] = Object.entries(t().findResources('AWS::Cognito::UserPool'));
    expect(pool).toMatchObject({ DeletionPolicy: 'Retain' });
  });

  test('an app client with a secret, code grant and the ALB callback URL of the domain', () => {
    t().hasResourceProperties('AWS::Cognito::UserPoolClient', {
      GenerateSecret: true,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: ['openid', 'email'],
      CallbackURLs: [`https://${DOMAIN}/oauth2/idpresponse`],
      SupportedIdentityProviders: ['COGNITO'],
    });
  });

  test('a hosted domain with a per-account default prefix', () => {
    t().hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: { 'Fn::Join': ['', [Match.stringLikeRegexp('^metaflow-ui-[0-9a-f]{8}-$'), { Ref: 'AWS::AccountId' }]] },
    });
  });

  test('exposes the user pool and the https URL of the domain', () => {
    const { ui } = built.cognito;
    expect(ui.userPool).toBeDefined();
    expect(ui.userPoolClient).toBeDefined();
    expect(ui.url).toBe(`https://${DOMAIN}`);
    expect(ui.backendService).toBeDefined();
    expect(ui.staticService).toBeDefined();
  });
});

describe('cognito mode, options', () => {
  const t = () => built.cognitoOptions.template;

  test('allowedCidrs restrict both listeners to those ranges', () => {
    const ingress = ingressOf(t(), 'UiLoadBalancerSecurityGroup');
    expect(ingress.map((r) => [r.CidrIp, r.FromPort]).sort()).toEqual([['203.0.113.0/24', 443], ['203.0.113.0/24', 80]]);
  });

  test('the given domain prefix is used', () => {
    t().hasResourceProperties('AWS::Cognito::UserPoolDomain', { Domain: 'acme-metaflow' });
  });

  test('a given access log bucket is used (none is created) with the given prefix', () => {
    expect(lbAttributes(t())).toMatchObject({ 'access_logs.s3.bucket': 'my-elb-logs', 'access_logs.s3.prefix': 'lb/ui' });
    expect(resourcesOf(t(), 'AWS::S3::Bucket').filter(([id]) => id.startsWith('Ui'))).toEqual([]);
    expect(built.cognitoOptions.ui.accessLogsBucket?.bucketName).toBe('my-elb-logs');
  });

  test('removalPolicy DESTROY lets the user pool go with the stack', () => {
    const [[, pool]] = Object.entries(t().findResources('AWS::Cognito::UserPool'));
    expect(pool).toMatchObject({ DeletionPolicy: 'Delete' });
    expect(pool.Properties.DeletionProtection).toBe('INACTIVE');
  });
});

describe('internal mode', () => {
  const t = () => built.internal.template;

  test('an internal ALB in private subnets with an HTTP listener and no Cognito', () => {
    expectLoadBalancer(t(), 'internal', /^NetworkVpccompute/);
    t().resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    t().hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
    t().resourceCountIs('AWS::Cognito::UserPool', 0);
    expect(JSON.stringify(t().toJSON())).not.toContain('authenticate-cognito');
  });

  test('the ALB security group admits only the allow-listed CIDRs on the listener port and sends only to the targets', () => {
    const ingress = ingressOf(t(), 'UiLoadBalancerSecurityGroup');
    expect(ingress).toEqual([
      expect.objectContaining({ CidrIp: '10.20.0.0/16', FromPort: 80, ToPort: 80, IpProtocol: 'tcp' }),
      expect.objectContaining({ CidrIp: '192.168.1.0/24', FromPort: 80, ToPort: 80, IpProtocol: 'tcp' }),
    ]);
    const [, sg] = resourcesOf(t(), 'AWS::EC2::SecurityGroup').find(([id]) => id.startsWith('UiLoadBalancerSecurityGroup'))!;
    expect(JSON.stringify(sg.Properties.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
    const egress = resourcesOf(t(), 'AWS::EC2::SecurityGroupEgress').map(([, r]) => r.Properties);
    expect(egress.map((r) => r.FromPort).sort()).toEqual([3000, 8083]);
  });

  test('the url is the load balancer DNS name over http; no user pool is exposed', () => {
    const { ui } = built.internal;
    expect(ui.userPool).toBeUndefined();
    expect(built.internal.fixture.stack.resolve(ui.url)).toEqual({
      'Fn::Join': ['', ['http://', { 'Fn::GetAtt': [expect.stringMatching(/^UiLoadBalancer/), 'DNSName'] }]],
    });
  });
});

describe('internal mode, options', () => {
  const t = () => built.internalOptions.template;

  test('image versions are the given tags', () => {
    expect(container(t(), 'Backend').Image).toBe('netflixoss/metaflow_metadata_service:v2.5.0');
    expect(container(t(), 'Static').Image).toBe('public.ecr.aws/outerbounds/metaflow_ui:v1.2.8');
  });

  test('cpu, memory and ephemeral storage follow the props', () => {
    expect(container(t(), 'Backend').task).toMatchObject({ Cpu: '2048', Memory: '16384', EphemeralStorage: { SizeInGiB: 100 } });
    expect(container(t(), 'Static').task).toMatchObject({ Cpu: '512', Memory: '1024' });
  });

  test('desired counts follow the props (0 allowed)', () => {
    const counts = resourcesOf(t(), 'AWS::ECS::Service').map(([id, s]) => [id.replace(/Service.*/, ''), s.Properties.DesiredCount]).sort();
    expect(counts).toEqual([['UiBackend', 2], ['UiStatic', 0]]);
  });

  test('extra backend env is added; DB port, name and SSL mode follow database', () => {
    const env = envOf(container(t(), 'Backend'));
    expect(env).toMatchObject({ FEATURE_ARTIFACT_SEARCH: '1', PREFETCH_RUNS_LIMIT: '10', MF_METADATA_DB_PORT: '5433', MF_METADATA_DB_NAME: 'mf', MF_METADATA_DB_SSL_MODE: 'verify-full' });
    t().hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 5433, ToPort: 5433, GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbSecurityGroup'), 'GroupId'] } });
  });

  test('log retention, deletion protection, no access logs', () => {
    const [, group] = resourcesOf(t(), 'AWS::Logs::LogGroup').find(([id]) => id.startsWith('UiLogs'))!;
    expect(group.Properties.RetentionInDays).toBe(30);
    const attributes = lbAttributes(t());
    expect(attributes['deletion_protection.enabled']).toBe('true');
    expect(attributes).not.toHaveProperty('access_logs.s3.enabled');
    expect(resourcesOf(t(), 'AWS::S3::Bucket').filter(([id]) => id.startsWith('Ui'))).toEqual([]);
    expect(built.internalOptions.ui.accessLogsBucket).toBeUndefined();
  });

  test('the listener port and IPv6 CIDRs are honoured; the url carries the port', () => {
    t().hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 8080, Protocol: 'HTTP' });
    const ingress = ingressOf(t(), 'UiLoadBalancerSecurityGroup');
    expect(ingress).toEqual([
      expect.objectContaining({ CidrIp: '10.1.0.0/16', FromPort: 8080 }),
      expect.objectContaining({ CidrIpv6: '2001:db8::/32', FromPort: 8080 }),
    ]);
    expect(built.internalOptions.fixture.stack.resolve(built.internalOptions.ui.url)['Fn::Join'][1][2]).toBe(':8080');
  });
});

describe('network without NAT', () => {
  test('tasks run in the private compute subnets without a public IP (images and logs through endpoints); the internal ALB uses isolated subnets', () => {
    const t = built.noNat.template;
    for (const [, service] of resourcesOf(t, 'AWS::ECS::Service')) {
      const network = service.Properties.NetworkConfiguration.AwsvpcConfiguration;
      expect(network.AssignPublicIp).toBe('DISABLED');
      for (const subnet of network.Subnets) expect(subnet.Ref).toMatch(/^NetworkVpccompute/);
    }
    // the internal ALB in isolated subnets: without NAT the compute subnets are isolated too
    expectLoadBalancer(t, 'internal', /^NetworkVpc(database|isolated|compute)/);
  });
});

describe.each(['cognito', 'internal', 'internalOptions', 'cognitoOptions', 'noNat'] as const)('%s: cdk-nag', (variant) => {
  test('AwsSolutions: synth succeeds with 0 unacknowledged findings', () => {
    const { nag } = built[variant];
    expect(nag.violations).toEqual([]);
    expect(nag.error).toBeUndefined();
  });
});

test('every acknowledgement in the UI names an AwsSolutions rule and a real reason', () => {
  for (const variant of ['cognito', 'internal'] as const) {
    const ui = built[variant].ui;
    const acks = ui.node.findAll().flatMap((c) => c.node.metadata
      .filter((m) => m.type === 'aws:cdk:acknowledged-rules')
      .flatMap((m) => Object.entries(m.data as Record<string, string>)));
    expect(acks.length).toBeGreaterThan(0);
    for (const [id, reason] of acks) {
      if (id.startsWith('CloudFormation-Validate::')) continue;
      expect(id).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(reason.length).toBeGreaterThan(40);
    }
  }
});

describeWithTool('cfn-lint', 'cfn-lint on the UI templates', () => {
  const VARIANTS = ['cognito', 'internal', 'internalOptions', 'cognitoOptions', 'noNat'] as const;
  let lint: { output: string; status: number | null };
  // One cfn-lint process for all templates (each start costs ~2 s); findings name their file.
  beforeAll(() => {
    const result = spawnSync('cfn-lint', ['--format', 'parseable', ...VARIANTS.map((v) => built[v].nag.templatePath)], { encoding: 'utf8' });
    lint = { output: result.stdout + result.stderr, status: result.status };
  });

  test.each(VARIANTS)('%s: 0 errors and 0 warnings', (variant) => {
    expect(lint.output.split('\n').filter((line) => line.includes(built[variant].nag.templatePath))).toEqual([]);
  });

  test('cfn-lint exits cleanly with no output at all', () => {
    expect(lint.output).toBe('');
    expect(lint.status).toBe(0);
  });
});

test('works with an rds.DatabaseInstance (endpoint tokens, generated secret, its connections)', () => {
  const fixture = uiFixture();
  const db = new rds.DatabaseInstance(fixture.stack, 'Db', {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_17 }),
    vpc: fixture.vpc,
    vpcSubnets: fixture.network.databaseSubnets,
    credentials: rds.Credentials.fromGeneratedSecret('metaflow'),
    storageEncrypted: true,
  });
  new MetaflowUi(fixture.stack, 'Ui', {
    ...fixture.baseProps,
    auth: INTERNAL(),
    database: { host: db.instanceEndpoint.hostname, port: db.instanceEndpoint.port, credentials: db.secret!, connections: db.connections },
  });
  const template = Template.fromStack(fixture.stack);
  const env = envOf(container(template, 'Backend'));
  expect(env.MF_METADATA_DB_HOST).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Db/), 'Endpoint.Address'] });
  expect(env.MF_METADATA_DB_PORT).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Db/), 'Endpoint.Port'] });
  expect(JSON.stringify(container(template, 'Backend').Secrets)).toMatch(/DbSecret.*:username::.*DbSecret.*:password::/);
  template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
    GroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DbSecurityGroup'), 'GroupId'] },
    SourceSecurityGroupId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^UiBackendSecurityGroup'), 'GroupId'] },
    FromPort: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Db'), 'Endpoint.Port'] },
  });
});

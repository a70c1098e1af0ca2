import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CfnResource } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { IConstruct } from 'constructs';
import { describeWithTool } from '../support/external-tool';
import { awsServicePathProblems, platformPathProblems } from '../support/platform-paths';
import { appFromContext } from '../support/synth';
import { PROCESS_GUARD_MS } from '../support/guards';

// The suite turns aws-cdk-lib's built-in CloudFormation validation off for speed
// (test/support/jest-temp-dir.js); this file checks that templates are valid, so it keeps it on: every
// variant is validated by it, by cdk-nag and by cfn-lint. (Jest gives each test file its own copy of
// process.env, so this does not leak into other files.)
delete process.env.CDK_VALIDATION;

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');

/** A Docker Hub credential secret for the pull-through cache (ECR requires the name prefix). */
const DOCKER_HUB_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf';

/**
 * The stack variants every synthesized-template check runs on. "maximal" turns on every option
 * issue #2 names: Fargate, KMS, versioning, no NAT, custom instance types, a permissions boundary
 * (and removalPolicy=destroy, the capacity timeout).
 */
export const SYNTH_VARIANTS: Record<string, Record<string, string>> = {
  default: {},
  maximal: {
    fargate: 'true', encryption: 'kms', versioned: 'true', noncurrentVersionExpirationDays: '30', natGateways: '0',
    maxAzs: '3', instanceTypes: 'm6i,c6i.2xlarge', gpuInstanceTypes: 'g5,p4d',
    gpuSpot: 'true', rootVolumeGiB: '200', runnableTimeoutMinutes: '45',
    permissionsBoundaryArn: 'arn:aws:iam::123456789012:policy/MetaflowBoundary',
    dbMultiAz: 'true', dbEngineVersion: '16.10', removalPolicy: 'destroy', dockerHubCredentialArn: DOCKER_HUB_SECRET, capacityTimeoutMinutes: '60', webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/acl/11111111-2222-3333-4444-555555555555',
  },
  // No NAT, private compute: interface endpoints and the pull-through cache (ECR Public, Docker Hub).
  'no-nat': { natGateways: '0', fargate: 'true', dockerHubCredentialArn: DOCKER_HUB_SECRET },
  // No NAT, public compute with public IPs (the official template's layout).
  'no-nat-public': { natGateways: '0', computeSubnets: 'public', fargate: 'true' },
  // NAT plus interface endpoints and the pull-through cache, UI on (its images through the cache).
  'nat-endpoints-cache': { interfaceEndpoints: 'true', imageCache: 'true', dockerHubCredentialArn: DOCKER_HUB_SECRET, fargate: 'true', ui: 'true', uiAllowedCidrs: '10.0.0.0/8' },
  // An existing SSE-KMS bucket with its key, and the UI behind an internal load balancer (independent options, one synth).
  'existing-kms-bucket-ui-internal': {
    existingBucketName: 'team-metaflow-data', kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    ui: 'true', uiAllowedCidrs: '10.0.0.0/8,192.168.1.0/24',
  },
  'ui-cognito': {
    ui: 'true', uiAuth: 'cognito', uiDomainName: 'metaflow.example.com',
    uiCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012',
  },
  'metadata-off': { metadataService: 'false' },
  teams: { teams: 'ml:3,research:1,vision:1:32', fargate: 'true', encryption: 'kms' },
};

interface Synthesized {
  error?: Error;
  templatePath: string;
  violations: Array<{ rule: string; path: string }>;
  acknowledgements: Array<{ id: string; path: string; reason: string }>;
}

function violationsIn(outdir: string): Array<{ rule: string; path: string }> {
  const report = join(outdir, 'validation-report.json');
  if (!existsSync(report)) return [];
  const parsed = JSON.parse(readFileSync(report, 'utf8')) as {
    pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
  };
  return parsed.pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))));
}

function acknowledgementsIn(root: IConstruct): Array<{ id: string; path: string; reason: string }> {
  const found: Array<{ id: string; path: string; reason: string }> = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== 'aws:cdk:acknowledged-rules') continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) found.push({ id, path: construct.node.path, reason });
    }
  }
  return found;
}

function synthWithNag(context: Record<string, string>, tweak?: (app: ReturnType<typeof appFromContext>) => void): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'metaflow-synth-'));
  const built = appFromContext({ ...context, nag: 'true' }, outdir);
  tweak?.(built);
  let error: Error | undefined;
  try {
    built.app.synth();
  } catch (err) {
    error = err as Error;
  }
  return {
    error,
    templatePath: join(outdir, `${built.stack.artifactId}.template.json`),
    violations: violationsIn(outdir),
    acknowledgements: acknowledgementsIn(built.app),
  };
}

const synthesized: Record<string, Synthesized> = {};
beforeAll(() => {
  for (const [name, context] of Object.entries(SYNTH_VARIANTS)) synthesized[name] = synthWithNag(context);
});

describe.each(Object.keys(SYNTH_VARIANTS))('%s stack', (variant) => {
  test('cdk-nag AwsSolutions: synth succeeds with 0 unacknowledged findings', () => {
    const result = synthesized[variant];
    expect(result.violations).toEqual([]);
    expect(result.error).toBeUndefined();
    expect(existsSync(result.templatePath)).toBe(true);
  });

  test('every acknowledgement names an AwsSolutions rule and a real reason', () => {
    // CDK acknowledges some of its own CloudFormation-Validate rules; ours are the AwsSolutions ones.
    const acks = synthesized[variant].acknowledgements.filter((ack) => !ack.id.startsWith('CloudFormation-Validate::'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^(Annotation::)?AwsSolutions-[A-Z]+\d+(\[.+\])?$/);
      expect(ack.reason.length).toBeGreaterThan(40);
    }
  });

  test('no construct acknowledges the same finding twice (grants sharing a finding keep one, with both reasons)', () => {
    const seen = new Set<string>();
    const repeated: string[] = [];
    for (const ack of synthesized[variant].acknowledgements) {
      const key = `${ack.path} ${ack.id}`;
      if (seen.has(key)) repeated.push(key);
      seen.add(key);
    }
    expect(repeated).toEqual([]);
  });
});

test('the state machine role\'s one Resource::* acknowledgement gives both reasons (Batch Describe/List and log delivery)', () => {
  const acks = synthesized.default.acknowledgements.filter((ack) =>
    ack.path === 'Metaflow/StepFunctions/StateMachineRole' && ack.id.endsWith('AwsSolutions-IAM5[Resource::*]'));
  expect(acks).toHaveLength(1);
  expect(acks[0].reason).toMatch(/batch:Describe/);
  expect(acks[0].reason).toMatch(/Logs delivery/);
});

/** The synthesized template of a variant, as JSON (a fresh copy). */
function templateOf(variant: string): any {
  return JSON.parse(readFileSync(synthesized[variant].templatePath, 'utf8'));
}

describe.each(Object.keys(SYNTH_VARIANTS))('%s stack network paths', (variant) => {
  test('every path the platform needs is open; nothing else reaches the database or the migration API', () => {
    expect(platformPathProblems(templateOf(variant))).toEqual([]);
  });

  test('every compute placement (Batch EC2 and Fargate, ECS services) reaches S3, its image registry and CloudWatch Logs', () => {
    expect(awsServicePathProblems(templateOf(variant))).toEqual([]);
  });
});

describe('the AWS-service path check fails when a route or an endpoint is removed', () => {
  const without = (variant: string, drop: (id: string, resource: any) => boolean) => {
    const template = templateOf(variant);
    for (const [id, resource] of Object.entries(template.Resources as Record<string, any>)) if (drop(id, resource)) delete template.Resources[id];
    return awsServicePathProblems(template);
  };

  test('NAT: without the NAT route nothing private reaches AWS (S3 still through its gateway endpoint)', () => {
    const problems = without('default', (_id, r) => r.Type === 'AWS::EC2::Route' && r.Properties.NatGatewayId !== undefined);
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^Batch EC2 ComputeSpotEnvironment\w+: no route to CloudWatch Logs$/),
      expect.stringMatching(/^Batch EC2 ComputeOnDemandEnvironment\w+: no route to ecs-agent \(the ECS agent\)$/),
      expect.stringMatching(/^ECS service MetadataService\w+: image netflixoss\/metaflow_metadata_service:v2.5.1 is not in this account's ECR/),
    ]));
    expect(problems.filter((line) => line.includes('no route to S3'))).toEqual([]);
  });

  test.each([
    ['LogsEndpoint', /^Batch Fargate ComputeFargateEnvironment\w+: no route to CloudWatch Logs$/],
    ['EcrDockerEndpoint', /^ECS service MetadataService\w+: no route to the image registry \(ECR api and dkr\)$/],
    ['EcsTelemetryEndpoint', /^Batch EC2 ComputeGpuEnvironment\w+: no route to ecs-telemetry \(the ECS agent\)$/],
    ['SecretsManagerEndpoint', /^ECS service MetadataService\w+: no route to Secrets Manager/],
    ['S3Endpoint', /^Batch EC2 ComputeSpotEnvironment\w+: no route to S3$/],
  ])('no NAT: without %s', (endpoint, line) => {
    expect(without('no-nat', (id) => id.startsWith(`Network${endpoint}`) || id.startsWith(`NetworkVpc${endpoint}`))).toEqual(expect.arrayContaining([expect.stringMatching(line)]));
  });

  test('public compute: Fargate jobs without the published public-IP setting reach only S3 (through its gateway endpoint)', () => {
    const template = templateOf('no-nat-public');
    expect(template.Outputs.MetaflowBatchAssignPublicIp.Value).toBe('true');
    delete template.Outputs.MetaflowBatchAssignPublicIp;
    expect(awsServicePathProblems(template)).toEqual(expect.arrayContaining([
      expect.stringMatching(/^Batch Fargate ComputeFargateEnvironment\w+: no route to the image registry \(ECR api and dkr\)$/),
      expect.stringMatching(/^Batch Fargate ComputeFargateEnvironment\w+: no route to CloudWatch Logs$/),
    ]));
  });
});

/**
 * The default template as it was before the NLB got its own rules: the NLB with the group CDK
 * creates under networkLoadBalancerWithSecurityGroupByDefault (no inbound rule, a deny-all
 * outbound placeholder, PrivateLink inbound rules enforced) and the service open to the VPC CIDR.
 */
function withCdkDefaultNlbGroup(template: any): any {
  const resources = template.Resources as Record<string, any>;
  const nlbId = Object.keys(resources).find((id) => resources[id].Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer')!;
  const nlb = resources[nlbId].Properties;
  const nlbGroup = nlb.SecurityGroups[0]['Fn::GetAtt'][0];
  delete nlb.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic;
  resources[nlbGroup].Properties.SecurityGroupEgress = [{ CidrIp: '255.255.255.255/32', Description: 'Disallow all traffic', FromPort: 252, IpProtocol: 'icmp', ToPort: 86 }];
  delete resources[nlbGroup].Properties.SecurityGroupIngress;
  const mentionsNlbGroup = (r: any) => JSON.stringify(r.Properties).includes(`"${nlbGroup}"`);
  for (const id of Object.keys(resources)) {
    if (/^AWS::EC2::SecurityGroup(Ingress|Egress)$/.test(resources[id].Type) && mentionsNlbGroup(resources[id])) delete resources[id];
  }
  const serviceGroup = Object.keys(resources).find((id) => id.startsWith('MetadataServiceServiceSecurityGroup') && resources[id].Type === 'AWS::EC2::SecurityGroup')!;
  const vpcCidr = { 'Fn::GetAtt': [Object.keys(resources).find((id) => resources[id].Type === 'AWS::EC2::VPC'), 'CidrBlock'] };
  resources[serviceGroup].Properties.SecurityGroupIngress = [8080, 8082].map((port) => ({ CidrIp: vpcCidr, FromPort: port, ToPort: port, IpProtocol: 'tcp' }));
  return template;
}

test('the path check fails on the old configuration (NLB with CDK\'s default group) and names each refused path', () => {
  const problems = platformPathProblems(withCdkDefaultNlbGroup(templateOf('default')));
  expect(problems).toEqual(expect.arrayContaining([
    expect.stringMatching(/^Batch ComputeSpotEnvironment\w+ → NLB:80 → service:8080 refused$/),
    expect.stringMatching(/^Batch ComputeOnDemandEnvironment\w+ → NLB:80 → service:8080 refused$/),
    expect.stringMatching(/^Batch ComputeGpuEnvironment\w+ → NLB:80 → service:8080 refused$/),
    'API Gateway VPC link → NLB:80 → service:8080 refused',
    'NLB health check → service:8080 refused',
    'NLB health check → service:8082 refused',
    'migration function → NLB:8082 → service:8082 refused',
    expect.stringMatching(/^outsider:NetworkVpccomputeSubnet1\w+ reaches the migration API \(service:8082\)$/),
    expect.stringMatching(/^ComputeSpotEnvironment\w+ reaches the migration API \(service:8082\)$/),
  ]));
  // The database was never the problem: only the service and its migration port were.
  expect(problems.filter((line) => / reaches the database:|→ database:/.test(line))).toEqual([]);
});

test('the default stack carries fewer acknowledgements than the 26 it had before the narrower rules', () => {
  const all = synthesized.default.acknowledgements.filter((ack) => !ack.id.startsWith('CloudFormation-Validate::'));
  // The 26 were on the resources that existed then; the user access policy and monitoring came
  // later and carry their own (run-time names and APIs without resource-level permissions).
  // The instance role traded its one IAM4 (the managed AmazonEC2ContainerServiceforEC2Role, every
  // action on "*") for five IAM5 findings on scoped resources (issue #18), counted with the new ones.
  const isNew = (ack: { path: string }) => /\/(UserAccess|Monitoring)\/|\/Compute\/Roles\/InstanceRole$/.test(ack.path);
  const acks = all.filter((ack) => !isNew(ack));
  expect(acks.length).toBeLessThanOrEqual(25);
  expect(all.filter(isNew).length).toBeLessThanOrEqual(19);
  // The service's security group no longer needs EC23: it admits the NLB's group, not a CIDR.
  expect(acks.filter((ack) => ack.id.endsWith('AwsSolutions-EC23'))).toEqual([]);
});

test('the nag check fails a stack with a finding (it is not vacuous)', () => {
  const result = synthWithNag({}, ({ stack }) => {
    new s3.Bucket(stack, 'Careless', { enforceSSL: false });
  });
  expect(result.error?.message).toMatch(/AwsSolutions-S10/);
  expect(result.violations).toContainEqual({ rule: 'AwsSolutions-S10', path: 'Metaflow/Careless/Resource' });
});

test('CDK\'s built-in CloudFormation validation is on here and fails a broken template (it is not vacuous)', () => {
  const result = synthWithNag({}, ({ stack }) => {
    new CfnResource(stack, 'Broken', { type: 'AWS::S3::Bucket', properties: { NotAProperty: 1 } });
  });
  expect(result.error?.message).toMatch(/NotAProperty: Additional properties are not allowed/);
  expect(result.violations).toContainEqual({ rule: 'F3002', path: 'Metaflow/Broken' });
});

describeWithTool('cfn-lint', 'cfn-lint on synthesized templates', () => {
  // One cfn-lint process for every template (its start-up dominates the cost), a broken one among
  // them to show the check is not vacuous.
  let findings: string[] = [];
  let status: number | null = null;
  let bad = '';
  beforeAll(() => {
    bad = join(mkdtempSync(join(tmpdir(), 'metaflow-lint-')), 'bad.json');
    writeFileSync(bad, JSON.stringify({
      Resources: { Db: { Type: 'AWS::RDS::DBInstance', Properties: { Engine: 'postgres', EngineVersion: '9.6.1', DBInstanceClass: 'db.t3.micro', AllocatedStorage: '20' } } },
    }));
    const result = spawnSync('cfn-lint', ['--format', 'parseable', ...Object.values(synthesized).map((s) => s.templatePath), bad], { encoding: 'utf8' });
    findings = (result.stdout + result.stderr).split('\n').filter((line) => line.trim() !== '');
    status = result.status;
  });

  test.each(Object.keys(SYNTH_VARIANTS))('%s stack: 0 errors and 0 warnings', (variant) => {
    const { templatePath } = synthesized[variant];
    expect(findings.filter((line) => line.startsWith(templatePath))).toEqual([]);
  });

  test('cfn-lint ran over all templates and found nothing but the broken one\'s finding', () => {
    expect(findings.filter((line) => !line.startsWith(bad))).toEqual([]);
  });

  test('cfn-lint reports a broken template (the check is not vacuous)', () => {
    expect(status).not.toBe(0);
    expect(findings.filter((line) => line.startsWith(bad)).join('\n')).toMatch(/W3691:Engine version '9.6.1' for engine 'postgres' is deprecated/);
  });
});

describe('the cdk CLI synthesizes offline', () => {
  const cdk = join(ROOT, 'node_modules', '.bin', 'cdk');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true' };

  test('`cdk synth` of the default stack writes the template, nag on', async () => {
    const out = mkdtempSync(join(tmpdir(), 'metaflow-cdk-out-'));
    const { stderr } = await run(cdk, ['synth', '-q', '-o', out], { cwd: ROOT, env, timeout: PROCESS_GUARD_MS });
    expect(stderr).not.toMatch(/Error/);
    const template = JSON.parse(readFileSync(join(out, 'Metaflow.template.json'), 'utf8'));
    expect(Object.keys(template.Outputs)).toContain('MetaflowBatchJobQueue');
  });

  /** `cdk synth -c <setting>`, expected to fail: its exit code and stderr. */
  async function failedSynth(setting: string): Promise<{ code: number; stderr: string } | undefined> {
    const out = mkdtempSync(join(tmpdir(), 'metaflow-cdk-out-'));
    return run(cdk, ['synth', '-q', '-o', out, '-c', setting], { cwd: ROOT, env, timeout: PROCESS_GUARD_MS })
      .then(() => undefined, (err: { code: number; stderr: string }) => err);
  }

  test.each([
    // One bad key through the real CLI (each costs a cdk process); every key's message, a construct's rejection
    // under its -c key included, is checked in-process in context-key-errors.test.ts.
    ['natGateways=abc', ['metaflow-cdk: context key natGateways: expected an integer from 0 to 16, got "abc"']],
  ])('-c %s exits non-zero with one clear line and no stack trace', async (setting, lines) => {
    const failure = await failedSynth(setting);
    expect(failure?.code).not.toBe(0);
    for (const line of lines) expect(failure?.stderr).toContain(line);
    expect(failure?.stderr).not.toMatch(/^\s+at /m);
  });
});

import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { MetaflowUi, MetaflowUiAuth, MetaflowUiProps } from '../../lib/ui';
import { fargateMemoryChoices } from '../../lib/fargate-size';
import { MetaflowValidationError } from '../../lib/validation';
import { CERTIFICATE_ARN, COGNITO, DOMAIN, INTERNAL, UiFixture, uiFixture } from './ui-fixture';

const cognito = (overrides: Record<string, unknown>) =>
  MetaflowUiAuth.cognito({ certificateArn: CERTIFICATE_ARN, domainName: DOMAIN, ...overrides } as never);
const internal = (allowedCidrs: unknown, port?: number) => MetaflowUiAuth.internal({ allowedCidrs: allowedCidrs as string[], port });

type Case = [string, (f: UiFixture) => Partial<MetaflowUiProps>, string];

/** Each row: what is wrong, the props that are wrong, and the exact message (after the construct path). */
const CASES: Case[] = [
  ['missing auth', () => ({ auth: undefined }), 'auth must be MetaflowUiAuth.cognito({...}) or MetaflowUiAuth.internal({...}), got undefined'],
  ['missing certificate ARN', () => ({ auth: cognito({ certificateArn: undefined }) }),
    'auth.certificateArn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>), got undefined'],
  ['certificate ARN of another service', () => ({ auth: cognito({ certificateArn: 'arn:aws:iam::123456789012:server-certificate/ui' }) }),
    'auth.certificateArn must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>), got "arn:aws:iam::123456789012:server-certificate/ui"'],
  ['missing domain', () => ({ auth: cognito({ domainName: undefined }) }),
    'auth.domainName must be a lowercase DNS name with at least two labels, e.g. "metaflow.example.com", got undefined'],
  ['domain given as a URL', () => ({ auth: cognito({ domainName: 'https://metaflow.example.com' }) }),
    'auth.domainName must be a lowercase DNS name with at least two labels, e.g. "metaflow.example.com", got "https://metaflow.example.com"'],
  ['single-label domain', () => ({ auth: cognito({ domainName: 'localhost' }) }),
    'auth.domainName must be a lowercase DNS name with at least two labels, e.g. "metaflow.example.com", got "localhost"'],
  ['Cognito domain prefix with a reserved word', () => ({ auth: cognito({ cognitoDomainPrefix: 'my-aws-ui' }) }),
    'auth.cognitoDomainPrefix must be lowercase letters, digits and hyphens (1–63, no leading/trailing hyphen) without "aws", "amazon" or "cognito", got "my-aws-ui"'],
  ['Cognito allow-list open to everyone', () => ({ auth: cognito({ allowedCidrs: ['0.0.0.0/0'] }) }),
    'auth.allowedCidrs must be a list of restricted CIDRs: an open range would be a listener without authentication (use MetaflowUiAuth.cognito for internet access), got "0.0.0.0/0"'],
  ['empty allow-list', () => ({ auth: internal([]) }), 'auth.allowedCidrs must be a non-empty list of CIDRs (e.g. ["10.0.0.0/8"]), got []'],
  ['missing allow-list', () => ({ auth: internal(undefined) }), 'auth.allowedCidrs must be a non-empty list of CIDRs (e.g. ["10.0.0.0/8"]), got undefined'],
  ['open IPv4 range', () => ({ auth: internal(['10.0.0.0/8', '0.0.0.0/0']) }),
    'auth.allowedCidrs must be a list of restricted CIDRs: an open range would be a listener without authentication (use MetaflowUiAuth.cognito for internet access), got "0.0.0.0/0"'],
  ['open IPv6 range', () => ({ auth: internal(['::/0']) }),
    'auth.allowedCidrs must be a list of restricted CIDRs: an open range would be a listener without authentication (use MetaflowUiAuth.cognito for internet access), got "::/0"'],
  ['a /0 that is not written 0.0.0.0', () => ({ auth: internal(['10.0.0.0/0']) }),
    'auth.allowedCidrs must be a list of restricted CIDRs: an open range would be a listener without authentication (use MetaflowUiAuth.cognito for internet access), got "10.0.0.0/0"'],
  ['prefix too long', () => ({ auth: internal(['10.0.0.0/33']) }),
    'auth.allowedCidrs must be a list of IPv4 or IPv6 CIDRs (e.g. "10.0.0.0/8", "2001:db8::/32"); this entry is not one, got "10.0.0.0/33"'],
  ['octet out of range', () => ({ auth: internal(['10.0.0.300/24']) }),
    'auth.allowedCidrs must be a list of IPv4 or IPv6 CIDRs (e.g. "10.0.0.0/8", "2001:db8::/32"); this entry is not one, got "10.0.0.300/24"'],
  ['address without prefix', () => ({ auth: internal(['10.0.0.1']) }),
    'auth.allowedCidrs must be a list of IPv4 or IPv6 CIDRs (e.g. "10.0.0.0/8", "2001:db8::/32"); this entry is not one, got "10.0.0.1"'],
  ['duplicate CIDRs', () => ({ auth: internal(['10.0.0.0/8', '10.0.0.0/8']) }),
    'auth.allowedCidrs must be a list of distinct CIDRs, got ["10.0.0.0/8","10.0.0.0/8"]'],
  ['listener port 0', () => ({ auth: internal(['10.0.0.0/8'], 0) }), 'auth.port must be an integer from 1 to 65535, got 0'],
  ['internal ALB in a VPC with only public subnets', (f) => ({
    auth: INTERNAL(),
    vpc: new ec2.Vpc(f.stack, 'PublicOnly', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC }] }),
    vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  }), 'vpc must be a VPC with private or isolated subnets for the internal load balancer (it has only public subnets; use MetaflowUiAuth.cognito or add private subnets), got "Test/PublicOnly"'],
  ['Cognito ALB in a VPC without public subnets', (f) => ({
    vpc: new ec2.Vpc(f.stack, 'PrivateOnly', { maxAzs: 2, natGateways: 0, subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] }),
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  }), 'vpc must be a VPC with public subnets for the internet-facing load balancer of MetaflowUiAuth.cognito (it has none; use MetaflowUiAuth.internal), got "Test/PrivateOnly"'],
  ['DB user through backendEnvironment', () => ({ backendEnvironment: { MF_METADATA_DB_USER: 'admin' } }),
    'backendEnvironment.MF_METADATA_DB_USER must be left unset: the construct sets it (DB credentials are ECS secrets, never plain environment), got "admin"'],
  ['backend cpu Fargate rejects', () => ({ backendCpu: 1000 }), 'backendCpu must be Fargate CPU units, one of 256, 512, 1024, 2048, 4096, 8192, 16384, got 1000'],
  ['backend memory too small for its cpu', () => ({ backendMemoryMiB: 1024 }),
    'backendMemoryMiB must be a memory size Fargate accepts with backendCpu 1024: 2048–8192 MiB in steps of 1024, got 1024'],
  ['backend memory off the step', () => ({ backendCpu: 8192, backendMemoryMiB: 18432 }),
    'backendMemoryMiB must be a memory size Fargate accepts with backendCpu 8192: 16384–61440 MiB in steps of 4096, got 18432'],
  ['static memory too large for its cpu', () => ({ staticMemoryMiB: 4096 }),
    'staticMemoryMiB must be a memory size Fargate accepts with staticCpu 256: 512–2048 MiB in steps of 512, got 4096'],
  ['ephemeral storage below Fargate minimum', () => ({ backendEphemeralStorageGiB: 10 }), 'backendEphemeralStorageGiB must be an integer from 21 to 200, got 10'],
  ['negative desired count', () => ({ backendDesiredCount: -1 }), 'backendDesiredCount must be an integer from 0 to 100, got -1'],
  ['fractional desired count', () => ({ staticDesiredCount: 1.5 }), 'staticDesiredCount must be an integer from 0 to 100, got 1.5'],
  ['image version with a space', () => ({ backendImageVersion: 'v2 latest' }),
    'backendImageVersion must be an image tag (letters, digits, "_", "." and "-", up to 128), e.g. "v2.5.1", got "v2 latest"'],
  ['image version with a registry', () => ({ staticImageVersion: 'public.ecr.aws/x:y' }),
    'staticImageVersion must be an image tag (letters, digits, "_", "." and "-", up to 128), e.g. "v2.5.1", got "public.ecr.aws/x:y"'],
  ['empty DB host', (f) => ({ database: { ...f.baseProps.database, host: ' ' } }), 'database.host must be the database host name, got " "'],
  ['DB port out of range', (f) => ({ database: { ...f.baseProps.database, port: 70000 } }), 'database.port must be an integer from 1 to 65535, got 70000'],
  ['unknown SSL mode', (f) => ({ database: { ...f.baseProps.database, sslMode: 'on' } }),
    'database.sslMode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "on"'],
  ['bad DB name', (f) => ({ database: { ...f.baseProps.database, name: 'meta-flow' } }), 'database.name must be a PostgreSQL database name, got "meta-flow"'],
  ['DB password through backendEnvironment', () => ({ backendEnvironment: { MF_METADATA_DB_PSWD: 'hunter2' } }),
    'backendEnvironment.MF_METADATA_DB_PSWD must be left unset: the construct sets it (DB credentials are ECS secrets, never plain environment), got "hunter2"'],
  ['bad environment name', () => ({ backendEnvironment: { 'FEATURE-X': '1' } }),
    'backendEnvironment must be environment variable names ([A-Za-z_][A-Za-z0-9_]*), got "FEATURE-X"'],
  ['log bucket with logs off', (f) => ({ accessLogs: false, accessLogsBucket: s3.Bucket.fromBucketName(f.stack, 'Logs', 'logs') }),
    'accessLogs must be true (or unset) when an accessLogsBucket is given, got false'],
  ['log prefix with slashes', () => ({ accessLogsPrefix: '/ui/' }),
    'accessLogsPrefix must be an S3 key prefix without leading or trailing "/" and without "AWSLogs", got "/ui/"'],
];

describe('bad input fails at construction with the construct path, the prop and the value', () => {
  test.each(CASES)('%s', (_what, props, message) => {
    const fixture = uiFixture();
    let error: unknown;
    try {
      new MetaflowUi(fixture.stack, 'Ui', { ...fixture.baseProps, auth: COGNITO(), ...props(fixture) });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MetaflowValidationError);
    expect((error as Error).message).toBe(`Test/Ui: ${message}`);
  });
});

describe('valid edge cases are accepted', () => {
  test.each<[string, Partial<MetaflowUiProps>]>([
    ['the largest Fargate size', { backendCpu: 16384, backendMemoryMiB: 122880 }],
    ['the smallest static size', { staticCpu: 256, staticMemoryMiB: 512 }],
    ['a single host and an IPv6 range', { auth: internal(['198.51.100.7/32', '2001:db8:1::/48']) }],
    ['zero tasks', { backendDesiredCount: 0, staticDesiredCount: 0 }],
  ])('%s', (_what, props) => {
    const fixture = uiFixture();
    expect(() => new MetaflowUi(fixture.stack, 'Ui', { ...fixture.baseProps, auth: INTERNAL(), ...props })).not.toThrow();
  });
});

test('Fargate memory choices match the ECS table', () => {
  expect(fargateMemoryChoices(256)).toEqual([512, 1024, 1536, 2048]);
  expect(fargateMemoryChoices(512)).toEqual([1024, 2048, 3072, 4096]);
  expect(fargateMemoryChoices(4096)?.[0]).toBe(8192);
  expect(fargateMemoryChoices(4096)?.slice(-1)[0]).toBe(30720);
  expect(fargateMemoryChoices(16384)?.length).toBe(12);
  expect(fargateMemoryChoices(3000)).toBeUndefined();
});

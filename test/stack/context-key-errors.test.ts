import { CONTEXT_KEYS } from '../../lib/stack/stack-context';
import { MetaflowValidationError } from '../../lib/validation';
import { appFromContext } from '../support/synth';

/**
 * A bad `-c` value for every context key, with whatever other keys it needs, and the value the
 * one-line error must quote. Each error must name the `-c` key (not a construct prop).
 */
const BAD_VALUES: Record<string, { context: Record<string, string>; quoted: string }> = {
  stackName: { context: { stackName: '9lives' }, quoted: '"9lives"' },
  nag: { context: { nag: 'maybe' }, quoted: '"maybe"' },
  maxAzs: { context: { maxAzs: '7' }, quoted: '"7"' },
  availabilityZones: { context: { availabilityZones: 'us-east-1a' }, quoted: 'us-east-1a' },
  natGateways: { context: { natGateways: 'abc' }, quoted: '"abc"' },
  computeSubnets: { context: { computeSubnets: 'dmz' }, quoted: '"dmz"' },
  interfaceEndpoints: { context: { interfaceEndpoints: 'x' }, quoted: '"x"' },
  imageCache: { context: { imageCache: 'x' }, quoted: '"x"' },
  dockerHubCredentialArn: { context: { dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf' }, quoted: '"arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf"' },
  vpcCidr: { context: { vpcCidr: '10.0.0.0/8' }, quoted: '"10.0.0.0/8"' },
  flowLogs: { context: { flowLogs: 'yes' }, quoted: '"yes"' },
  gatewayEndpoints: { context: { gatewayEndpoints: 'yes' }, quoted: '"yes"' },
  gatewayEndpointPolicy: { context: { gatewayEndpointPolicy: 'closed' }, quoted: '"closed"' },
  bucketName: { context: { bucketName: 'Bad_Bucket' }, quoted: '"Bad_Bucket"' },
  existingBucketName: { context: { existingBucketName: 'Bad_Bucket' }, quoted: '"Bad_Bucket"' },
  encryption: { context: { encryption: 'aes' }, quoted: '"aes"' },
  kmsKeyArn: { context: { encryption: 'kms', kmsKeyArn: 'garbage' }, quoted: '"garbage"' },
  versioned: { context: { versioned: 'no' }, quoted: '"no"' },
  noncurrentVersionExpirationDays: { context: { noncurrentVersionExpirationDays: '30' }, quoted: '"30"' },
  accessLogs: { context: { accessLogs: 'x' }, quoted: '"x"' },
  removalPolicy: { context: { removalPolicy: 'keep' }, quoted: '"keep"' },
  spot: { context: { spot: 'x' }, quoted: '"x"' },
  spotMaxvCpus: { context: { spotMaxvCpus: '0' }, quoted: '"0"' },
  onDemand: { context: { onDemand: 'x' }, quoted: '"x"' },
  onDemandMaxvCpus: { context: { onDemandMaxvCpus: '0' }, quoted: '"0"' },
  minvCpus: { context: { minvCpus: '500' }, quoted: '"500"' },
  instanceTypes: { context: { instanceTypes: 'm6i,m5.lrage' }, quoted: 'm5.lrage' },
  gpu: { context: { gpu: 'x' }, quoted: '"x"' },
  gpuMaxvCpus: { context: { gpuMaxvCpus: '0' }, quoted: '"0"' },
  gpuInstanceTypes: { context: { gpuInstanceTypes: 'm5.large' }, quoted: 'm5.large' },
  gpuImageType: { context: { gpuImageType: 'al2' }, quoted: '"al2"' },
  teams: { context: { teams: 'ml:x' }, quoted: '"ml:x"' },
  gpuSpot: { context: { gpu: 'false', gpuSpot: 'true' }, quoted: '"true"' },
  fargate: { context: { fargate: 'x' }, quoted: '"x"' },
  fargateSpot: { context: { fargateSpot: 'x' }, quoted: '"x"' },
  fargateMaxvCpus: { context: { fargate: 'true', fargateMaxvCpus: '0' }, quoted: '"0"' },
  rootVolumeGiB: { context: { rootVolumeGiB: '10' }, quoted: '"10"' },
  runnableTimeoutMinutes: { context: { runnableTimeoutMinutes: '5' }, quoted: '"5"' },
  capacityTimeoutMinutes: { context: { capacityTimeoutMinutes: '5' }, quoted: '"5"' },
  metadataService: { context: { metadataService: 'x' }, quoted: '"x"' },
  metadataServiceVersion: { context: { metadataServiceVersion: 'bad tag!' }, quoted: '"bad tag!"' },
  metadataServiceDesiredCount: { context: { metadataServiceDesiredCount: '101' }, quoted: '"101"' },
  dbInstanceType: { context: { dbInstanceType: 'large' }, quoted: '"large"' },
  dbEngineVersion: { context: { dbEngineVersion: '17.9.1' }, quoted: '"17.9.1"' },
  dbMultiAz: { context: { dbMultiAz: 'x' }, quoted: '"x"' },
  dbDeletionProtection: { context: { dbDeletionProtection: 'x' }, quoted: '"x"' },
  dbRemovalPolicy: { context: { dbRemovalPolicy: 'keep' }, quoted: '"keep"' },
  apiRateLimit: { context: { apiRateLimit: '0' }, quoted: '"0"' },
  apiBurstLimit: { context: { apiBurstLimit: '0' }, quoted: '"0"' },
  apiCloudWatchRole: { context: { apiCloudWatchRole: 'x' }, quoted: '"x"' },
  webAclArn: { context: { webAclArn: 'acl' }, quoted: '"acl"' },
  stepFunctions: { context: { stepFunctions: 'x' }, quoted: '"x"' },
  stateMachinePrefix: { context: { stateMachinePrefix: 'a b' }, quoted: '"a b"' },
  monitoring: { context: { monitoring: 'x' }, quoted: '"x"' },
  alarmEmail: { context: { alarmEmail: 'ops' }, quoted: '"ops"' },
  alarmTopicArn: { context: { alarmTopicArn: 'ops-alarms' }, quoted: '"ops-alarms"' },
  failedJobsAlarmThreshold: { context: { monitoring: 'false', failedJobsAlarmThreshold: '5' }, quoted: '"5"' },
  userAccessPolicy: { context: { userAccessPolicy: 'x' }, quoted: '"x"' },
  batchContainerImage: { context: { batchContainerImage: 'my image' }, quoted: '"my image"' },
  batchContainerRegistry: { context: { batchContainerRegistry: 'my registry' }, quoted: '"my registry"' },
  ui: { context: { ui: 'x' }, quoted: '"x"' },
  uiAuth: { context: { ui: 'true', uiAuth: 'basic' }, quoted: '"basic"' },
  uiAllowedCidrs: { context: { ui: 'true', uiAllowedCidrs: '0.0.0.0/0' }, quoted: '0.0.0.0/0' },
  uiCertificateArn: { context: { ui: 'true', uiAuth: 'cognito', uiDomainName: 'metaflow.example.com', uiCertificateArn: 'cert' }, quoted: '"cert"' },
  uiDomainName: { context: { ui: 'true', uiAuth: 'cognito', uiDomainName: 'not a domain', uiCertificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012' }, quoted: '"not a domain"' },
  uiVersion: { context: { ui: 'true', uiAllowedCidrs: '10.0.0.0/8', uiVersion: 'bad tag!' }, quoted: '"bad tag!"' },
  permissionsBoundaryArn: { context: { permissionsBoundaryArn: 'Boundary' }, quoted: '"Boundary"' },
};

test('the table covers every context key', () => {
  expect(Object.keys(BAD_VALUES).sort()).toEqual(CONTEXT_KEYS.map((spec) => spec.key).sort());
});

describe.each(Object.keys(BAD_VALUES))('-c %s with a bad value', (key) => {
  test('one line naming the -c key and the value', () => {
    const { context, quoted } = BAD_VALUES[key];
    let error: unknown;
    try {
      appFromContext(context);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MetaflowValidationError);
    const message = (error as Error).message;
    expect(message).toMatch(new RegExp(`^context key ${key}: `));
    expect(message).toContain(quoted);
    expect(message).not.toContain('\n');
  });
});

test('a switch turned off needs nothing else: -c ui=false and -c gpuSpot=false pass without the keys they need when on', () => {
  expect(() => appFromContext({ nag: 'false', ui: 'false', metadataService: 'false', gpu: 'false', gpuSpot: 'false' })).not.toThrow();
});

test.each([
  [{ natGateways: '0' }, 'context key dockerHubCredentialArn: required with -c natGateways=0 and private compute (the metadata service image is on Docker Hub'],
  [{ natGateways: '0', imageCache: 'false' }, 'context key imageCache: false needs a route to Docker Hub'],
  [{ computeSubnets: 'public' }, 'context key computeSubnets: "public" needs -c natGateways=0'],
  [{ natGateways: '0', interfaceEndpoints: 'false', dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/dockerhub-AbCdEf' }, 'context key interfaceEndpoints: expected true (or unset) when compute runs in isolated subnets'],
])('network keys that do not go together: %j is one line', (context, message) => {
  expect(() => appFromContext({ nag: 'false', ...context })).toThrow(message);
});

import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DatastoreEncryption, MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { emptyStack, resourcesOf } from '../support/synth';

function datastoreBucket(template: Template): { id: string; props: Record<string, any>; resource: any } {
  const buckets = Object.entries(template.findResources('AWS::S3::Bucket'))
    .filter(([, b]: [string, any]) => b.Properties?.LoggingConfiguration !== undefined || b.Properties?.VersioningConfiguration !== undefined || !String(JSON.stringify(b.Properties)).includes('expire-access-logs'));
  const [id, resource] = buckets.find(([bucketId]) => bucketId.startsWith('DatastoreBucket'))!;
  return { id, props: (resource as any).Properties, resource };
}

function grantedStatements(stack: Stack, grant: (role: iam.Role) => void): any[] {
  const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com') });
  grant(role);
  const [, policy] = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Policy')[0];
  return policy.Properties.PolicyDocument.Statement;
}

describe('MetaflowDatastore defaults', () => {
  const stack = emptyStack();
  const datastore = new MetaflowDatastore(stack, 'Datastore');
  const template = Template.fromStack(stack);
  const bucket = datastoreBucket(template);

  test('SSE-S3, public access blocked, bucket-owner-enforced, no versioning', () => {
    expect(bucket.props.BucketEncryption).toEqual({ ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    expect(bucket.props.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    expect(bucket.props.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(bucket.props.VersioningConfiguration).toBeUndefined();
  });

  test('sends its events to EventBridge (flow triggers need it), on the bucket itself: no notifications custom resource or Lambda', () => {
    expect(bucket.props.NotificationConfiguration).toEqual({ EventBridgeConfiguration: { EventBridgeEnabled: true } });
    template.resourceCountIs('Custom::S3BucketNotifications', 0);
    template.resourceCountIs('AWS::Lambda::Function', 0);
  });

  test('retained on stack deletion, not emptied', () => {
    expect(bucket.resource.DeletionPolicy).toBe('Retain');
    expect(bucket.resource.UpdateReplacePolicy).toBe('Retain');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
  });

  test('bucket policy denies non-TLS and TLS < 1.2', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucket.id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  test('server access logs go to a created, TLS-only, SSE-S3 log bucket', () => {
    expect(bucket.props.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: expect.stringMatching(/^DatastoreAccessLogs/) }, LogFilePrefix: 'datastore/' });
    expect(datastore.accessLogsBucket).toBeDefined();
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire-access-logs', ExpirationInDays: 365 })] },
    });
  });

  test('incomplete multipart uploads are aborted after 7 days', () => {
    expect(bucket.props.LifecycleConfiguration.Rules).toEqual([
      { Id: 'abort-incomplete-multipart-uploads', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' },
    ]);
  });

  test('exposes the Metaflow roots', () => {
    expect(stack.resolve(datastore.datastoreSysrootS3)).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: bucket.id }, '/metaflow']] });
    expect(stack.resolve(datastore.datatoolsS3Root)).toEqual({ 'Fn::Join': ['', ['s3://', { Ref: bucket.id }, '/data']] });
  });
});

describe('MetaflowDatastore options', () => {
  test('SSE-KMS with a created key that rotates, bucket key on', () => {
    const stack = emptyStack();
    const datastore = new MetaflowDatastore(stack, 'Datastore', { encryption: DatastoreEncryption.KMS });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(datastoreBucket(template).props.BucketEncryption.ServerSideEncryptionConfiguration[0]).toEqual({
      BucketKeyEnabled: true,
      ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: { 'Fn::GetAtt': [expect.stringMatching(/^DatastoreKey/), 'Arn'] } },
    });
    expect(datastore.encryptionKey).toBeDefined();
  });

  test('SSE-KMS with a given key creates no key', () => {
    const stack = emptyStack();
    const key = kms.Key.fromKeyArn(stack, 'Given', 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555');
    new MetaflowDatastore(stack, 'Datastore', { encryption: DatastoreEncryption.KMS, encryptionKey: key });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 0);
    expect(datastoreBucket(template).props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID)
      .toBe('arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555');
  });

  test('versioning with non-current version expiry and extra lifecycle rules', () => {
    const stack = emptyStack();
    new MetaflowDatastore(stack, 'Datastore', {
      versioned: true,
      noncurrentVersionExpiration: Duration.days(30),
      lifecycleRules: [{ id: 'expire-data', prefix: 'data/', expiration: Duration.days(90) }],
    });
    const props = datastoreBucket(Template.fromStack(stack)).props;
    expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(props.LifecycleConfiguration.Rules.map((r: any) => r.Id)).toEqual(['abort-incomplete-multipart-uploads', 'expire-noncurrent-versions', 'expire-data']);
    expect(props.LifecycleConfiguration.Rules[1].NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 30 });
  });

  test('DESTROY removes and empties both buckets', () => {
    const stack = emptyStack();
    new MetaflowDatastore(stack, 'Datastore', { removalPolicy: RemovalPolicy.DESTROY });
    const template = Template.fromStack(stack);
    for (const [, b] of Object.entries(template.findResources('AWS::S3::Bucket'))) expect((b as any).DeletionPolicy).toBe('Delete');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    // The log bucket is emptied only after the datastore bucket (whose emptying writes access logs):
    // CloudFormation deletes a resource before the ones it depends on.
    const autoDeletes = template.findResources('Custom::S3AutoDeleteObjects');
    const idOf = (prefix: string) => Object.keys(autoDeletes).find((id) => id.startsWith(prefix))!;
    const [emptyData, emptyLogs] = [idOf('DatastoreBucketAutoDelete'), idOf('DatastoreAccessLogsAutoDelete')];
    expect([autoDeletes[emptyData].DependsOn].flat()).toContain(emptyLogs);
    expect([autoDeletes[emptyLogs].DependsOn].flat()).not.toContain(emptyData);
  });

  test('access logs off, or to a given bucket', () => {
    const off = emptyStack();
    new MetaflowDatastore(off, 'Datastore', { serverAccessLogs: false });
    Template.fromStack(off).resourceCountIs('AWS::S3::Bucket', 1);

    const given = emptyStack();
    const logs = new s3.Bucket(given, 'Logs', { enforceSSL: true });
    new MetaflowDatastore(given, 'Datastore', { serverAccessLogsBucket: logs });
    const template = Template.fromStack(given);
    template.resourceCountIs('AWS::S3::Bucket', 2);
    expect(datastoreBucket(template).props.LoggingConfiguration.DestinationBucketName).toEqual({ Ref: expect.stringMatching(/^Logs/) });
  });

  test('custom prefixes and bucket name', () => {
    const stack = emptyStack();
    const datastore = new MetaflowDatastore(stack, 'Datastore', { bucketName: 'my-flows', sysrootPrefix: 'mf/root', datatoolsPrefix: 'mf/data' });
    expect(datastoreBucket(Template.fromStack(stack)).props.BucketName).toBe('my-flows');
    expect(stack.resolve(datastore.datastoreSysrootS3)['Fn::Join'][1][2]).toBe('/mf/root');
  });
});

test('works in an app without the recommended S3 access-log flag (log bucket takes the ACL then)', () => {
  const stack = new Stack(new App(), 'Legacy');
  new MetaflowDatastore(stack, 'Datastore');
  const template = Template.fromStack(stack);
  template.hasResourceProperties('AWS::S3::Bucket', { OwnershipControls: { Rules: [{ ObjectOwnership: 'ObjectWriter' }] } });
  template.hasResourceProperties('AWS::S3::Bucket', { LoggingConfiguration: { LogFilePrefix: 'datastore/' } });
});

describe('MetaflowDatastore grants are scoped to the two roots', () => {
  test('read/write: object actions only under metaflow/* and data/*, list only those prefixes, no wildcard actions', () => {
    const stack = emptyStack();
    const datastore = new MetaflowDatastore(stack, 'Datastore', { serverAccessLogs: false });
    const statements = grantedStatements(stack, (role) => datastore.grantReadWrite(role));
    const objects = statements.find((s) => (s.Action as string[]).includes('s3:PutObject'));
    expect([...objects.Action].sort()).toEqual(['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:GetObjectAttributes', 's3:GetObjectVersion', 's3:ListMultipartUploadParts', 's3:PutObject']);
    expect(stack.resolve(objects.Resource).map((r: any) => r['Fn::Join'][1][1]).sort()).toEqual(['/data/*', '/metaflow/*']);
    const list = statements.find((s) => s.Action === 's3:ListBucket');
    expect(list.Condition).toEqual({ StringLike: { 's3:prefix': ['metaflow', 'metaflow/*', 'data', 'data/*'] } });
    expect(list.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^DatastoreBucket/), 'Arn'] });
    for (const s of statements) for (const a of [s.Action].flat()) expect(a).not.toContain('*');
  });

  test('read-only grant has no write actions; KMS grants follow the key', () => {
    const stack = emptyStack();
    const datastore = new MetaflowDatastore(stack, 'Datastore', { encryption: DatastoreEncryption.KMS, serverAccessLogs: false });
    const statements = grantedStatements(stack, (role) => datastore.grantRead(role));
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions).not.toContain('s3:PutObject');
    expect(actions).toContain('kms:Decrypt');
    expect(actions).not.toContain('kms:GenerateDataKey');
  });

  test('grants return an iam.Grant that succeeded', () => {
    const stack = emptyStack();
    const datastore = new MetaflowDatastore(stack, 'Datastore');
    const role = new iam.Role(stack, 'R', { assumedBy: new iam.AccountRootPrincipal() });
    expect(datastore.grantReadWrite(role).success).toBe(true);
  });

  test('an imported bucket grants the same scoped access', () => {
    const stack = emptyStack();
    const datastore = MetaflowDatastore.fromBucketName(stack, 'Existing', 'team-flows');
    expect(datastore.datastoreSysrootS3).toBe('s3://team-flows/metaflow');
    expect(datastore.datatoolsS3Root).toBe('s3://team-flows/data');
    const statements = grantedStatements(stack, (role) => datastore.grantReadWrite(role));
    const objects = statements.find((s) => (s.Action as string[]).includes('s3:PutObject'));
    const suffixes = stack.resolve(objects.Resource).map((r: any) => r['Fn::Join'][1][2]).sort();
    expect(suffixes).toEqual([':s3:::team-flows/data/*', ':s3:::team-flows/metaflow/*']);
  });
});

describe('MetaflowDatastore bad input', () => {
  test('an imported bucket name is checked too', () => {
    expect(() => MetaflowDatastore.fromBucketName(emptyStack(), 'Imported', 'x')).toThrow(/Test: Imported bucketName must be an S3 bucket name .*got "x"/);
  });

  test.each([
    ['a key without KMS encryption', (s: Stack) => ({ encryptionKey: new kms.Key(s, 'K') }), /Test\/Datastore: encryption must be DatastoreEncryption.KMS when an encryptionKey is given, got "S3_MANAGED"/],
    ['an unknown encryption', () => ({ encryption: 'AES' as DatastoreEncryption }), /encryption must be one of S3_MANAGED, KMS, got "AES"/],
    ['non-current expiry without versioning', () => ({ noncurrentVersionExpiration: Duration.days(3) }), /versioned must be true when noncurrentVersionExpiration is given, got undefined/],
    ['a log bucket with logs off', (s: Stack) => ({ serverAccessLogs: false, serverAccessLogsBucket: new s3.Bucket(s, 'L') }), /serverAccessLogs must be true \(or unset\)/],
    ['a prefix with a slash', () => ({ sysrootPrefix: '/metaflow/' }), /sysrootPrefix must be an S3 key prefix without leading or trailing "\/".*got "\/metaflow\/"/],
    ['equal prefixes', () => ({ sysrootPrefix: 'x', datatoolsPrefix: 'x' }), /datatoolsPrefix must be different from sysrootPrefix "x", got "x"/],
    ['an upper-case bucket name', () => ({ bucketName: 'Team_Flows' }), /Test\/Datastore: bucketName must be an S3 bucket name .*got "Team_Flows"/],
    ['a bucket name like an IP address', () => ({ bucketName: '10.0.0.1' }), /bucketName must be an S3 bucket name .*got "10.0.0.1"/],
    ['a bucket name with ".."', () => ({ bucketName: 'team..flows' }), /bucketName must be an S3 bucket name .*got "team..flows"/],
  ])('%s', (_name, props, message) => {
    const stack = emptyStack();
    expect(() => new MetaflowDatastore(stack, 'Datastore', props(stack))).toThrow(message);
  });
});

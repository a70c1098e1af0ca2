import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnResource, Lazy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct, IDependable } from 'constructs';
import { minimalCodePackage } from '../../runner/task-runtime/minimal-package';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, managedPolicyFinding } from '../nag/acknowledgements';

/** The id aws-cdk-lib gives AwsCustomResource's singleton function in a stack. */
const AWS_CUSTOM_RESOURCE_SINGLETON = 'AWS679f53fac002430cb0da5b7982bd2287';

/** Where a flow's code package comes from. */
export interface FlowCodePackageSource {
  /**
   * The folder to pack at synth, as `metaflow-cdk run --compute batch` packs a flow's folder
   * (runner/package: hidden, build and .gitignored files left out; the task runtime added): its
   * steps' `python3 train.py` finds `train.py`. Not with `file`.
   *
   * @default - `file`, else a package of the task runtime alone
   */
  readonly directory?: string;
  /**
   * A code package built beforehand: a gzipped tar holding the task runtime (`_mfcdk/`) and the
   * flow's files. Not with `directory`.
   *
   * @default - `directory`, else a package of the task runtime alone, packed at synth (steps that use only their image)
   */
  readonly file?: string;
}

/**
 * Pack `directory` now, synchronously (a construct runs at synth): the asynchronous packer runs in
 * a child process (runner/package/pack-main), from dist/ as JavaScript, from the sources with tsx.
 * Its one-line error becomes the thrown message.
 */
export function packDirectorySync(directory: string, outFile: string, runtimeFiles: Readonly<Record<string, string>> = {}): string {
  const compiled = join(__dirname, '..', '..', 'runner', 'package', 'pack-main.js');
  const args = existsSync(compiled)
    ? [compiled]
    : [require.resolve('tsx/cli'), join(__dirname, '..', '..', 'runner', 'package', 'pack-main.ts')];
  try {
    const extra = Object.keys(runtimeFiles).length > 0 ? [join(mkdtempSync(join(tmpdir(), 'mfcdk-runtime-')), 'files.json')] : [];
    if (extra.length > 0) writeFileSync(extra[0], JSON.stringify(runtimeFiles));
    return execFileSync(process.execPath, [...args, directory, outFile, '', ...extra], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n').pop() ?? '';
    throw new Error(`codePackage.directory ${directory} could not be packed: ${stderr.replace(/^metaflow-cdk: /, '') || (err as Error).message}`);
  }
}

/**
 * A flow's code package in its datastore: shipped as a CDK file asset (in the bootstrap bucket,
 * which job roles cannot read) and copied at deploy by an S3 CopyObject call to the
 * content-addressed key every job's loader downloads, `<sysroot>/<flow>/data/<sha[:2]>/<sha1>`.
 * The copy's role may read that one asset object and write that one key.
 */
export class FlowCodePackage extends Construct {
  /** `s3://<bucket>/<sysroot>/<flow>/data/<sha[:2]>/<sha1>`. */
  public readonly url: string;
  /** The package's sha1. */
  public readonly sha1: string;
  /** The copy: whatever runs jobs must depend on it. */
  public readonly copy: IDependable;
  /** The role of the function that copies it. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: { datastore: IMetaflowDatastore; flowName: string; source: FlowCodePackageSource; runtimeFiles?: Readonly<Record<string, string>> }) {
    super(scope, id);
    let file = props.source.file;
    let body: Buffer;
    if (props.source.directory !== undefined) {
      file = join(mkdtempSync(join(tmpdir(), 'mfcdk-code-')), 'package.tgz');
      packDirectorySync(props.source.directory, file, props.runtimeFiles);
      body = readFileSync(file);
    } else if (file === undefined) {
      const built = minimalCodePackage(props.runtimeFiles);
      body = built.body;
      file = join(mkdtempSync(join(tmpdir(), 'mfcdk-code-')), `${built.sha1}.tgz`);
      writeFileSync(file, body);
    } else {
      body = readFileSync(file);
    }
    this.sha1 = createHash('sha1').update(body).digest('hex');
    const { bucket, sysrootPrefix } = props.datastore;
    const key = `${sysrootPrefix}/${props.flowName}/data/${this.sha1.slice(0, 2)}/${this.sha1}`;
    this.url = `s3://${bucket.bucketName}/${key}`;

    const asset = new s3assets.Asset(this, 'Asset', { path: file });
    const call: cr.AwsSdkCall = {
      service: 'S3',
      action: 'copyObject',
      parameters: { Bucket: bucket.bucketName, Key: key, CopySource: `${asset.s3BucketName}/${asset.s3ObjectKey}` },
      // The key is the content: a new package is a new resource; the old key stays for runs that use it.
      physicalResourceId: cr.PhysicalResourceId.of(key),
    };
    const statements = [
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [Stack.of(this).formatArn({ service: 's3', region: '', account: '', resource: asset.s3BucketName, resourceName: asset.s3ObjectKey })] }),
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects(key)] }),
    ];
    if (props.datastore.encryptionKey) {
      statements.push(new iam.PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [props.datastore.encryptionKey.keyArn] }));
    }
    // The copy function's own role (CloudWatch Logs, and the statements above on this one object).
    this.role = new iam.Role(this, 'CopyRole', {
      description: `Copies the code package of flow ${props.flowName} into the Metaflow datastore at deploy`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
    });
    acknowledge(this.role, [managedPolicyFinding(this, iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole').managedPolicyArn)],
      'AWS-maintained Lambda execution policy (CloudWatch Logs); it carries no data access.');
    this.copy = new cr.AwsCustomResource(this, 'Copy', {
      onCreate: call,
      onUpdate: call,
      policy: cr.AwsCustomResourcePolicy.fromStatements(statements),
      installLatestAwsSdk: false,
      role: this.role,
    });
    this.dropFunctionRoleDependsOn();
  }

  /**
   * The copy's function (a singleton of the stack) depends on its role explicitly, which its
   * `Role` GetAtt already implies: cfn-lint W3005. Its other dependencies (the role's policy) stay.
   */
  private dropFunctionRoleDependsOn(): void {
    const fn = Stack.of(this).node.tryFindChild(AWS_CUSTOM_RESOURCE_SINGLETON)?.node.defaultChild;
    const role = this.role.node.defaultChild;
    if (!CfnResource.isCfnResource(fn) || !CfnResource.isCfnResource(role)) return;
    fn.addOverride('DependsOn', Lazy.list({
      produce: () => fn.obtainDependencies()
        .filter((d): d is CfnResource => CfnResource.isCfnResource(d) && d.logicalId !== role.logicalId && !(d instanceof iam.CfnRole))
        .map((d) => d.logicalId)
        .sort(),
    }, { omitEmpty: true }));
  }
}

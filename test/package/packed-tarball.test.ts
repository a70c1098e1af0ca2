import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCdkApp, sharedPackedPackage, REPO_ROOT, run } from '../../scripts/packed-app';

/**
 * The package as a user gets it (scripts/packed-app.ts): `npm pack`, then an app made by
 * `cdk init app --language typescript` that installs the tarball offline, composes the
 * constructs into its own stack on an existing VPC, type-checks and synthesizes with its own
 * tools; then the installed CLI runs a TypeScript flow written in the app.
 */
const BIN = join(REPO_ROOT, 'node_modules', '.bin');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

let work: string;
let app: string;
let filesInTarball: readonly string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'metaflow-cdk-pack-'));
  const tarball = sharedPackedPackage(work);
  filesInTarball = tarball.files;
  app = join(work, 'my-app');
  createCdkApp(app, tarball.file);
  // A flow file in the app (type-checked with the app, run by the installed CLI).
  mkdirSync(join(app, 'flows'));
  writeFileSync(join(app, 'flows', 'three-steps.ts'), THREE_STEP_FLOW);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  test('ships the compiled code, typings, source maps and the prebuilt Lambda handlers, and nothing for development', () => {
    expect(filesInTarball).toEqual(expect.arrayContaining([
      'package.json', 'README.md', 'API.md', 'LICENSE', 'docs/runner.md', 'docs/architecture.svg',
      'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/index.js.map',
      'dist/runner/index.js', 'dist/runner/index.d.ts', 'dist/runner/cli/bin.js',
      'dist/lib/metadata/migration-handler/bundle/index.js',
      'dist/lib/monitoring/queue-metrics-handler/bundle/index.js',
    ]));
    const unwanted = filesInTarball.filter((f) => /^(test|bench|examples|cdk\.out|node_modules|scripts|\.ci|bin)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    expect(unwanted).toEqual([]);
  });

  test('every file the README links to is in the tarball (npm shows the README with the package)', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
    expect(targets).toEqual(expect.arrayContaining(['API.md', 'docs/runner.md']));
    expect(targets.filter((t) => !filesInTarball.includes(t))).toEqual([]);
  });

  test('an app made by `cdk init` composes the constructs on an existing VPC, type-checks and synthesizes', () => {
    writeFileSync(join(app, 'lib', 'my-app-stack.ts'), `import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { MetaflowBatchCompute, MetaflowDatastore, MetaflowMonitoring, MigrationRunner, defineFlow } from 'metaflow-cdk';

export class MyAppStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'ExistingVpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0aaaaaaaaaaaaaaa2'],
    });
    const datastore = new MetaflowDatastore(this, 'Datastore');
    const compute = new MetaflowBatchCompute(this, 'Compute', { vpc, datastore });
    new cdk.CfnOutput(this, 'JobQueue', { value: compute.defaultQueue.jobQueueArn });
    new MigrationRunner(this, 'Migrations', { vpc, migrationServiceUrl: 'http://internal-nlb:8082', trigger: 'v1' });
    new MetaflowMonitoring(this, 'Monitoring', { compute });
  }
}

/** The root entry also exports defineFlow (flow files use 'metaflow-cdk/runner'). */
export const inlineFlow = defineFlow({ name: 'InlineFlow', steps: [{ name: 'start', command: ['true'] }] });
`);
    writeFileSync(join(app, 'bin', 'my-app.ts'), `#!/usr/bin/env node
import * as cdk from 'aws-cdk-lib';
import { MyAppStack } from '../lib/my-app-stack';

const app = new cdk.App();
new MyAppStack(app, 'MyAppStack', { env: { account: '123456789012', region: 'eu-west-1' } });
`);
    run(join(BIN, 'tsc'), ['-p', 'tsconfig.json'], app);
    const outdir = join(app, 'cdk.out');
    run(join(app, 'node_modules', '.bin', 'tsx'), ['bin/my-app.ts'], app, { CDK_OUTDIR: outdir });

    const template = JSON.parse(readFileSync(join(outdir, 'MyAppStack.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types).toEqual(expect.arrayContaining(['AWS::S3::Bucket', 'AWS::Batch::ComputeEnvironment', 'AWS::Batch::JobQueue', 'Custom::MetaflowMigrations']));
    const computeEnv = Object.values(template.Resources).find((r) => r.Type === 'AWS::Batch::ComputeEnvironment')!;
    expect(JSON.stringify(computeEnv.Properties)).toContain('subnet-0aaaaaaaaaaaaaaa1');

    // The migration and queue-metrics functions' assets are the bundles the package shipped (no
    // esbuild, no Docker in the app): one index.js each, with a handler.
    const functions = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler');
    expect(functions).toHaveLength(2);
    for (const fn of functions) {
      const assetHash = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
      const assetDir = join(outdir, `asset.${assetHash}`);
      expect(readdirSync(assetDir)).toEqual(['index.js']);
      const source = readFileSync(join(assetDir, 'index.js'), 'utf8');
      expect(source).toMatch(/\bhandler\b/);
    }
  });

  test('the installed CLI prints its version and runs a TypeScript flow written in the app', () => {
    const cli = join(app, 'node_modules', '.bin', 'metaflow-cdk');
    expect(run(cli, ['--version'], app).trim()).toBe(pkg.version);
    const out = run(cli, ['run', 'flows/three-steps.ts', '--root', join(work, 'datastore')], app);
    expect(out).toMatch(/ThreeSteps run \S+ succeeded/);
    expect(out).toContain('[end/0#0] succeeded');
  });
});

const THREE_STEP_FLOW = `import { defineFlow } from 'metaflow-cdk/runner';

export default defineFlow({
  name: 'ThreeSteps',
  steps: [
    { name: 'start', command: ['true'], next: 'middle' },
    { name: 'middle', command: ['true'], next: 'end' },
    { name: 'end', command: ['true'] },
  ],
});
`;

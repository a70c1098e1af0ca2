import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appLockfile } from './app-lockfile';

/**
 * The package as a user gets it: `npm pack` (which builds it through `prepare`), the tarball
 * installed with `npm ci --offline` into an app made by `cdk init app --language typescript`, the
 * constructs composed into the app's own stack on an existing VPC, type-checked and synthesized
 * with the app's own tools; then the installed CLI runs a TypeScript flow written in the app.
 * aws-cdk-lib and constructs (peer dependencies) and the type packages come from this
 * repository's node_modules as symlinks, so nothing is fetched.
 */
const REPO = join(__dirname, '..', '..');
const BIN = join(REPO, 'node_modules', '.bin');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };

let work: string;
let app: string;
let tarball: string;
let filesInTarball: string[] = [];

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 120_000 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'metaflow-cdk-pack-'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], REPO)) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, packed[0].filename);
  filesInTarball = packed[0].files.map((f) => f.path);

  app = join(work, 'my-app');
  mkdirSync(app);
  run(join(BIN, 'cdk'), ['init', 'app', '--language', 'typescript', '--generate-only'], app);
  // The generated package.json lists the template's dev tools (jest, swc, ...), which an offline
  // install cannot fetch: the app depends on the tarball, the rest is linked from this repository.
  const appPackage = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as Record<string, unknown>;
  const spec = `file:${tarball}`;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ ...appPackage, dependencies: { [pkg.name]: spec }, devDependencies: {} }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), appLockfile(REPO, String(appPackage.name), spec));
  run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
  for (const linked of ['aws-cdk-lib', 'constructs', '@types/node', '@types/jest']) {
    mkdirSync(join(app, 'node_modules', linked, '..'), { recursive: true });
    symlinkSync(join(REPO, 'node_modules', linked), join(app, 'node_modules', linked), 'dir');
  }
  // A flow file in the app (type-checked with the app, run by the installed CLI).
  mkdirSync(join(app, 'flows'));
  writeFileSync(join(app, 'flows', 'three-steps.ts'), THREE_STEP_FLOW);
}, 180_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  test('ships the compiled code, typings, source maps and the prebuilt migration handler, and nothing for development', () => {
    expect(filesInTarball).toEqual(expect.arrayContaining([
      'package.json', 'README.md', 'API.md',
      'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/index.js.map',
      'dist/runner/index.js', 'dist/runner/index.d.ts', 'dist/runner/cli/bin.js',
      'dist/lib/metadata/migration-handler/bundle/index.js',
    ]));
    const unwanted = filesInTarball.filter((f) => /^(test|bench|examples|cdk\.out|node_modules|scripts|\.ci|bin)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
    expect(unwanted).toEqual([]);
  });

  test('an app made by `cdk init` composes the constructs on an existing VPC, type-checks and synthesizes', () => {
    writeFileSync(join(app, 'lib', 'my-app-stack.ts'), `import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { MetaflowBatchCompute, MetaflowDatastore, MigrationRunner, defineFlow } from 'metaflow-cdk';

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

    // The migration function's asset is the bundle the package shipped: one index.js with a handler.
    const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler')!;
    const assetHash = String((fn.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');
    const assetDir = join(outdir, `asset.${assetHash}`);
    expect(readdirSync(assetDir)).toEqual(['index.js']);
    const handler = (require(join(assetDir, 'index.js')) as { handler?: unknown }).handler;
    expect(typeof handler).toBe('function');
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

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { acknowledge } from '../../lib/nag/acknowledgements';
import { MetaflowNetwork } from '../../lib/network/metaflow-network';
import { MetaflowUiAuth, MetaflowUiProps } from '../../lib/ui';

export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012';
export const DOMAIN = 'metaflow.example.com';

export const COGNITO = (): MetaflowUiAuth => MetaflowUiAuth.cognito({ certificateArn: CERTIFICATE_ARN, domainName: DOMAIN });
export const INTERNAL = (): MetaflowUiAuth => MetaflowUiAuth.internal({ allowedCidrs: ['10.20.0.0/16', '192.168.1.0/24'] });

/** Everything a MetaflowUi needs, in a stack: network, datastore, cluster and a stand-in database. */
export interface UiFixture {
  app: App;
  stack: Stack;
  vpc: ec2.IVpc;
  network: MetaflowNetwork;
  datastore: MetaflowDatastore;
  cluster: ecs.Cluster;
  dbSecurityGroup: ec2.SecurityGroup;
  dbSecret: secretsmanager.Secret;
  baseProps: Omit<MetaflowUiProps, 'auth'>;
}

/**
 * A stack with the project's network (2 AZs, 1 NAT unless told), a datastore, an ECS cluster (Container Insights on) and a
 * stand-in for the metadata database: a generated credentials secret and a security group.
 */
export function uiFixture(options: { outdir?: string; natGateways?: number } = {}): UiFixture {
  const app = new App({ context: require('../../cdk.json').context, outdir: options.outdir });
  const stack = new Stack(app, 'Test');
  const network = new MetaflowNetwork(stack, 'Network', { natGateways: options.natGateways ?? 1 });
  const vpc = network.vpc;
  const datastore = new MetaflowDatastore(stack, 'Datastore');
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc, containerInsightsV2: ecs.ContainerInsights.ENABLED });
  const dbSecurityGroup = new ec2.SecurityGroup(stack, 'DbSecurityGroup', { vpc, description: 'Stand-in metadata DB', allowAllOutbound: false });
  const dbSecret = new secretsmanager.Secret(stack, 'DbSecret', {
    generateSecretString: { secretStringTemplate: JSON.stringify({ username: 'metaflow' }), generateStringKey: 'password', excludePunctuation: true },
  });
  acknowledge(dbSecret, ['AwsSolutions-SMG4'], 'Stand-in for the metadata database secret, whose rotation is the metadata service construct\'s business.');
  const baseProps: Omit<MetaflowUiProps, 'auth'> = {
    vpc,
    vpcSubnets: network.computeSubnets,
    assignPublicIp: network.computeNeedsPublicIp,
    cluster,
    datastore,
    database: {
      host: 'metaflow-db.abcdefghijkl.us-east-1.rds.amazonaws.com',
      credentials: dbSecret,
      connections: new ec2.Connections({ securityGroups: [dbSecurityGroup] }),
    },
  };
  return { app, stack, network, vpc, datastore, cluster, dbSecurityGroup, dbSecret, baseProps };
}

export interface NagResult {
  error?: Error;
  templatePath: string;
  violations: Array<{ rule: string; path: string }>;
}

/** Synthesize `fixture.app` with cdk-nag AwsSolutions on (the fixture must have an outdir). */
export function synthWithNag(fixture: UiFixture, outdir: string): NagResult {
  Validations.of(fixture.app).addPlugins(new AwsSolutionsChecks(fixture.app));
  let error: Error | undefined;
  try {
    fixture.app.synth();
  } catch (err) {
    error = err as Error;
  }
  const report = join(outdir, 'validation-report.json');
  const violations = existsSync(report)
    ? (JSON.parse(readFileSync(report, 'utf8')) as {
      pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
    }).pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))))
    : [];
  return { error, templatePath: join(outdir, `${fixture.stack.artifactId}.template.json`), violations };
}

/** A fresh output directory. */
export function tempOutdir(): string {
  return mkdtempSync(join(tmpdir(), 'metaflow-ui-'));
}

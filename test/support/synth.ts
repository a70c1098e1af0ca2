import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { buildMetaflowApp, MetaflowApp } from '../../lib/stack/metaflow-app';

/** A bare stack (with the app's recommended feature flags) to put one construct in. */
export function emptyStack(id = 'Test'): Stack {
  const app = new App({ context: require('../../cdk.json').context });
  return new Stack(app, id);
}

/** A stack with a 2-AZ VPC (private + public subnets) and a datastore, for compute tests. */
export function stackWithVpcAndDatastore(): { stack: Stack; vpc: ec2.Vpc; datastore: MetaflowDatastore } {
  const stack = emptyStack();
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const datastore = new MetaflowDatastore(stack, 'Datastore');
  return { stack, vpc, datastore };
}

/** The CDK app exactly as `cdk synth` builds it, from `-c` style context (string values). */
export function appFromContext(context: Record<string, string>, outdir?: string): MetaflowApp {
  const featureFlags = require('../../cdk.json').context as Record<string, unknown>;
  return buildMetaflowApp({ context: { ...featureFlags, ...context }, outdir });
}

/** Template of the app's stack built from context. */
export function templateFromContext(context: Record<string, string> = {}): Template {
  return Template.fromStack(appFromContext({ nag: 'false', ...context }).stack);
}

/** All resources of a type, as [logicalId, resource] pairs. */
export function resourcesOf(template: Template, type: string): Array<[string, { Properties: Record<string, any> }]> {
  return Object.entries(template.findResources(type)) as Array<[string, { Properties: Record<string, any> }]>;
}

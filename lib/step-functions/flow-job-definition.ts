import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { CfnDeletionPolicy, RemovalPolicy } from 'aws-cdk-lib';
import * as batch from 'aws-cdk-lib/aws-batch';
import { Construct } from 'constructs';
import { describeValue } from '../../core/describe-value';

/**
 * A compiled job definition (a RegisterJobDefinition input) as a CloudFormation
 * `AWS::Batch::JobDefinition`.
 *
 * The Batch API and CloudFormation spell job definitions alike (CloudFormation in PascalCase, the
 * SDK and the L1 props in camelCase), so the input is handed to {@link batch.CfnJobDefinition}
 * field for field. The L1 renders only the fields it knows: if it drops one (a field the SDK has
 * and the CloudFormation schema lacks), the job would run differently from what the CLI registers,
 * so the constructor compares what is rendered with what was given and throws on any difference.
 */
export class FlowJobDefinition extends batch.CfnJobDefinition {
  constructor(scope: Construct, id: string, input: RegisterJobDefinitionCommandInput, removalPolicy: RemovalPolicy) {
    super(scope, id, input as unknown as batch.CfnJobDefinitionProps);
    const lost = differences(definedOnly(input), lowerFirstKeys(this.renderProperties(this.cfnProperties)), '');
    if (lost.length > 0) {
      throw new Error(`${this.node.path}: job definition ${describeValue(input.jobDefinitionName)} cannot be expressed in CloudFormation as compiled: ${lost.join('; ')}`);
    }
    // Executions started before a deploy keep submitting the revisions they started with, so an
    // update registers a new revision without deregistering the old one, and a replaced definition
    // (a new content hash is a new name) is left registered. Stack deletion follows removalPolicy.
    this.resourceRetentionPolicy = { skipDeregisterOnUpdate: true };
    this.applyRemovalPolicy(removalPolicy);
    this.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
  }
}

/** `value` without `undefined` object members (the SDK allows them; CloudFormation has no such thing). */
function definedOnly(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(definedOnly);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, definedOnly(v)]));
  }
  return value;
}

/** CloudFormation's PascalCase keys back to the API's camelCase (map keys such as tags are compared the same way on both sides). */
function lowerFirstKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(lowerFirstKeys);
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toLowerCase() + k.slice(1), lowerFirstKeys(v)]));
  }
  return value;
}

/** Where `rendered` lacks or changes what `given` holds: one entry per path. */
function differences(given: unknown, rendered: unknown, path: string): string[] {
  if (isPlainObject(given) && isPlainObject(rendered)) {
    return Object.entries(given).flatMap(([k, v]) => {
      const at = path ? `${path}.${k}` : k;
      const key = k.charAt(0).toLowerCase() + k.slice(1);
      return key in rendered ? differences(v, rendered[key], at) : [`${at} is not a CloudFormation property`];
    });
  }
  if (Array.isArray(given) && Array.isArray(rendered) && given.length === rendered.length) {
    return given.flatMap((v, i) => differences(v, rendered[i], `${path}[${i}]`));
  }
  return JSON.stringify(given) === JSON.stringify(rendered) ? [] : [`${path} renders as ${describeValue(rendered)}, not ${describeValue(given)}`];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * cdk-nag acknowledgements, each with the rule, the construct and the reason. cdk-nag 3 reports
 * one finding per wildcard resource/action or managed policy, with an id built from the
 * *resolved* CloudFormation value (`<LogicalId.Arn>/prefix/*`), so ids are computed here from
 * the same ARN tokens the policies use — they follow renames instead of being hard-coded.
 */

/** Flatten a resolved CloudFormation value the way cdk-nag renders it in finding ids. */
function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  const obj = node as Record<string, unknown>;
  if (obj['Fn::Join']) {
    const [delimiter, items] = obj['Fn::Join'] as [string, unknown[]];
    return items.map(flatten).join(delimiter);
  }
  if (obj['Fn::Sub']) return flatten(obj['Fn::Sub']);
  if (obj['Fn::GetAtt']) {
    const [resource, attribute] = obj['Fn::GetAtt'] as [unknown, unknown];
    return `<${flatten(resource)}.${flatten(attribute)}>`;
  }
  if (obj['Fn::ImportValue']) return flatten(obj['Fn::ImportValue']);
  if (obj.Ref) return `<${flatten(obj.Ref)}>`;
  return JSON.stringify(node);
}

/** The cdk-nag finding id of a wildcard resource ARN (token or literal) in an IAM policy. */
export function wildcardResourceFinding(scope: IConstruct, resourceArn: string): string {
  return `AwsSolutions-IAM5[Resource::${flatten(Stack.of(scope).resolve(resourceArn))}]`;
}

/** The cdk-nag finding id of a wildcard action in an IAM policy. */
export function wildcardActionFinding(action: string): string {
  return `AwsSolutions-IAM5[Action::${action}]`;
}

/** The cdk-nag finding id of an AWS managed policy attached to a role. */
export function managedPolicyFinding(scope: IConstruct, managedPolicyArn: string): string {
  return `AwsSolutions-IAM4[Policy::${flatten(Stack.of(scope).resolve(managedPolicyArn))}]`;
}

/**
 * Acknowledge findings on `scope` (and its children) with one reason. A finding `scope` already
 * acknowledges (two grants on one role can both need `Resource::*`, say) stays one
 * acknowledgement: the new reason is appended to the recorded one instead of recording it twice.
 */
export function acknowledge(scope: IConstruct, findingIds: readonly string[], reason: string): void {
  for (const id of findingIds) {
    const recorded = recordedAcknowledgement(scope, id);
    if (recorded === undefined) {
      Validations.of(scope).acknowledge({ id, reason });
    } else if (!recorded.data[recorded.key].includes(reason)) {
      recorded.data[recorded.key] = `${recorded.data[recorded.key]} ${reason}`;
    }
  }
}

/** The metadata entry (and its key) in which `scope` itself already acknowledges `findingId`. */
function recordedAcknowledgement(scope: IConstruct, findingId: string): { data: Record<string, string>; key: string } | undefined {
  for (const entry of scope.node.metadata) {
    if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
    const data = entry.data as Record<string, string>;
    // Validations records the id qualified with its plugin namespace (`Annotation::AwsSolutions-…`).
    const key = Object.keys(data).find((k) => k === findingId || k.endsWith(`::${findingId}`));
    if (key !== undefined) return { data, key };
  }
  return undefined;
}

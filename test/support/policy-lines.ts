/** Readable, comparable renderings of IAM policy statements in synthesized templates. */

/** A resolved CloudFormation value as one readable string: `<Logical.Attr>`, `<AWS::Region>`. */
export function flat(node: any): string {
  if (typeof node === 'string') return node;
  if (node['Fn::Join']) return node['Fn::Join'][1].map(flat).join(node['Fn::Join'][0]);
  if (node['Fn::GetAtt']) return `<${node['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, '')}.${node['Fn::GetAtt'][1]}>`;
  if (node.Ref) return `<${node.Ref.replace(/[0-9A-F]{8}$/, '')}>`;
  return JSON.stringify(node);
}

/** Statements as `actions => resources [condition]`, one line each, sorted. */
export function statementLines(statements: any[]): string[] {
  return statements.map((s) => {
    const condition = s.Condition ? ` ${JSON.stringify(s.Condition)}` : '';
    return `${[s.Action].flat().sort().join(',')} => ${[s.Resource].flat().map(flat).sort().join(' | ')}${condition}`;
  }).sort();
}

/** How `statementLines` renders the partition-prefix and region:account parts of a formatArn token. */
export const ARN = 'arn:<AWS::Partition>';
export const REGION_ACCOUNT = '<AWS::Region>:<AWS::AccountId>';

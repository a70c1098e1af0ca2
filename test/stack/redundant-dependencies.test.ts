import { withoutRedundantDependsOn } from '../../lib/stack/redundant-dependencies';

describe('withoutRedundantDependsOn', () => {
  test('drops only the entries a Ref, GetAtt or Sub already implies', () => {
    const template = {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', DependsOn: ['Role', 'Policy', 'Bucket'], Properties: { Role: { 'Fn::GetAtt': ['Role', 'Arn'] }, Code: { 'Fn::Sub': 'x-${Bucket}' } } },
        Svc: { Type: 'AWS::ECS::Service', DependsOn: 'Tg', Properties: { LoadBalancers: [{ TargetGroupArn: { Ref: 'Tg' } }] } },
        Keep: { Type: 'X', DependsOn: 'Other', Properties: { A: 'Other' } },
      },
    };
    const cleaned = withoutRedundantDependsOn(template);
    expect(cleaned.Resources.Fn.DependsOn).toEqual(['Policy']);
    expect(cleaned.Resources.Svc.DependsOn).toBeUndefined();
    expect(cleaned.Resources.Keep.DependsOn).toBe('Other');
  });

  test('a dependency only the DependsOn itself names is kept', () => {
    const template = { Resources: { A: { Type: 'X', DependsOn: ['B'], Properties: {} }, B: { Type: 'Y' } } };
    expect(withoutRedundantDependsOn(template).Resources.A.DependsOn).toEqual(['B']);
  });
});

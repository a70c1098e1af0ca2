import { cidrContains, Reachability } from './reachability';

/** A small hand-written template: one VPC, two subnets, groups and interfaces as given. */
function template(resources: Record<string, { Type: string; Properties?: any }>): any {
  return {
    Resources: {
      Vpc: { Type: 'AWS::EC2::VPC', Properties: { CidrBlock: '10.0.0.0/16' } },
      SubnetA: { Type: 'AWS::EC2::Subnet', Properties: { CidrBlock: '10.0.0.0/24' } },
      SubnetB: { Type: 'AWS::EC2::Subnet', Properties: { CidrBlock: '10.0.1.0/24' } },
      ...resources,
    },
  };
}
const group = (props: any = {}) => ({ Type: 'AWS::EC2::SecurityGroup', Properties: { GroupDescription: 'g', VpcId: { Ref: 'Vpc' }, ...props } });
const fn = (sg: string, subnet = 'SubnetA') => ({ Type: 'AWS::Lambda::Function', Properties: { VpcConfig: { SecurityGroupIds: [{ 'Fn::GetAtt': [sg, 'GroupId'] }], SubnetIds: [{ Ref: subnet }] } } });
const vpcCidr = { 'Fn::GetAtt': ['Vpc', 'CidrBlock'] };

test('CIDR containment', () => {
  expect(cidrContains('10.0.0.0/16', '10.0.1.0/24')).toBe(true);
  expect(cidrContains('10.0.1.0/24', '10.0.0.0/16')).toBe(false);
  expect(cidrContains('0.0.0.0/0', '192.168.0.0/24')).toBe(true);
});

test('a group without egress rules gets EC2\'s allow-all egress; ingress needs a rule', () => {
  const r = new Reachability(template({ A: group(), B: group(), Client: fn('A'), Server: fn('B', 'SubnetB') }));
  expect(r.connects(r.endpoint('Client'), r.endpoint('Server'), 443)).toBe(false);
  const open = new Reachability(template({
    A: group(), B: group({ SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: vpcCidr }] }),
    Client: fn('A'), Server: fn('B', 'SubnetB'),
  }));
  expect(open.connects(open.endpoint('Client'), open.endpoint('Server'), 443)).toBe(true);
  expect(open.connects(open.endpoint('Client'), open.endpoint('Server'), 444)).toBe(false);
});

test('group references, separate rule resources, and CDK\'s deny-all egress placeholder', () => {
  const placeholder = [{ CidrIp: '255.255.255.255/32', IpProtocol: 'icmp', FromPort: 252, ToPort: 86 }];
  const resources = {
    A: group({ SecurityGroupEgress: placeholder }), B: group(),
    In: { Type: 'AWS::EC2::SecurityGroupIngress', Properties: { GroupId: { 'Fn::GetAtt': ['B', 'GroupId'] }, IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: { 'Fn::GetAtt': ['A', 'GroupId'] } } },
    Client: fn('A'), Server: fn('B'),
  };
  const r = new Reachability(template(resources));
  expect(r.connects(r.endpoint('Client'), r.endpoint('Server'), 5432)).toBe(false);
  const withEgress = new Reachability(template({
    ...resources,
    Out: { Type: 'AWS::EC2::SecurityGroupEgress', Properties: { GroupId: { 'Fn::GetAtt': ['A', 'GroupId'] }, IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: { 'Fn::GetAtt': ['B', 'GroupId'] } } },
  }));
  expect(withEgress.connects(withEgress.endpoint('Client'), withEgress.endpoint('Server'), 5432)).toBe(true);
  // The outsider in the same subnet does not carry group A.
  expect(withEgress.reachersOf(withEgress.endpoint('Server'), 5432).map((e) => e.id)).toEqual(['Client']);
});

test('an NLB without a group filters nothing; a VPC link needs inbound enforcement off when it has one', () => {
  const nlb = (groups?: string[], enforce?: string) => ({
    Type: 'AWS::ElasticLoadBalancingV2::LoadBalancer',
    Properties: { Type: 'network', Subnets: [{ Ref: 'SubnetA' }], ...(groups ? { SecurityGroups: groups.map((g) => ({ 'Fn::GetAtt': [g, 'GroupId'] })) } : {}), ...(enforce ? { EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic: enforce } : {}) },
  });
  const rest = {
    Target: group({ SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, CidrIp: '10.0.0.0/24' }] }),
    Listener: { Type: 'AWS::ElasticLoadBalancingV2::Listener', Properties: { LoadBalancerArn: { Ref: 'Lb' }, Port: 80, DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: 'Tg' } }] } },
    Tg: { Type: 'AWS::ElasticLoadBalancingV2::TargetGroup', Properties: { Port: 8080, TargetType: 'ip', Protocol: 'TCP' } },
    Service: { Type: 'AWS::ECS::Service', Properties: { LoadBalancers: [{ ContainerPort: 8080, TargetGroupArn: { Ref: 'Tg' } }], NetworkConfiguration: { AwsvpcConfiguration: { SecurityGroups: [{ 'Fn::GetAtt': ['Target', 'GroupId'] }], Subnets: [{ Ref: 'SubnetB' }] } } } },
    Link: { Type: 'AWS::ApiGateway::VpcLink', Properties: { TargetArns: [{ Ref: 'Lb' }] } },
  };
  const plain = new Reachability(template({ Lb: nlb(), ...rest }));
  expect(plain.throughVpcLink(plain.endpoint('Lb'), 80).map((t) => `${t.endpoint.id}:${t.port}`)).toEqual(['Service:8080']);
  expect(plain.healthChecks(plain.endpoint('Lb'))).toEqual([{ target: 'Service', port: 8080, ok: true }]);
  const enforced = new Reachability(template({ Lb: nlb(['LbGroup']), LbGroup: group(), ...rest }));
  expect(enforced.throughVpcLink(enforced.endpoint('Lb'), 80)).toEqual([]);
  const off = new Reachability(template({ Lb: nlb(['LbGroup'], 'off'), LbGroup: group(), ...rest }));
  expect(off.throughVpcLink(off.endpoint('Lb'), 80).map((t) => t.endpoint.id)).toEqual(['Service']);
});

test('a rule on a group the template does not have is an error, not a silent pass', () => {
  expect(() => new Reachability(template({
    In: { Type: 'AWS::EC2::SecurityGroupIngress', Properties: { GroupId: 'sg-0123', IpProtocol: 'tcp', FromPort: 1, ToPort: 1, CidrIp: '0.0.0.0/0' } },
  }))).toThrow(/not in the template/);
});

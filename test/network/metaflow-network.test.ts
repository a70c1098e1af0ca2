import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { GatewayEndpointPolicy, MetaflowNetwork } from '../../lib/network/metaflow-network';
import { emptyStack, resourcesOf } from '../support/synth';

function subnetsByType(template: Template): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [, subnet] of resourcesOf(template, 'AWS::EC2::Subnet')) {
    const tags = subnet.Properties.Tags as Array<{ Key: string; Value: string }>;
    const type = tags.find((t) => t.Key === 'aws-cdk:subnet-type')!.Value;
    counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

describe('MetaflowNetwork', () => {
  test('defaults: 2 AZs, public + private + isolated subnets, 1 NAT, flow logs for all traffic', () => {
    const stack = emptyStack();
    const network = new MetaflowNetwork(stack, 'Network');
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.0.0.0/16' });
    expect(subnetsByType(template)).toEqual({ Public: 2, Private: 2, Isolated: 2 });
    template.resourceCountIs('AWS::EC2::NatGateway', 1);
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL', ResourceType: 'VPC' });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 365 });
    expect(network.computeSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    expect(network.computeNeedsPublicIp).toBe(false);
    expect(network.databaseSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED });
  });

  test('S3 and DynamoDB gateway endpoints on exactly the compute subnets\' route tables, account-scoped, ECR layers and Amazon Linux 2023 repositories readable', () => {
    for (const [natGateways, subnetName, computeSubnetType] of [[1, 'compute', undefined], [0, 'compute', undefined], [0, 'public', ec2.SubnetType.PUBLIC]] as const) {
      const stack = emptyStack();
      new MetaflowNetwork(stack, 'Network', { natGateways, computeSubnetType });
      const endpoints = resourcesOf(Template.fromStack(stack), 'AWS::EC2::VPCEndpoint').map(([, e]) => e.Properties)
        .filter((e) => e.VpcEndpointType === 'Gateway');
      expect(endpoints.map((e) => e.VpcEndpointType)).toEqual(['Gateway', 'Gateway']);
      expect(endpoints.map((e) => JSON.stringify(e.ServiceName))).toEqual([expect.stringContaining('.s3'), expect.stringContaining('.dynamodb')]);
      for (const endpoint of endpoints) {
        expect(endpoint.RouteTableIds).toEqual([
          { Ref: expect.stringMatching(new RegExp(`^NetworkVpc${subnetName}Subnet1RouteTable`)) },
          { Ref: expect.stringMatching(new RegExp(`^NetworkVpc${subnetName}Subnet2RouteTable`)) },
        ]);
        expect(endpoint.PolicyDocument.Statement[0]).toMatchObject({
          Sid: 'ThisAccountsPrincipals', Effect: 'Allow', Principal: { AWS: '*' }, Resource: '*',
          Condition: { StringEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } } },
        });
      }
      expect(endpoints[0].PolicyDocument.Statement.slice(1)).toEqual([{
        Sid: 'EcrImageLayers', Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::prod-', { Ref: 'AWS::Region' }, '-starport-layer-bucket/*']] },
      }, {
        // dnf on Amazon Linux 2023 (hosts, and step images built on it) reads its repositories
        // unsigned from this AWS-owned bucket; the account statement alone would refuse it (403).
        Sid: 'AmazonLinuxRepositories', Effect: 'Allow', Principal: { AWS: '*' }, Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::al2023-repos-', { Ref: 'AWS::Region' }, '-de612dc2/*']] },
      }]);
      expect(endpoints[1].PolicyDocument.Statement).toHaveLength(1);
    }
  });

  test('gateway endpoints: the open policy, or none', () => {
    const open = emptyStack();
    new MetaflowNetwork(open, 'Network', { gatewayEndpointPolicy: GatewayEndpointPolicy.OPEN });
    const endpoints = resourcesOf(Template.fromStack(open), 'AWS::EC2::VPCEndpoint');
    expect(endpoints.map(([, e]) => e.Properties.PolicyDocument)).toEqual([undefined, undefined]);
    const none = emptyStack();
    new MetaflowNetwork(none, 'Network', { gatewayEndpoints: false });
    Template.fromStack(none).resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  test('natGateways 0: no NAT; compute in isolated subnets of its own with the interface endpoints', () => {
    const stack = emptyStack();
    const network = new MetaflowNetwork(stack, 'Network', { natGateways: 0 });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    expect(subnetsByType(template)).toEqual({ Public: 2, Isolated: 4 });
    expect(network.computeSubnets).toEqual({ subnetGroupName: 'compute' });
    expect(network.databaseSubnets).toEqual({ subnetGroupName: 'database' });
    expect(network.computeNeedsPublicIp).toBe(false);
    expect(network.computeIsolated).toBe(true);
    const services = resourcesOf(template, 'AWS::EC2::VPCEndpoint').filter(([, e]) => e.Properties.VpcEndpointType === 'Interface')
      .map(([, e]) => e.Properties.ServiceName['Fn::Join'][1].slice(-1)[0]).sort();
    expect(services).toEqual(['.ecr.api', '.ecr.dkr', '.ecs', '.ecs-agent', '.ecs-telemetry', '.logs', '.secretsmanager', '.sts']);
  });

  test('the compute and database subnets keep their CIDRs whether compute routes through NAT or not', () => {
    const cidrs = (natGateways: number) => {
      const stack = emptyStack();
      new MetaflowNetwork(stack, 'Network', { natGateways });
      return Object.fromEntries(resourcesOf(Template.fromStack(stack), 'AWS::EC2::Subnet').map(([id, s]) => [id.replace(/[A-F0-9]{8}$/, ''), s.Properties.CidrBlock]));
    };
    expect(cidrs(0)).toEqual(cidrs(1));
  });

  test('natGateways 0 with computeSubnetType PUBLIC: the earlier layout, compute in public subnets with public IPs', () => {
    const stack = emptyStack();
    const network = new MetaflowNetwork(stack, 'Network', { natGateways: 0, computeSubnetType: ec2.SubnetType.PUBLIC });
    const template = Template.fromStack(stack);
    expect(subnetsByType(template)).toEqual({ Public: 2, Isolated: 2 });
    expect(network.computeSubnets).toEqual({ subnetType: ec2.SubnetType.PUBLIC });
    expect(network.computeNeedsPublicIp).toBe(true);
    template.hasResourceProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: true });
    expect(resourcesOf(template, 'AWS::EC2::VPCEndpoint').filter(([, e]) => e.Properties.VpcEndpointType === 'Interface')).toEqual([]);
  });

  test('AZs, NAT count and CIDR are honoured; flow logs can be turned off', () => {
    const stack = emptyStack();
    new MetaflowNetwork(stack, 'Network', { availabilityZones: ['us-east-1a', 'us-east-1b', 'us-east-1c'], natGateways: 2, cidr: '10.20.0.0/16', flowLogs: false });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.20.0.0/16' });
    template.resourceCountIs('AWS::EC2::NatGateway', 2);
    expect(subnetsByType(template)).toEqual({ Public: 3, Private: 3, Isolated: 3 });
    template.resourceCountIs('AWS::EC2::FlowLog', 0);
  });

  test.each([['/16', '10.0.0.0/16'], ['/20', '172.16.0.0/20']])('6 AZs fit in a %s VPC with room for every subnet tier', (_n, cidr) => {
    const stack = emptyStack();
    const zones = ['a', 'b', 'c', 'd', 'e', 'f'].map((z) => `us-east-1${z}`);
    new MetaflowNetwork(stack, 'Network', { availabilityZones: zones, natGateways: 1, cidr });
    expect(subnetsByType(Template.fromStack(stack))).toEqual({ Public: 6, Private: 6, Isolated: 6 });
  });

  test('maxAzs 3 in an environment-agnostic stack selects 3 zones at deploy time', () => {
    const stack = emptyStack();
    const network = new MetaflowNetwork(stack, 'Network', { maxAzs: 3 });
    expect(subnetsByType(Template.fromStack(stack))).toEqual({ Public: 3, Private: 3, Isolated: 3 });
    expect(stack.resolve(network.vpc.availabilityZones[2])).toEqual({ 'Fn::Select': [2, { 'Fn::GetAZs': '' }] });
  });

  test('the default security group is stripped of its rules', () => {
    const stack = emptyStack();
    new MetaflowNetwork(stack, 'Network');
    Template.fromStack(stack).hasResourceProperties('Custom::VpcRestrictDefaultSG', { DefaultSecurityGroupId: Match.anyValue() });
  });

  test('an existing VPC is used as is: no new VPC, no flow logs unless asked', () => {
    const stack = emptyStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Existing', {
      vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['a', 'b'], privateSubnetIds: ['s-1', 's-2'], publicSubnetIds: ['s-3', 's-4'],
      privateSubnetRouteTableIds: ['rt-1', 'rt-2'], publicSubnetRouteTableIds: ['rt-3', 'rt-3'],
    });
    const network = new MetaflowNetwork(stack, 'Network', { vpc });
    new ec2.SecurityGroup(stack, 'Workload', { vpc });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 0);
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', { VpcId: 'vpc-0123456789abcdef0' });
    expect(network.vpc).toBe(vpc);
    expect(network.computeSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    expect(network.databaseSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
  });

  test('an existing VPC with only public subnets runs compute in them', () => {
    const stack = emptyStack();
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Existing', { vpcId: 'vpc-0123456789abcdef0', availabilityZones: ['a', 'b'], publicSubnetIds: ['s-3', 's-4'], publicSubnetRouteTableIds: ['rt-3', 'rt-3'] });
    expect(new MetaflowNetwork(stack, 'Network', { vpc }).computeNeedsPublicIp).toBe(true);
  });

  describe('bad input names the construct and the value', () => {
    test.each([
      ['natGateways -1', { natGateways: -1 }, /Test\/Network: natGateways must be an integer from 0 to 16, got -1/],
      ['natGateways 1.5', { natGateways: 1.5 }, /natGateways must be an integer from 0 to 16, got 1.5/],
      ['maxAzs 1', { maxAzs: 1 }, /maxAzs must be an integer from 2 to 6, got 1/],
      ['cidr garbage', { cidr: '10.0.0/16' }, /cidr must be an IPv4 CIDR block .*got "10.0.0\/16"/],
      ['cidr too small', { cidr: '10.0.0.0/24' }, /cidr must be an IPv4 CIDR block from \/16 to \/20, e.g. "10.0.0.0\/16", got "10.0.0.0\/24"/],
      ['one AZ', { availabilityZones: ['us-east-1a'] }, /availabilityZones must be at least 2 Availability Zone names.*got \["us-east-1a"\]/],
      ['AZs and maxAzs', { availabilityZones: ['us-east-1a', 'us-east-1b'], maxAzs: 2 }, /maxAzs must be left unset when availabilityZones are given, got 2/],
    ])('%s', (_name, props, message) => {
      expect(() => new MetaflowNetwork(emptyStack(), 'Network', props)).toThrow(message);
    });

    test('an existing VPC without the subnets compute needs', () => {
      const stack = emptyStack();
      const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Existing', { vpcId: 'vpc-0111111111abcdef0', availabilityZones: ['a', 'b'], publicSubnetIds: ['s-3', 's-4'], publicSubnetRouteTableIds: ['rt-3', 'rt-3'] });
      expect(() => new MetaflowNetwork(stack, 'Network', { vpc, computeSubnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }))
        .toThrow(/Test\/Network: computeSubnetType must be a subnet type the VPC Test\/Existing has \(it has: 2 Public\), got "Private"/);
    });

    test('new-VPC options together with an existing VPC', () => {
      const stack = emptyStack();
      const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Existing', { vpcId: 'vpc-0111111111abcdef0', availabilityZones: ['a', 'b'], publicSubnetIds: ['s-3', 's-4'], publicSubnetRouteTableIds: ['rt-3', 'rt-3'] });
      expect(() => new MetaflowNetwork(stack, 'Network', { vpc, natGateways: 2 })).toThrow(/left unset when an existing vpc is given/);
      expect(() => new MetaflowNetwork(stack, 'Network2', { vpc, gatewayEndpoints: true }))
        .toThrow('Test/Network2: gatewayEndpoints must be left unset with an existing vpc (its route tables belong to its owner), got true');
    });
  });
});

test('flow logs can be added to an existing VPC', () => {
  const stack = emptyStack();
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Existing', {
    vpcId: 'vpc-0999999999abcdef0', availabilityZones: ['a', 'b'], publicSubnetIds: ['s-3', 's-4'], publicSubnetRouteTableIds: ['rt-3', 'rt-3'],
  });
  new MetaflowNetwork(stack, 'Network', { vpc, flowLogs: true });
  Template.fromStack(stack).hasResourceProperties('AWS::EC2::FlowLog', { ResourceId: 'vpc-0999999999abcdef0', TrafficType: 'ALL' });
});

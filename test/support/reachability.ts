/**
 * Network reachability over a synthesized CloudFormation template: who can open a TCP
 * connection to whom, following security-group rules the way EC2 evaluates them.
 *
 * What it models (from the EC2, ELB and API Gateway documentation):
 * - Security groups: inline `SecurityGroupIngress`/`SecurityGroupEgress` of
 *   `AWS::EC2::SecurityGroup`, and `AWS::EC2::SecurityGroupIngress`/`Egress` resources. Peers are
 *   CIDRs (literal, or the VPC's `CidrBlock` / a subnet's `CidrBlock` resolved from the template)
 *   or security groups (`Ref` / `Fn::GetAtt [sg, GroupId]`). A group without inline egress gets
 *   EC2's default allow-all egress; CDK's "disallow all" placeholder matches nothing real.
 *   Rules are allow-only and stateful: a connection needs the client's groups to allow it out
 *   and the server's groups to allow it in.
 * - Network interfaces and the groups they carry: ECS services (`AwsvpcConfiguration`), Lambda
 *   functions (`VpcConfig`), load balancers (`SecurityGroups`; an NLB without groups filters
 *   nothing), Batch compute environments (`SecurityGroupIds`, else the launch template's groups),
 *   RDS instances (`VPCSecurityGroups`, subnets from the subnet group), and an "outsider" in every
 *   subnet (a machine with an allow-all-egress group of its own) to find what is open to a CIDR.
 * - Load balancers: listeners forward to target groups; ECS services register into target
 *   groups on a container port. A client reaches a listener when its egress and the load
 *   balancer's ingress allow it; the load balancer reaches a target when its egress and the
 *   target's ingress allow it (the target sees the load balancer's address: client IP
 *   preservation is off for IP targets over TCP unless `preserve_client_ip.enabled` says
 *   otherwise, in which case the target must admit the client itself). Health checks come from
 *   the load balancer to the health-check port (`traffic-port` by default).
 * - API Gateway VPC links (PrivateLink into an NLB): the NLB's inbound rules do not apply when
 *   `EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic` is `off` or the NLB has no group;
 *   otherwise only a rule open to 0.0.0.0/0 admits it (the sources are API Gateway's).
 *
 * Not modelled: network ACLs (the stack uses the default, allow-all ones), routes (every subnet
 * of a VPC reaches every other), UDP/ICMP, IPv6, prefix lists.
 */

type Json = any;

/** A TCP port range of a rule, inclusive. */
interface PortRange {
  from: number;
  to: number;
}

/** Where a rule lets traffic come from (ingress) or go to (egress). */
type Peer = { kind: 'cidr'; cidr: string } | { kind: 'group'; group: string } | { kind: 'unknown'; raw: unknown };

interface Rule {
  ports: PortRange | 'all' | 'none';
  peer: Peer;
}

interface Group {
  ingress: Rule[];
  egress: Rule[];
}

/** Something with network interfaces in the VPC. */
export interface Endpoint {
  /** Logical id of the resource (or `outsider:<subnet>`). */
  readonly id: string;
  /** What it is, e.g. `ecs-service`, `lambda`, `nlb`, `alb`, `batch`, `rds`, `outsider`. */
  readonly kind: string;
  /** Logical ids of its security groups; `undefined` means it has none (filters nothing). */
  readonly groups?: readonly string[];
  /** CIDRs of the subnets its interfaces may be in. */
  readonly cidrs: readonly string[];
  /** Logical ids of those subnets (where the template names them). */
  readonly subnets?: readonly string[];
  /** For an interface VPC endpoint (`vpce`): the service, e.g. `ecr.dkr`, `logs`. */
  readonly service?: string;
}

/** One listener of a load balancer and what it forwards to. */
export interface ListenerPath {
  readonly loadBalancer: string;
  readonly port: number;
  readonly targetGroup: string;
  readonly targetPort: number;
  /** The port health checks use. */
  readonly healthCheckPort: number;
  readonly preserveClientIp: boolean;
  /** Endpoints registered into the target group, with the port they receive on. */
  readonly targets: ReadonlyArray<{ endpoint: Endpoint; port: number }>;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Parse `a.b.c.d/n` into [first, last] addresses. */
function cidrRange(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipv4ToInt(ip) / size) * size;
  return [start, start + size - 1];
}

/** Does `outer` contain all of `inner`? */
export function cidrContains(outer: string, inner: string): boolean {
  const [a0, a1] = cidrRange(outer);
  const [b0, b1] = cidrRange(inner);
  return a0 <= b0 && b1 <= a1;
}

function overlaps(a: string, b: string): boolean {
  const [a0, a1] = cidrRange(a);
  const [b0, b1] = cidrRange(b);
  return a0 <= b1 && b0 <= a1;
}

/** `com.amazonaws.<region>.ecr.dkr` (a literal or a Fn::Join with the region) → `ecr.dkr`. */
function serviceSuffix(name: Json): string {
  const text = typeof name === 'string' ? name : (name?.['Fn::Join']?.[1] ?? []).map((p: Json) => (typeof p === 'string' ? p : 'REGION')).join('');
  return text.replace(/^com\.amazonaws\.(REGION|[a-z0-9-]+)\./, '');
}

/** The logical id a `Ref` / `Fn::GetAtt` points at. */
function refId(value: Json): string | undefined {
  if (value && typeof value === 'object') {
    if (typeof value.Ref === 'string') return value.Ref;
    if (Array.isArray(value['Fn::GetAtt'])) return value['Fn::GetAtt'][0];
  }
  return undefined;
}

export class Reachability {
  private readonly resources: Record<string, { Type: string; Properties?: Json }>;
  private readonly groups = new Map<string, Group>();
  /** Every endpoint found, by id. */
  public readonly endpoints: Endpoint[] = [];

  constructor(template: Json) {
    this.resources = template.Resources ?? {};
    this.readGroups();
    this.readEndpoints();
  }

  private ofType(type: string): Array<[string, Json]> {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type).map(([id, r]) => [id, r.Properties ?? {}]);
  }

  /** A CIDR value: a literal, or the CidrBlock of a VPC/subnet in the template. */
  private cidrOf(value: Json): string | undefined {
    if (typeof value === 'string') return value;
    const id = refId(value);
    if (id && value['Fn::GetAtt']?.[1] === 'CidrBlock') {
      const cidr = this.resources[id]?.Properties?.CidrBlock;
      return typeof cidr === 'string' ? cidr : undefined;
    }
    return undefined;
  }

  private rule(raw: Json, peerKeys: string[]): Rule {
    const protocol = String(raw.IpProtocol);
    let ports: Rule['ports'];
    if (protocol === '-1' || protocol === 'all') ports = 'all';
    else if (protocol === 'tcp' || protocol === '6') ports = { from: Number(raw.FromPort), to: Number(raw.ToPort) };
    else ports = 'none';
    let peer: Peer = { kind: 'unknown', raw };
    if (raw.CidrIp !== undefined) {
      const cidr = this.cidrOf(raw.CidrIp);
      peer = cidr ? { kind: 'cidr', cidr } : { kind: 'unknown', raw: raw.CidrIp };
    } else {
      for (const key of peerKeys) {
        if (raw[key] !== undefined) {
          const group = refId(raw[key]);
          peer = group ? { kind: 'group', group } : { kind: 'unknown', raw: raw[key] };
        }
      }
    }
    return { ports, peer };
  }

  private readGroups(): void {
    for (const [id, props] of this.ofType('AWS::EC2::SecurityGroup')) {
      const ingress = (props.SecurityGroupIngress ?? []).map((r: Json) => this.rule(r, ['SourceSecurityGroupId']));
      const egress = props.SecurityGroupEgress === undefined
        ? [{ ports: 'all', peer: { kind: 'cidr', cidr: '0.0.0.0/0' } } as Rule]
        : props.SecurityGroupEgress.map((r: Json) => this.rule(r, ['DestinationSecurityGroupId']));
      this.groups.set(id, { ingress, egress });
    }
    for (const [type, direction, peerKey] of [
      ['AWS::EC2::SecurityGroupIngress', 'ingress', 'SourceSecurityGroupId'],
      ['AWS::EC2::SecurityGroupEgress', 'egress', 'DestinationSecurityGroupId'],
    ] as const) {
      for (const [id, props] of this.ofType(type)) {
        const group = refId(props.GroupId);
        if (!group || !this.groups.has(group)) throw new Error(`${id}: ${type} on a group not in the template: ${JSON.stringify(props.GroupId)}`);
        this.groups.get(group)![direction].push(this.rule(props, [peerKey]));
      }
    }
  }

  private subnetCidrs(subnets: Json[] | undefined, owner: string): string[] {
    return (subnets ?? []).map((s) => {
      const id = refId(s);
      const cidr = id ? this.resources[id]?.Properties?.CidrBlock : undefined;
      if (typeof cidr !== 'string') throw new Error(`${owner}: subnet ${JSON.stringify(s)} is not a subnet of the template`);
      return cidr;
    });
  }

  private groupIds(values: Json[] | undefined, owner: string): string[] | undefined {
    if (values === undefined) return undefined;
    return values.map((v) => {
      const id = refId(v);
      if (!id || !this.groups.has(id)) throw new Error(`${owner}: security group ${JSON.stringify(v)} is not in the template`);
      return id;
    });
  }

  private readEndpoints(): void {
    const add = (id: string, kind: string, groups: string[] | undefined, cidrs: string[], subnets?: Json[]) =>
      this.endpoints.push({ id, kind, groups, cidrs, subnets: subnets?.map((s) => refId(s) ?? '') });
    for (const [id, p] of this.ofType('AWS::ECS::Service')) {
      const vpc = p.NetworkConfiguration?.AwsvpcConfiguration;
      if (vpc) add(id, 'ecs-service', this.groupIds(vpc.SecurityGroups, id) ?? [], this.subnetCidrs(vpc.Subnets, id), vpc.Subnets);
    }
    for (const [id, p] of this.ofType('AWS::EC2::VPCEndpoint')) {
      if (p.VpcEndpointType !== 'Interface') continue;
      this.endpoints.push({ id, kind: 'vpce', groups: this.groupIds(p.SecurityGroupIds, id), cidrs: this.subnetCidrs(p.SubnetIds, id), subnets: p.SubnetIds.map((s: Json) => refId(s)), service: serviceSuffix(p.ServiceName) });
    }
    for (const [id, p] of this.ofType('AWS::Lambda::Function')) {
      if (p.VpcConfig) add(id, 'lambda', this.groupIds(p.VpcConfig.SecurityGroupIds, id) ?? [], this.subnetCidrs(p.VpcConfig.SubnetIds, id));
    }
    for (const [id, p] of this.ofType('AWS::ElasticLoadBalancingV2::LoadBalancer')) {
      add(id, p.Type === 'network' ? 'nlb' : 'alb', this.groupIds(p.SecurityGroups, id), this.subnetCidrs(p.Subnets, id));
    }
    for (const [id, p] of this.ofType('AWS::Batch::ComputeEnvironment')) {
      const cr = p.ComputeResources ?? {};
      let groups = this.groupIds(cr.SecurityGroupIds, id);
      if (groups === undefined && cr.LaunchTemplate) {
        // Batch uses the environment's groups when given, else the launch template's.
        const lt = this.resources[refId(cr.LaunchTemplate.LaunchTemplateId) ?? '']?.Properties?.LaunchTemplateData ?? {};
        groups = this.groupIds(lt.SecurityGroupIds ?? lt.NetworkInterfaces?.[0]?.Groups, id);
      }
      add(id, 'batch', groups ?? [], this.subnetCidrs(cr.Subnets, id), cr.Subnets);
    }
    for (const [id, p] of this.ofType('AWS::RDS::DBInstance')) {
      const subnetGroup = this.resources[refId(p.DBSubnetGroupName) ?? '']?.Properties;
      add(id, 'rds', this.groupIds(p.VPCSecurityGroups, id) ?? [], this.subnetCidrs(subnetGroup?.SubnetIds, id));
    }
    for (const [id, p] of this.ofType('AWS::EC2::Subnet')) {
      // An outsider: any machine in this subnet, with a group of its own that allows all egress.
      this.endpoints.push({ id: `outsider:${id}`, kind: 'outsider', groups: [`outsider:${id}`], cidrs: [p.CidrBlock] });
      this.groups.set(`outsider:${id}`, { ingress: [], egress: [{ ports: 'all', peer: { kind: 'cidr', cidr: '0.0.0.0/0' } }] });
    }
  }

  /** The endpoint with this logical id (or the only one whose id starts with it). */
  public endpoint(idOrPrefix: string): Endpoint {
    const exact = this.endpoints.find((e) => e.id === idOrPrefix);
    if (exact) return exact;
    const matches = this.endpoints.filter((e) => e.id.startsWith(idOrPrefix));
    if (matches.length !== 1) throw new Error(`${matches.length} endpoints match ${idOrPrefix}: ${matches.map((e) => e.id).join(', ')}`);
    return matches[0];
  }

  /** Endpoints of one kind. */
  public ofKind(kind: string): Endpoint[] {
    return this.endpoints.filter((e) => e.kind === kind);
  }

  private portMatches(ports: Rule['ports'], port: number): boolean {
    return ports === 'all' || (ports !== 'none' && ports.from <= port && port <= ports.to);
  }

  /** Does a rule's peer cover every interface of `other`? */
  private peerCovers(peer: Peer, other: Endpoint): boolean {
    if (peer.kind === 'group') return (other.groups ?? []).includes(peer.group);
    if (peer.kind === 'cidr') return other.cidrs.length > 0 && other.cidrs.every((c) => cidrContains(peer.cidr, c));
    return false;
  }

  /** Does a rule's peer cover any interface of `other` (for "who might get in")? */
  private peerTouches(peer: Peer, other: Endpoint): boolean {
    if (peer.kind === 'group') return (other.groups ?? []).includes(peer.group);
    if (peer.kind === 'cidr') return other.cidrs.some((c) => overlaps(peer.cidr, c));
    return false;
  }

  private allows(groups: readonly string[] | undefined, direction: 'ingress' | 'egress', other: Endpoint, port: number, any: boolean): boolean {
    if (groups === undefined) return true;
    return groups.some((g) => this.groups.get(g)![direction].some((rule) =>
      this.portMatches(rule.ports, port) && (any ? this.peerTouches(rule.peer, other) : this.peerCovers(rule.peer, other))));
  }

  /**
   * Can `from` open a TCP connection to `to` on `port`, directly (interface to interface)?
   * `possibly` answers "from some of its subnets" instead of "from all of them".
   */
  public connects(from: Endpoint, to: Endpoint, port: number, possibly = false): boolean {
    return this.allows(from.groups, 'egress', to, port, possibly) && this.allows(to.groups, 'ingress', from, port, possibly);
  }

  /** The listeners of a load balancer, each with its target group and registered targets. */
  public listeners(loadBalancer: Endpoint): ListenerPath[] {
    const paths: ListenerPath[] = [];
    for (const [, l] of this.ofType('AWS::ElasticLoadBalancingV2::Listener')) {
      if (refId(l.LoadBalancerArn) !== loadBalancer.id) continue;
      for (const action of l.DefaultActions ?? []) {
        const tgId = refId(action.TargetGroupArn ?? action.ForwardConfig?.TargetGroups?.[0]?.TargetGroupArn);
        if (tgId) paths.push(this.listenerPath(loadBalancer, Number(l.Port), tgId));
      }
    }
    for (const [, rule] of this.ofType('AWS::ElasticLoadBalancingV2::ListenerRule')) {
      const listener = this.resources[refId(rule.ListenerArn) ?? '']?.Properties;
      if (!listener || refId(listener.LoadBalancerArn) !== loadBalancer.id) continue;
      for (const action of rule.Actions ?? []) {
        const tgId = refId(action.TargetGroupArn);
        if (tgId) paths.push(this.listenerPath(loadBalancer, Number(listener.Port), tgId));
      }
    }
    return paths;
  }

  private listenerPath(loadBalancer: Endpoint, port: number, targetGroupId: string): ListenerPath {
    const tg = this.resources[targetGroupId].Properties ?? {};
    const attributes = Object.fromEntries((tg.TargetGroupAttributes ?? []).map((a: Json) => [a.Key, a.Value]));
    const targets: Array<{ endpoint: Endpoint; port: number }> = [];
    for (const [id, service] of this.ofType('AWS::ECS::Service')) {
      for (const lb of service.LoadBalancers ?? []) {
        if (refId(lb.TargetGroupArn) === targetGroupId) targets.push({ endpoint: this.endpoint(id), port: Number(lb.ContainerPort) });
      }
    }
    const healthCheckPort = tg.HealthCheckPort === undefined || tg.HealthCheckPort === 'traffic-port' ? Number(tg.Port) : Number(tg.HealthCheckPort);
    // Client IP preservation: on by default for instance targets, off for IP targets over TCP/TLS.
    const preserveDefault = tg.TargetType !== 'ip' && loadBalancer.kind === 'nlb';
    const preserveClientIp = loadBalancer.kind === 'nlb'
      && (attributes['preserve_client_ip.enabled'] === undefined ? preserveDefault : attributes['preserve_client_ip.enabled'] === 'true');
    return { loadBalancer: loadBalancer.id, port, targetGroup: targetGroupId, targetPort: Number(tg.Port), healthCheckPort, preserveClientIp, targets };
  }

  /** The targets `client` reaches through `loadBalancer`'s listener on `port` (empty: refused somewhere). */
  public throughLoadBalancer(client: Endpoint, loadBalancer: Endpoint, port: number, possibly = false): Array<{ endpoint: Endpoint; port: number }> {
    if (!this.connects(client, loadBalancer, port, possibly)) return [];
    return this.forward(loadBalancer, port, client, possibly);
  }

  /** What an API Gateway VPC link (PrivateLink) into `loadBalancer` reaches on listener `port`. */
  public throughVpcLink(loadBalancer: Endpoint, port: number): Array<{ endpoint: Endpoint; port: number }> {
    const lb = this.resources[loadBalancer.id].Properties ?? {};
    const linked = this.ofType('AWS::ApiGateway::VpcLink').some(([, link]) => (link.TargetArns ?? []).some((arn: Json) => refId(arn) === loadBalancer.id));
    if (!linked) return [];
    const enforced = loadBalancer.groups !== undefined && lb.EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic !== 'off';
    if (enforced) {
      const anywhere = loadBalancer.groups!.some((g) => this.groups.get(g)!.ingress.some((r) => this.portMatches(r.ports, port) && r.peer.kind === 'cidr' && r.peer.cidr === '0.0.0.0/0'));
      if (!anywhere) return [];
    }
    return this.forward(loadBalancer, port, undefined, false);
  }

  private forward(loadBalancer: Endpoint, port: number, client: Endpoint | undefined, possibly: boolean): Array<{ endpoint: Endpoint; port: number }> {
    const reached: Array<{ endpoint: Endpoint; port: number }> = [];
    for (const path of this.listeners(loadBalancer).filter((l) => l.port === port)) {
      for (const target of path.targets) {
        const source = path.preserveClientIp && client ? client : loadBalancer;
        const ok = this.allows(loadBalancer.groups, 'egress', target.endpoint, target.port, possibly)
          && this.allows(target.endpoint.groups, 'ingress', source, target.port, possibly);
        if (ok) reached.push(target);
      }
    }
    return reached;
  }

  /** Health checks of each listener's targets: does the load balancer reach them on the health-check port? */
  public healthChecks(loadBalancer: Endpoint): Array<{ target: string; port: number; ok: boolean }> {
    return this.listeners(loadBalancer).flatMap((path) => path.targets.map((t) => {
      const port = path.healthCheckPort === path.targetPort ? t.port : path.healthCheckPort;
      return { target: t.endpoint.id, port, ok: this.connects(loadBalancer, t.endpoint, port) };
    }));
  }

  /**
   * How traffic from `subnet` leaves the VPC for the internet: `nat` (a 0.0.0.0/0 route to a NAT
   * gateway that sits in a subnet routed to an internet gateway), `igw` (a 0.0.0.0/0 route to an
   * internet gateway: the interface also needs a public IP), or undefined (no such route).
   */
  public internetRoute(subnet: string): 'nat' | 'igw' | undefined {
    const route = this.defaultRoute(subnet);
    if (!route) return undefined;
    if (route.GatewayId !== undefined && this.resources[refId(route.GatewayId) ?? '']?.Type === 'AWS::EC2::InternetGateway') return 'igw';
    const nat = this.resources[refId(route.NatGatewayId) ?? ''];
    if (nat?.Type === 'AWS::EC2::NatGateway' && this.internetRoute(refId(nat.Properties?.SubnetId) ?? '') === 'igw') return 'nat';
    return undefined;
  }

  private routeTableOf(subnet: string): string | undefined {
    const association = this.ofType('AWS::EC2::SubnetRouteTableAssociation').find(([, a]) => refId(a.SubnetId) === subnet);
    return association ? refId(association[1].RouteTableId) : undefined;
  }

  private defaultRoute(subnet: string): Json | undefined {
    const table = this.routeTableOf(subnet);
    return this.ofType('AWS::EC2::Route').map(([, r]) => r).find((r) => refId(r.RouteTableId) === table && r.DestinationCidrBlock === '0.0.0.0/0');
  }

  /** Services (`s3`, `dynamodb`) whose gateway endpoints are routed from `subnet`'s route table. */
  public gatewayEndpointsFrom(subnet: string): string[] {
    const table = this.routeTableOf(subnet);
    return this.ofType('AWS::EC2::VPCEndpoint')
      .filter(([, p]) => p.VpcEndpointType === 'Gateway' && (p.RouteTableIds ?? []).some((t: Json) => refId(t) === table))
      .map(([, p]) => serviceSuffix(p.ServiceName));
  }

  /** Does `from` reach an interface endpoint of `service` on 443, in every one of its subnets' CIDRs? */
  public reachesInterfaceEndpoint(from: Endpoint, service: string): boolean {
    return this.ofKind('vpce').some((e) => e.service === service && this.connects(from, e, 443));
  }

  /** May `from` open HTTPS to the internet (0.0.0.0/0 on 443) as far as its groups go? */
  public egressToInternet(from: Endpoint): boolean {
    const internet: Endpoint = { id: 'internet', kind: 'internet', cidrs: ['0.0.0.0/0'] };
    return this.allows(from.groups, 'egress', internet, 443, false);
  }

  /**
   * Every endpoint that can (from some of its subnets) open a connection to `to` on `port`,
   * directly or through any load balancer listener.
   */
  public reachersOf(to: Endpoint, port: number): Endpoint[] {
    return this.endpoints.filter((from) => {
      // An interface endpoint's network interfaces answer; they open no connections.
      if (from.id === to.id || from.kind === 'vpce') return false;
      if (this.connects(from, to, port, true)) return true;
      return this.endpoints.filter((lb) => lb.kind === 'nlb' || lb.kind === 'alb').some((lb) =>
        this.listeners(lb).some((l) => this.throughLoadBalancer(from, lb, l.port, true).some((t) => t.endpoint.id === to.id && t.port === port)));
    });
  }
}

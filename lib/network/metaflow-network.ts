import { Aws, CfnResource, Fn, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from '../nag/acknowledgements';
import { checkIntegerInRange, invalidProp } from '../validation';

/**
 * `restrictDefaultSecurityGroup` adds CDK's provider whose handler declares `DependsOn` on its
 * role although its `Role: GetAtt` already orders them (cfn-lint W3005). This construct turns
 * the provider on, so it also removes that redundant entry — in any stack, not only
 * MetaflowStack (which strips such entries everywhere).
 */
function dropRedundantProviderDependency(scope: Construct): void {
  const provider = Stack.of(scope).node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
  const handler = provider?.node.tryFindChild('Handler');
  if (handler instanceof CfnResource) handler.addDeletionOverride('DependsOn');
}

/** Properties of a {@link MetaflowNetwork}. */
export interface MetaflowNetworkProps {
  /**
   * An existing VPC to use instead of creating one. It must have the subnets compute needs:
   * private subnets with egress when `natGateways` > 0 (or `computeSubnetType` says so),
   * otherwise public subnets.
   *
   * @default - a new VPC is created
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Number of Availability Zones of a new VPC (2 to 6). In an environment-agnostic stack (no
   * account/region) the zones are picked at deploy time with `Fn::GetAZs`, so any count works
   * offline (deploying fails if the region has fewer zones).
   *
   * @default 2
   */
  readonly maxAzs?: number;

  /**
   * The Availability Zones of a new VPC, by name (at least 2). Use instead of `maxAzs`.
   *
   * @default - the first `maxAzs` zones of the stack's region
   */
  readonly availabilityZones?: string[];

  /**
   * Number of NAT gateways of a new VPC. With 0 no NAT is paid for: compute stays in private
   * subnets (isolated ones, with no route to the internet) and reaches ECR, CloudWatch Logs,
   * STS, Secrets Manager and ECS through interface endpoints (`interfaceEndpoints`), S3 and
   * DynamoDB through the gateway endpoints — or, with `computeSubnetType: PUBLIC`, compute runs
   * in the public subnets with public IP addresses (the official Metaflow template's layout).
   *
   * @default 1
   */
  readonly natGateways?: number;

  /**
   * Interface VPC endpoints in the compute subnets for what compute needs from AWS besides S3
   * and DynamoDB: ECR (`ecr.api`, `ecr.dkr`), CloudWatch Logs, STS, Secrets Manager and ECS
   * (`ecs`, `ecs-agent`, `ecs-telemetry` — without these EC2 hosts never join the cluster).
   * Each is billed per AZ-hour and per GB (docs/networking.md gives the monthly cost). Required
   * (and on by default) when compute runs in isolated subnets; with NAT it keeps that traffic
   * off the NAT gateway. Only for a new VPC.
   *
   * @default true when a new VPC has no NAT gateway and compute runs in private subnets, else false
   */
  readonly interfaceEndpoints?: boolean;

  /**
   * IPv4 CIDR of a new VPC.
   *
   * @default '10.0.0.0/16'
   */
  readonly cidr?: string;

  /**
   * Send VPC flow logs (all traffic) to a CloudWatch Logs group. Applies to a new VPC; an
   * existing VPC's flow logs are its owner's business unless this is set to true.
   *
   * @default true for a new VPC, false for an existing one
   */
  readonly flowLogs?: boolean;

  /**
   * Retention of the flow-log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly flowLogRetention?: logs.RetentionDays;

  /**
   * Add S3 and DynamoDB gateway endpoints (free of charge) to the route tables of the compute
   * subnets, so datastore and Step Functions table traffic does not pass (and pay for) the NAT
   * gateway or depend on its Availability Zone. Only for a new VPC: an existing VPC's route
   * tables are its owner's (a second S3 endpoint on a route table fails to deploy).
   *
   * @default true for a new VPC
   */
  readonly gatewayEndpoints?: boolean;

  /**
   * What the gateway endpoints let through. `ACCOUNT` allows requests signed by principals of
   * this account (to any bucket or table, in any account) plus reads of ECR's image-layer bucket
   * in the region (image pulls from ECR fetch layers from S3 with ECR's own signature) and of
   * the region's Amazon Linux 2023 package repository bucket (dnf reads it unsigned); other
   * requests signed by other accounts' credentials and unsigned requests (e.g.
   * `--no-sign-request` reads of open-data buckets) are refused. `OPEN` is AWS's default full
   * access.
   *
   * @default GatewayEndpointPolicy.ACCOUNT
   */
  readonly gatewayEndpointPolicy?: GatewayEndpointPolicy;

  /**
   * The subnet type compute (Batch instances, Fargate tasks, services) runs in. In a new VPC:
   * PRIVATE_WITH_EGRESS (needs natGateways > 0), PRIVATE_ISOLATED (needs natGateways = 0; the
   * interface endpoints carry AWS traffic) or PUBLIC (tasks and hosts get public IP addresses;
   * {@link IMetaflowNetwork.computeNeedsPublicIp} tells job definitions to ask for one).
   *
   * @default - a new VPC: PRIVATE_WITH_EGRESS with NAT, PRIVATE_ISOLATED without; an existing
   * VPC: PRIVATE_WITH_EGRESS when it has private subnets, else PUBLIC
   */
  readonly computeSubnetType?: ec2.SubnetType;
}

/** Where a Metaflow compute layer runs: the VPC and its subnet choices. */
export interface IMetaflowNetwork {
  /** The VPC. */
  readonly vpc: ec2.IVpc;
  /** Where compute (Batch, Fargate, services) runs. */
  readonly computeSubnets: ec2.SubnetSelection;
  /** True when compute runs in public subnets and so needs public IP addresses to reach AWS APIs. */
  readonly computeNeedsPublicIp: boolean;
  /** True when compute runs in isolated subnets (no NAT): AWS services only through endpoints, images only from ECR. */
  readonly computeIsolated: boolean;
  /** Where databases go. */
  readonly databaseSubnets: ec2.SubnetSelection;
}

/** Options of {@link MetaflowNetwork.fromVpc}. */
export interface MetaflowNetworkImportOptions {
  /**
   * The subnet type compute runs in.
   *
   * @default - PRIVATE_WITH_EGRESS when the VPC has private subnets, else PUBLIC
   */
  readonly computeSubnetType?: ec2.SubnetType;
}

/** What the S3 and DynamoDB gateway endpoints of a {@link MetaflowNetwork} let through. */
export enum GatewayEndpointPolicy {
  /** Principals of this account, plus unsigned reads of ECR image layers and the Amazon Linux 2023 repositories (see `gatewayEndpointPolicy`). */
  ACCOUNT = 'account',
  /** Everything (AWS's default endpoint policy). */
  OPEN = 'open',
}

/** Name of the compute subnet group of a new VPC. */
const COMPUTE_SUBNET_GROUP = 'compute';
/** Name of the database subnet group of a new VPC. */
const DATABASE_SUBNET_GROUP = 'database';

/**
 * The interface endpoints compute needs when it has no NAT, by construct id: ECR's API and
 * registry (image pulls; layers come from S3 through the gateway endpoint), CloudWatch Logs (the
 * awslogs driver), STS (jobs that assume roles), Secrets Manager (the metadata service's
 * database secret, Docker Hub credentials) and the three ECS endpoints the container agent on
 * EC2 hosts uses (Amazon ECS developer guide, "Amazon ECS interface VPC endpoints": without
 * `ecs-agent` and `ecs-telemetry` instances do not register).
 */
export const COMPUTE_INTERFACE_ENDPOINTS: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  EcrApiEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDockerEndpoint: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
  LogsEndpoint: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  StsEndpoint: ec2.InterfaceVpcEndpointAwsService.STS,
  SecretsManagerEndpoint: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  EcsEndpoint: ec2.InterfaceVpcEndpointAwsService.ECS,
  EcsAgentEndpoint: ec2.InterfaceVpcEndpointAwsService.ECS_AGENT,
  EcsTelemetryEndpoint: ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY,
};

/** The S3 bucket ECR serves image layers from, in the stack's region (Amazon ECR user guide). */
function ecrLayerBucketObjects(): string {
  return `arn:${Aws.PARTITION}:s3:::prod-${Aws.REGION}-starport-layer-bucket/*`;
}

/**
 * The S3 bucket the Amazon Linux 2023 package repositories (dnf) are served from, in the stack's
 * region. Containers built on Amazon Linux 2023 images that install packages, and hosts that do,
 * fetch from it unsigned through the S3 gateway endpoint.
 */
function amazonLinux2023RepositoryObjects(): string {
  return `arn:${Aws.PARTITION}:s3:::al2023-repos-${Aws.REGION}-de612dc2/*`;
}

/**
 * The network a Metaflow compute layer runs in: a new VPC across two or more AZs with public,
 * private compute (through NAT, or isolated with interface endpoints) and isolated database
 * subnets plus flow logs — or an existing VPC, checked for the subnets compute needs.
 */
export class MetaflowNetwork extends Construct implements IMetaflowNetwork {
  /**
   * Use an existing VPC as it is: the same subnet choices and checks as a MetaflowNetwork over
   * that VPC, but nothing is created in it (no flow logs).
   */
  public static fromVpc(scope: Construct, id: string, vpc: ec2.IVpc, options: MetaflowNetworkImportOptions = {}): IMetaflowNetwork {
    return new MetaflowNetwork(scope, id, { vpc, computeSubnetType: options.computeSubnetType, flowLogs: false });
  }

  /** The VPC. */
  public readonly vpc: ec2.IVpc;
  /** Where compute (Batch, Fargate, services) runs. */
  public readonly computeSubnets: ec2.SubnetSelection;
  /** True when compute runs in public subnets and so needs public IP addresses to reach AWS APIs. */
  public readonly computeNeedsPublicIp: boolean;
  /** Where databases go: isolated subnets when the VPC has them, else the compute subnets. */
  public readonly databaseSubnets: ec2.SubnetSelection;
  /** The VPC flow log, when enabled. */
  public readonly flowLog?: ec2.FlowLog;
  /** The S3 gateway endpoint, when created. */
  public readonly s3Endpoint?: ec2.GatewayVpcEndpoint;
  /** The DynamoDB gateway endpoint, when created. */
  public readonly dynamoDbEndpoint?: ec2.GatewayVpcEndpoint;
  /** True when compute runs in isolated subnets (no NAT): AWS services only through endpoints, images only from ECR. */
  public readonly computeIsolated: boolean;
  /** The interface endpoints, by id (see {@link COMPUTE_INTERFACE_ENDPOINTS}), when created. */
  public readonly interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};

  constructor(scope: Construct, id: string, props: MetaflowNetworkProps = {}) {
    super(scope, id);
    const natGateways = props.natGateways ?? 1;
    checkIntegerInRange(this, 'natGateways', natGateways, 0, 16);

    if (props.vpc) {
      const shaping = { maxAzs: props.maxAzs, availabilityZones: props.availabilityZones, natGateways: props.natGateways, cidr: props.cidr, interfaceEndpoints: props.interfaceEndpoints };
      const given = Object.entries(shaping).filter(([, v]) => v !== undefined);
      if (given.length > 0) {
        invalidProp(this, given.map(([k]) => k).join('/'), Object.fromEntries(given), 'left unset when an existing vpc is given (they shape a new VPC)');
      }
      this.vpc = props.vpc;
    } else {
      const maxAzs = props.maxAzs ?? 2;
      checkIntegerInRange(this, 'maxAzs', maxAzs, 2, 6);
      const zones = props.availabilityZones;
      if (zones !== undefined) {
        if (props.maxAzs !== undefined) invalidProp(this, 'maxAzs', props.maxAzs, 'left unset when availabilityZones are given');
        if (!Array.isArray(zones) || zones.length < 2 || zones.some((z) => typeof z !== 'string' || !/^[a-z]{2}(-[a-z0-9]+)+[a-z]$/.test(z))) {
          invalidProp(this, 'availabilityZones', zones, 'at least 2 Availability Zone names, e.g. ["us-east-1a", "us-east-1b"]');
        }
        if (new Set(zones).size !== zones.length) invalidProp(this, 'availabilityZones', zones, 'distinct zone names');
      }
      const cidr = props.cidr ?? '10.0.0.0/16';
      const cidrMatch = /^\d{1,3}(\.\d{1,3}){3}\/(\d+)$/.exec(cidr);
      const prefix = cidrMatch ? Number(cidrMatch[2]) : NaN;
      if (!(prefix >= 16 && prefix <= 20)) {
        invalidProp(this, 'cidr', cidr, 'an IPv4 CIDR block from /16 to /20, e.g. "10.0.0.0/16"');
      }
      const computeType = props.computeSubnetType ?? (natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED);
      if (computeType === ec2.SubnetType.PRIVATE_WITH_EGRESS && natGateways === 0) {
        invalidProp(this, 'computeSubnetType', computeType, 'PRIVATE_ISOLATED or PUBLIC when natGateways is 0 (private subnets with egress need a NAT gateway)');
      }
      if (computeType === ec2.SubnetType.PRIVATE_ISOLATED && natGateways > 0) {
        invalidProp(this, 'computeSubnetType', computeType, 'PRIVATE_WITH_EGRESS or PUBLIC when natGateways is above 0 (the NAT gateways serve the private compute subnets)');
      }
      // Sized so up to 6 AZs fit: compute subnets get 1/8 of the VPC each, public 1/64, database 1/256.
      // The compute group keeps its place (and so every CIDR stays put) whether it routes through
      // NAT or not, so natGateways can move between 0 and more with private compute. Public compute
      // without NAT keeps the layout of earlier versions (no compute group).
      const subnetConfiguration: ec2.SubnetConfiguration[] = [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: prefix + 6 },
      ];
      if (natGateways > 0 || computeType === ec2.SubnetType.PRIVATE_ISOLATED) {
        subnetConfiguration.push({
          name: COMPUTE_SUBNET_GROUP,
          subnetType: natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED,
          cidrMask: prefix + 3,
        });
      }
      subnetConfiguration.push({ name: DATABASE_SUBNET_GROUP, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: prefix + 8 });
      this.vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(cidr),
        ...(zones ? { availabilityZones: zones } : this.zonesFor(maxAzs)),
        natGateways,
        subnetConfiguration,
        restrictDefaultSecurityGroup: true,
      });
      dropRedundantProviderDependency(this);
    }

    const computeSubnetType = props.computeSubnetType ?? this.defaultComputeSubnetType(natGateways, props.vpc);
    this.requireSubnets(computeSubnetType, 'computeSubnetType');
    // A new VPC without NAT has two isolated groups (compute, database): select them by name.
    const isolatedCompute = !props.vpc && computeSubnetType === ec2.SubnetType.PRIVATE_ISOLATED;
    this.computeSubnets = isolatedCompute ? { subnetGroupName: COMPUTE_SUBNET_GROUP } : { subnetType: computeSubnetType };
    this.computeNeedsPublicIp = computeSubnetType === ec2.SubnetType.PUBLIC;
    this.computeIsolated = computeSubnetType === ec2.SubnetType.PRIVATE_ISOLATED;
    this.databaseSubnets = isolatedCompute
      ? { subnetGroupName: DATABASE_SUBNET_GROUP }
      : this.vpc.isolatedSubnets.length > 0 ? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } : this.computeSubnets;

    if (props.gatewayEndpoints && props.vpc) {
      invalidProp(this, 'gatewayEndpoints', true, 'left unset with an existing vpc (its route tables belong to its owner)');
    }
    const endpointPolicy = props.gatewayEndpointPolicy ?? GatewayEndpointPolicy.ACCOUNT;
    if (!Object.values(GatewayEndpointPolicy).includes(endpointPolicy)) {
      invalidProp(this, 'gatewayEndpointPolicy', endpointPolicy, `one of ${Object.values(GatewayEndpointPolicy).join(', ')}`);
    }
    if (props.gatewayEndpoints ?? !props.vpc) {
      const endpoint = (id: string, service: ec2.GatewayVpcEndpointAwsService, prefix: string) => {
        const created = this.vpc.addGatewayEndpoint(id, { service, subnets: [this.computeSubnets] });
        if (endpointPolicy === GatewayEndpointPolicy.ACCOUNT) {
          created.addToPolicy(new iam.PolicyStatement({
            sid: 'ThisAccountsPrincipals',
            principals: [new iam.AnyPrincipal()],
            actions: [`${prefix}:*`],
            resources: ['*'],
            conditions: { StringEquals: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID } },
          }));
        }
        return created;
      };
      this.s3Endpoint = endpoint('S3Endpoint', ec2.GatewayVpcEndpointAwsService.S3, 's3');
      if (endpointPolicy === GatewayEndpointPolicy.ACCOUNT) {
        this.s3Endpoint.addToPolicy(new iam.PolicyStatement({
          sid: 'EcrImageLayers',
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:GetObject'],
          resources: [ecrLayerBucketObjects()],
        }));
        this.s3Endpoint.addToPolicy(new iam.PolicyStatement({
          sid: 'AmazonLinuxRepositories',
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:GetObject'],
          resources: [amazonLinux2023RepositoryObjects()],
        }));
      }
      this.dynamoDbEndpoint = endpoint('DynamoDbEndpoint', ec2.GatewayVpcEndpointAwsService.DYNAMODB, 'dynamodb');
    }

    const interfaceEndpoints = props.interfaceEndpoints ?? (isolatedCompute && !props.vpc);
    if (isolatedCompute && !interfaceEndpoints) {
      invalidProp(this, 'interfaceEndpoints', false, 'true (or unset) when compute runs in isolated subnets (without NAT, only the endpoints reach ECR, CloudWatch Logs and ECS)');
    }
    if (interfaceEndpoints) {
      for (const [endpointId, service] of Object.entries(COMPUTE_INTERFACE_ENDPOINTS)) {
        // `open`: the endpoint's group admits HTTPS from the VPC's CIDR (every compute placement).
        const endpoint = this.vpc.addInterfaceEndpoint(endpointId, {
          service, subnets: this.computeSubnets, privateDnsEnabled: true, open: true,
        });
        acknowledge(endpoint, ['AwsSolutions-EC23'],
          'The endpoint admits HTTPS from the VPC\'s own CIDR only (every compute placement in it); cdk-nag cannot resolve the VPC CidrBlock attribute and flags it as open.');
        this.interfaceEndpoints[endpointId] = endpoint;
      }
    }

    if (props.flowLogs ?? !props.vpc) {
      const logGroup = new logs.LogGroup(this, 'FlowLogGroup', {
        retention: props.flowLogRetention ?? logs.RetentionDays.ONE_YEAR,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.flowLog = new ec2.FlowLog(this, 'FlowLog', {
        resourceType: ec2.FlowLogResourceType.fromVpc(this.vpc),
        destination: ec2.FlowLogDestination.toCloudWatchLogs(logGroup),
        trafficType: ec2.FlowLogTrafficType.ALL,
      });
    }
  }

  /** An env-agnostic stack knows only 2 AZs; beyond that, select zones at deploy time. */
  private zonesFor(maxAzs: number): Pick<ec2.VpcProps, 'maxAzs' | 'availabilityZones'> {
    if (!Token.isUnresolved(Stack.of(this).region) || maxAzs <= 2) return { maxAzs };
    return { availabilityZones: Array.from({ length: maxAzs }, (_, i) => Fn.select(i, Fn.getAzs())) };
  }

  private defaultComputeSubnetType(natGateways: number, existing?: ec2.IVpc): ec2.SubnetType {
    if (existing) {
      return existing.privateSubnets.length > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC;
    }
    return natGateways > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PRIVATE_ISOLATED;
  }

  private requireSubnets(type: ec2.SubnetType, prop: string): void {
    const available: Record<string, number> = {
      [ec2.SubnetType.PUBLIC]: this.vpc.publicSubnets.length,
      [ec2.SubnetType.PRIVATE_WITH_EGRESS]: this.vpc.privateSubnets.length,
      [ec2.SubnetType.PRIVATE_ISOLATED]: this.vpc.isolatedSubnets.length,
    };
    if (!(type in available)) {
      invalidProp(this, prop, type, `one of ${Object.keys(available).join(', ')}`);
    }
    if (available[type] === 0) {
      const has = Object.entries(available).filter(([, n]) => n > 0).map(([t, n]) => `${n} ${t}`).join(', ') || 'none';
      invalidProp(this, prop, type, `a subnet type the VPC ${this.vpc.node.path} has (it has: ${has})`);
    }
  }
}

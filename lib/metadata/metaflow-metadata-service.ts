import { CfnResource, Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as cr from 'aws-cdk-lib/custom-resources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from '../nag/acknowledgements';
import { checkIntegerInRange, invalidProp } from '../validation';
import { checkFargateSize } from '../fargate-size';
import { databaseEnvironment, databaseSecrets } from './database-environment';
import { MetadataApi, MetadataApiProps } from './metadata-api';
import { MetadataDatabase, MetadataDatabaseProps } from './metadata-database';
import { MigrationRunner } from './migration-runner';

/** The metadata service image Metaflow publishes. */
export const METADATA_SERVICE_IMAGE_REPOSITORY = 'netflixoss/metaflow_metadata_service';
/**
 * The version this project pins by default, for the service and the UI backend alike. Not the
 * official template's v2.4.12: its `update_row` builds SQL from URL path segments (the run and
 * task heartbeat endpoints), so anyone with the API key could run SQL on the database; fixed
 * upstream in Netflix/metaflow-service c96a178, released in v2.5.1 with the same migrations.
 */
export const DEFAULT_METADATA_SERVICE_VERSION = 'v2.5.1';
/** Where the metadata API listens in the container. */
export const METADATA_API_PORT = 8080;
/** Where the migration service listens in the container. */
export const MIGRATION_SERVICE_PORT = 8082;

/** Properties of a {@link MetaflowMetadataService}. */
export interface MetaflowMetadataServiceProps {
  /** The VPC. */
  readonly vpc: ec2.IVpc;

  /**
   * Where the service tasks, the internal NLB and the migration function run.
   *
   * @default - private subnets with egress if the VPC has them, else public
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Give tasks public IPs (needed when they run in public subnets, i.e. without NAT, to pull
   * the image and reach AWS APIs).
   *
   * @default - true when `vpcSubnets` are public
   */
  readonly assignPublicIp?: boolean;

  /**
   * The image tag of `netflixoss/metaflow_metadata_service` (the UI backend of a
   * {@link MetaflowStack} runs the same tag unless `ui.backendImageVersion` says otherwise).
   *
   * @default 'v2.5.1' (DEFAULT_METADATA_SERVICE_VERSION)
   */
  readonly imageVersion?: string;

  /**
   * The repository the image is pulled from, instead of Docker Hub's: an ECR pull-through
   * cache of Docker Hub or a mirror (compute without a route to the internet cannot reach Docker
   * Hub). A repository in ECR needs pull rights for the task definition's execution role
   * (MetaflowStack grants them for its image cache).
   *
   * @default 'netflixoss/metaflow_metadata_service' (Docker Hub)
   */
  readonly imageRepository?: string;

  /**
   * Task CPU units (1 vCPU = 1024): 256, 512, 1024, 2048, 4096, 8192 or 16384 — with `memoryMiB`, a size Fargate accepts.
   *
   * @default 512
   */
  readonly cpu?: number;

  /**
   * Task memory in MiB (a valid Fargate pair with `cpu`).
   *
   * @default 1024
   */
  readonly memoryMiB?: number;

  /**
   * Number of tasks.
   *
   * @default 1
   */
  readonly desiredCount?: number;

  /**
   * Retention of the service's log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Options of the database this construct creates.
   *
   * @default - see {@link MetadataDatabaseProps}
   */
  readonly database?: Omit<MetadataDatabaseProps, 'vpc'>;

  /**
   * Options of the API Gateway front end.
   *
   * @default - see {@link MetadataApiProps}
   */
  readonly api?: Omit<MetadataApiProps, 'loadBalancer'>;

  /**
   * Run database migrations on every deploy (a custom resource checks the schema each deploy and
   * upgrades it when migrations are unapplied), and roll the service (a new ECS deployment)
   * whenever the schema version changes, because the service picks its schema version at start.
   * With `desiredCount` 0 no task answers the migration check, so migrations cannot run (they
   * run again on the next deploy with tasks).
   *
   * @default - true, unless `desiredCount` is 0
   */
  readonly runMigrations?: boolean;
}

/** A Metaflow metadata service, created here or imported: what clients and grants need. */
export interface IMetaflowMetadataService {
  /** Metaflow's SERVICE_URL (the API Gateway stage URL). */
  readonly url: string;
  /** Metaflow's SERVICE_INTERNAL_URL (reachable from inside the VPC). */
  readonly internalUrl: string;
  /** The secret whose string value is the API key (METAFLOW_SERVICE_AUTH_KEY). */
  readonly apiKeySecret: secretsmanager.ISecret;
  /** Let `grantee` read the API key value (what `metaflow-cdk configure` does). */
  grantReadApiKey(grantee: iam.IGrantable): iam.Grant;
}

/** Attributes to import an existing metadata service. */
export interface MetaflowMetadataServiceAttributes {
  /** Metaflow's SERVICE_URL. */
  readonly url: string;
  /** Metaflow's SERVICE_INTERNAL_URL. */
  readonly internalUrl: string;
  /** Full ARN of the API key secret (with its random suffix). */
  readonly apiKeySecretArn: string;
}

abstract class MetadataServiceBase extends Construct implements IMetaflowMetadataService {
  abstract readonly url: string;
  abstract readonly internalUrl: string;
  abstract readonly apiKeySecret: secretsmanager.ISecret;

  grantReadApiKey(grantee: iam.IGrantable): iam.Grant {
    return this.apiKeySecret.grantRead(grantee);
  }
}

/**
 * The Metaflow metadata service: Fargate tasks (ECS cluster with Container Insights) behind an
 * internal NLB (80 → 8080 API for the clients given to {@link allowInternalClients}, 8082 → 8082
 * migrations for the migration runner only), a PostgreSQL database reachable only
 * from the service, a regional API Gateway with an API key in front, and migrations that run on
 * every deploy.
 */
export class MetaflowMetadataService extends MetadataServiceBase {
  /** Import an existing metadata service (its URLs and API key secret), e.g. from another stack's outputs. */
  public static fromAttributes(scope: Construct, id: string, attrs: MetaflowMetadataServiceAttributes): IMetaflowMetadataService {
    class Import extends MetadataServiceBase {
      readonly url = attrs.url;
      readonly internalUrl = attrs.internalUrl;
      readonly apiKeySecret = secretsmanager.Secret.fromSecretCompleteArn(this, 'ApiKeySecret', attrs.apiKeySecretArn);
    }
    return new Import(scope, id);
  }

  /** The ECS cluster the service (and a UI) runs in. */
  public readonly cluster: ecs.Cluster;
  /** The PostgreSQL database the service keeps its metadata in. */
  public readonly database: MetadataDatabase;
  /** The Fargate service running the metadata service (API on 8080, migrations on 8082). */
  public readonly service: ecs.FargateService;
  /** The service's task definition. */
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  /** The internal network load balancer in front of the service. */
  public readonly loadBalancer: elbv2.NetworkLoadBalancer;
  /** The internal NLB's security group (see docs/networking.md). */
  public readonly loadBalancerSecurityGroup: ec2.SecurityGroup;
  /** The API Gateway REST API, API key and usage plan clients reach the service through. */
  public readonly api: MetadataApi;
  /** The migration runner, when migrations run on deploy. */
  public readonly migrations?: MigrationRunner;
  /** The custom resource that rolls the service when the schema version changes (with migrations). */
  public rollOnSchemaChangeResource?: cr.AwsCustomResource;
  /** The image the service (and a UI backend) runs. */
  public readonly image: string;
  /** `http://<internal-nlb>/` — Metaflow's SERVICE_INTERNAL_URL. */
  public readonly internalUrl: string;
  /** Metaflow's SERVICE_URL (the API Gateway stage URL). */
  public readonly url: string;
  /** The API key secret (METAFLOW_SERVICE_AUTH_KEY). */
  public readonly apiKeySecret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: MetaflowMetadataServiceProps) {
    super(scope, id);
    const vpcSubnets = props.vpcSubnets
      ?? (props.vpc.privateSubnets.length > 0 ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } : { subnetType: ec2.SubnetType.PUBLIC });
    const assignPublicIp = props.assignPublicIp ?? vpcSubnets.subnetType === ec2.SubnetType.PUBLIC;
    const imageVersion = props.imageVersion ?? DEFAULT_METADATA_SERVICE_VERSION;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(imageVersion)) {
      invalidProp(this, 'imageVersion', imageVersion, 'an image tag such as "v2.5.1"');
    }
    const repository = props.imageRepository ?? METADATA_SERVICE_IMAGE_REPOSITORY;
    if (!Token.isUnresolved(repository) && !/^[^\s:@]+(:\d+)?(\/[^\s:@]+)*$/.test(repository)) {
      invalidProp(this, 'imageRepository', repository, 'an image repository without tag, e.g. "netflixoss/metaflow_metadata_service"');
    }
    this.image = `${repository}:${imageVersion}`;
    const cpu = props.cpu ?? 512;
    const memoryMiB = props.memoryMiB ?? 1024;
    checkFargateSize(this, 'cpu', cpu, 'memoryMiB', memoryMiB);
    const desiredCount = props.desiredCount ?? 1;
    checkIntegerInRange(this, 'desiredCount', desiredCount, 0, 100);

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });
    this.database = new MetadataDatabase(this, 'Database', { vpc: props.vpc, ...props.database });

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu,
      memoryLimitMiB: memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const container = this.taskDefinition.addContainer('Service', {
      image: ecs.ContainerImage.fromRegistry(this.image),
      essential: true,
      environment: databaseEnvironment(this.database),
      secrets: databaseSecrets(this.database),
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'metadata' }),
      portMappings: [{ containerPort: METADATA_API_PORT }, { containerPort: MIGRATION_SERVICE_PORT }],
    });

    const serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc: props.vpc,
      description: 'Metaflow metadata service tasks: API and migration ports from the internal NLB only',
      allowAllOutbound: true,
    });
    acknowledge(this.taskDefinition, ['AwsSolutions-ECS2'],
      'The plain environment holds only the database host, port, name and SSL mode; the user and password are ECS secrets from Secrets Manager.');
    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      desiredCount,
      assignPublicIp,
      vpcSubnets,
      securityGroups: [serviceSecurityGroup],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      healthCheckGracePeriod: Duration.minutes(2),
      enableExecuteCommand: false,
    });
    this.database.allowFrom(this.service, 'Metaflow metadata service');

    // The NLB gets a group of its own (see docs/networking.md): it admits internal clients on 80
    // (allowInternalClients) and the migration runner on 8082, and may talk only to the tasks'
    // 8080 and 8082 (traffic and health checks). The API Gateway VPC link arrives over
    // PrivateLink from addresses that belong to API Gateway, so inbound rules are not enforced on
    // PrivateLink traffic; the API's integrations only target port 80.
    this.loadBalancerSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'Metaflow metadata NLB: internal clients to 80, migration runner to 8082; out only to the service tasks',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      vpcSubnets,
      internetFacing: false,
      crossZoneEnabled: true,
      securityGroups: [this.loadBalancerSecurityGroup],
      enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: false,
    });
    const listen = (listenerPort: number, containerPort: number) => {
      this.loadBalancer.addListener(`Port${listenerPort}`, { port: listenerPort, protocol: elbv2.Protocol.TCP }).addTargets(`To${containerPort}`, {
        port: containerPort,
        protocol: elbv2.Protocol.TCP,
        targets: [this.service.loadBalancerTarget({ containerName: container.containerName, containerPort })],
        healthCheck: { protocol: elbv2.Protocol.HTTP, path: '/ping', interval: Duration.seconds(15), healthyThresholdCount: 2 },
        deregistrationDelay: Duration.seconds(30),
        // The tasks see the NLB's own address, so their group admits the NLB's group only.
        preserveClientIp: false,
      });
      this.service.connections.allowFrom(this.loadBalancerSecurityGroup, ec2.Port.tcp(containerPort), `internal NLB (traffic and health checks) to ${containerPort}`);
    };
    listen(80, METADATA_API_PORT);
    listen(MIGRATION_SERVICE_PORT, MIGRATION_SERVICE_PORT);
    this.internalUrl = `http://${this.loadBalancer.loadBalancerDnsName}/`;
    acknowledge(this.loadBalancer, ['AwsSolutions-ELB2'],
      'NLB access logs exist only for TLS listeners; this internal TCP load balancer is fronted by API Gateway, whose access logs record every request.');

    this.api = new MetadataApi(this, 'Api', { ...props.api, loadBalancer: this.loadBalancer });
    this.url = this.api.url;
    this.apiKeySecret = this.api.apiKeySecret;

    // The migration check asks a running task (through the NLB); with none, the deploy would fail.
    const runMigrations = props.runMigrations ?? desiredCount > 0;
    if (runMigrations && desiredCount === 0) {
      invalidProp(this, 'runMigrations', true, 'false or unset when desiredCount is 0 (no task would answer the migration check, so the deploy would fail)');
    }
    if (runMigrations) {
      this.migrations = new MigrationRunner(this, 'Migrations', {
        vpc: props.vpc,
        vpcSubnets,
        migrationServiceUrl: `http://${this.loadBalancer.loadBalancerDnsName}:${MIGRATION_SERVICE_PORT}`,
        trigger: this.image,
        logRetention: props.logRetention,
      });
      // Run only once the service is stable behind the NLB (the URL already orders it after the NLB).
      this.migrations.resource.node.addDependency(this.service);
      this.loadBalancer.connections.allowFrom(this.migrations, ec2.Port.tcp(MIGRATION_SERVICE_PORT), 'migration runner to the migration service');
      this.rollOnSchemaChange(this.migrations.schemaVersion, this.migrations.helperRole);
    }
  }

  /**
   * A new ECS deployment of the service when the schema version changes (and once on create):
   * the running tasks keep the schema version they chose at start. An SDK call outside the VPC,
   * so it works without NAT too; CloudFormation does not wait for the rollout (the circuit
   * breaker guards it).
   */
  private rollOnSchemaChange(schemaVersion: string, role: iam.IRole): void {
    const call: cr.AwsSdkCall = {
      service: 'ECS',
      action: 'updateService',
      parameters: { cluster: this.cluster.clusterName, service: this.service.serviceName, forceNewDeployment: true },
      physicalResourceId: cr.PhysicalResourceId.of('metaflow-metadata-roll-on-schema-change'),
    };
    const roll = new cr.AwsCustomResource(this, 'RollOnSchemaChange', {
      onCreate: call,
      onUpdate: call,
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({
        actions: ['ecs:UpdateService'],
        resources: [this.service.serviceArn],
      })]),
      installLatestAwsSdk: false,
      // The migration runner's helper role (basic execution only); this adds ecs:UpdateService on this service.
      role,
    });
    // The custom resource's properties include the schema version: a new version is an Update.
    (roll.node.findChild('Resource').node.defaultChild as CfnResource).addPropertyOverride('SchemaVersion', schemaVersion);
    this.rollOnSchemaChangeResource = roll;
  }

  /**
   * Let `client` call the metadata API at {@link internalUrl} (the NLB's port 80; Metaflow's
   * SERVICE_INTERNAL_URL, which Batch jobs use). The migration port 8082 stays closed to it.
   * MetaflowStack calls this for its Batch compute security group.
   */
  public allowInternalClients(client: ec2.IConnectable): void {
    this.loadBalancer.connections.allowFrom(client, ec2.Port.tcp(80), 'Metaflow clients to the metadata API (SERVICE_INTERNAL_URL)');
  }
}

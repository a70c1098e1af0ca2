import { Aws, Duration, Names, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as elbv2Actions from 'aws-cdk-lib/aws-elasticloadbalancingv2-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge } from '../nag/acknowledgements';
import { checkIntegerInRange, invalidProp } from '../validation';
import { AlbAccessLogs } from './alb-access-logs';
import { checkFargateSize } from '../fargate-size';
import { databaseEnvironment, databaseSecrets } from '../metadata/database-environment';
import { DEFAULT_METADATA_SERVICE_VERSION } from '../metadata/metaflow-metadata-service';
import {
  checkCertificateArn,
  checkCidrs,
  checkCognitoDomainPrefix,
  checkDomainName,
  isIpv6Cidr,
  MetaflowUiAuth,
  MetaflowUiAuthMode,
} from './metaflow-ui-auth';

/** Image of the UI backend: the metadata service image, run with the UI server command. */
export const UI_BACKEND_IMAGE = 'netflixoss/metaflow_metadata_service';
/** Image of the static UI (nginx serving the metaflow-ui bundle). */
export const UI_STATIC_IMAGE = 'public.ecr.aws/outerbounds/metaflow_ui';
/** Port the UI backend listens on (`MF_UI_METADATA_PORT`'s default). */
export const UI_BACKEND_PORT = 8083;
/** Port the static UI listens on (the image's `PORT` default). */
export const UI_STATIC_PORT = 3000;
/** The path prefix the backend serves under, and the ALB routes to it. */
export const UI_API_PATH = '/api';
/** Command that starts the UI backend in the metadata service image. */
export const UI_BACKEND_COMMAND = ['/opt/latest/bin/python3', '-m', 'services.ui_backend_service.ui_server'];

/** Environment keys the construct sets on the backend; `backendEnvironment` may not override them. */
const MANAGED_BACKEND_ENV = [
  'MF_METADATA_DB_HOST', 'MF_METADATA_DB_PORT', 'MF_METADATA_DB_NAME', 'MF_METADATA_DB_SSL_MODE',
  'MF_METADATA_DB_USER', 'MF_METADATA_DB_PSWD', 'PATH_PREFIX', 'UI_ENABLED', 'MF_UI_METADATA_PORT',
  'MF_DATASTORE_ROOT', 'METAFLOW_DATASTORE_SYSROOT_S3', 'METAFLOW_DEFAULT_DATASTORE', 'METAFLOW_DEFAULT_METADATA',
  'METAFLOW_SERVICE_URL',
];

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const LOG_PREFIX = /^[A-Za-z0-9!_.*'()-]+(\/[A-Za-z0-9!_.*'()-]+)*$/;

/** The PostgreSQL database of the metadata service, as the UI backend reads it. */
export interface MetaflowUiDatabase {
  /** Host name of the database endpoint. */
  readonly host: string;
  /** Port of the database endpoint. @default 5432 */
  readonly port?: number;
  /** Database name. @default 'metaflow' */
  readonly name?: string;
  /** libpq `sslmode` (`MF_METADATA_DB_SSL_MODE`). @default 'require' */
  readonly sslMode?: string;
  /** A secret with JSON keys `username` and `password` (e.g. an RDS-generated secret). */
  readonly credentials: secretsmanager.ISecret;
  /** The database's connections; the backend's security group is allowed in on `port`. */
  readonly connections: ec2.Connections;
}

/** Properties of a {@link MetaflowUi}. */
export interface MetaflowUiProps {
  /** The VPC the services and the load balancer run in. */
  readonly vpc: ec2.IVpc;

  /**
   * The subnets the UI tasks run in.
   *
   * @default - the VPC's private subnets with egress if it has any, else its public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * Give tasks a public IP address (needed to pull images when their subnets have no NAT).
   *
   * @default - true when `vpcSubnets` resolve to public subnets, else false
   */
  readonly assignPublicIp?: boolean;

  /** The ECS cluster to run in (the metadata service's). */
  readonly cluster: ecs.ICluster;

  /** The metadata database the backend reads. */
  readonly database: MetaflowUiDatabase;

  /** The datastore the backend reads artifacts, logs and cards from. */
  readonly datastore: IMetaflowDatastore;

  /** How the UI is protected: `MetaflowUiAuth.cognito(...)` or `MetaflowUiAuth.internal(...)`. */
  readonly auth: MetaflowUiAuth;

  /**
   * Tag of `netflixoss/metaflow_metadata_service` the backend runs.
   *
   * @default 'v2.5.1' (DEFAULT_METADATA_SERVICE_VERSION, the metadata service's default)
   */
  readonly backendImageVersion?: string;

  /**
   * Repository of the backend image instead of Docker Hub's (an ECR pull-through cache or a
   * mirror; its pull rights are the caller's to grant to the task's execution role).
   *
   * @default 'netflixoss/metaflow_metadata_service'
   */
  readonly backendImageRepository?: string;

  /**
   * Repository of the static UI image instead of ECR Public's (an ECR pull-through cache or a
   * mirror; its pull rights are the caller's to grant).
   *
   * @default 'public.ecr.aws/outerbounds/metaflow_ui'
   */
  readonly staticImageRepository?: string;

  /**
   * Tag of `public.ecr.aws/outerbounds/metaflow_ui`.
   *
   * @default 'v1.2.4'
   */
  readonly staticImageVersion?: string;

  /**
   * CPU units of the backend task (a Fargate size together with `backendMemoryMiB`).
   *
   * @default 1024
   */
  readonly backendCpu?: number;

  /**
   * Memory of the backend task, MiB. The backend caches artifacts and DAGs in memory and on disk.
   *
   * @default 4096
   */
  readonly backendMemoryMiB?: number;

  /**
   * Ephemeral storage of the backend task, GiB (21–200; the cache lives on disk).
   *
   * @default - Fargate's 20 GiB
   */
  readonly backendEphemeralStorageGiB?: number;

  /** CPU units of the static UI task. @default 256 */
  readonly staticCpu?: number;

  /** Memory of the static UI task, MiB. @default 512 */
  readonly staticMemoryMiB?: number;

  /** Number of backend tasks (0 stops the UI). @default 1 */
  readonly backendDesiredCount?: number;

  /** Number of static UI tasks. @default 1 */
  readonly staticDesiredCount?: number;

  /**
   * More environment for the backend (e.g. `FEATURE_*` flags, `CUSTOM_QUICKLINKS`,
   * `NOTIFICATIONS`, `PREFETCH_RUNS_LIMIT`). Keys the construct sets cannot be overridden.
   *
   * @default - none
   */
  readonly backendEnvironment?: Record<string, string>;

  /**
   * Retention of the UI log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Write load balancer access logs to S3.
   *
   * @default true
   */
  readonly accessLogs?: boolean;

  /**
   * The bucket access logs go to (SSE-S3; its policy must let ELB deliver logs).
   *
   * @default - a private, SSE-S3, TLS-only bucket is created when `accessLogs` is true
   */
  readonly accessLogsBucket?: s3.IBucket;

  /**
   * Key prefix of the access logs.
   *
   * @default 'metaflow-ui'
   */
  readonly accessLogsPrefix?: string;

  /**
   * Deletion protection of the load balancer.
   *
   * @default false
   */
  readonly deletionProtection?: boolean;

  /**
   * What happens to the created access log bucket and user pool when the stack is deleted.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The Metaflow UI: the UI backend (the metadata service image running the UI server, port 8083,
 * reading the metadata database and the datastore) and the static UI (port 3000) as Fargate
 * services behind an Application Load Balancer that routes `/api/*` to the backend and
 * everything else to the static UI. Protected either by Cognito login on an internet-facing
 * HTTPS load balancer, or by an internal load balancer reachable only from CIDR allow-lists.
 */
export class MetaflowUi extends Construct {
  /** The load balancer. */
  public readonly loadBalancer: elbv2.ApplicationLoadBalancer;
  /** The listener requests arrive on (HTTPS in Cognito mode, HTTP internally). */
  public readonly listener: elbv2.ApplicationListener;
  /** The UI backend service. */
  public readonly backendService: ecs.FargateService;
  /** The static UI service. */
  public readonly staticService: ecs.FargateService;
  /** The backend target group (`/api/*`). */
  public readonly backendTargetGroup: elbv2.ApplicationTargetGroup;
  /** The static UI target group (default route). */
  public readonly staticTargetGroup: elbv2.ApplicationTargetGroup;
  /** The log group of both services. */
  public readonly logGroup: logs.LogGroup;
  /** The Cognito user pool (Cognito mode). Add users to it to give them access. */
  public readonly userPool?: cognito.UserPool;
  /** The Cognito app client the load balancer authenticates with (Cognito mode). */
  public readonly userPoolClient?: cognito.UserPoolClient;
  /** The Cognito hosted domain (Cognito mode). */
  public readonly userPoolDomain?: cognito.UserPoolDomain;
  /** The access log bucket, when access logs are on. */
  public readonly accessLogsBucket?: s3.IBucket;
  /** The UI's URL: `https://<domainName>` with Cognito, `http://<ALB DNS name>[:port]` internally. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: MetaflowUiProps) {
    super(scope, id);
    const auth = this.checkAuth(props.auth);
    const backendCpu = props.backendCpu ?? 1024;
    const backendMemoryMiB = props.backendMemoryMiB ?? 4096;
    const staticCpu = props.staticCpu ?? 256;
    const staticMemoryMiB = props.staticMemoryMiB ?? 512;
    checkFargateSize(this, 'backendCpu', backendCpu, 'backendMemoryMiB', backendMemoryMiB);
    checkFargateSize(this, 'staticCpu', staticCpu, 'staticMemoryMiB', staticMemoryMiB);
    if (props.backendEphemeralStorageGiB !== undefined) {
      checkIntegerInRange(this, 'backendEphemeralStorageGiB', props.backendEphemeralStorageGiB, 21, 200);
    }
    const backendDesiredCount = props.backendDesiredCount ?? 1;
    const staticDesiredCount = props.staticDesiredCount ?? 1;
    checkIntegerInRange(this, 'backendDesiredCount', backendDesiredCount, 0, 100);
    checkIntegerInRange(this, 'staticDesiredCount', staticDesiredCount, 0, 100);
    const backendImageVersion = this.checkImageTag('backendImageVersion', props.backendImageVersion ?? DEFAULT_METADATA_SERVICE_VERSION);
    const staticImageVersion = this.checkImageTag('staticImageVersion', props.staticImageVersion ?? 'v1.2.4');
    const db = this.checkDatabase(props.database);
    const backendEnvironment = this.checkBackendEnvironment(props.backendEnvironment ?? {});
    const accessLogsOn = props.accessLogs ?? true;
    if (props.accessLogsBucket && !accessLogsOn) {
      invalidProp(this, 'accessLogs', props.accessLogs, 'true (or unset) when an accessLogsBucket is given');
    }
    const accessLogsPrefix = props.accessLogsPrefix ?? 'metaflow-ui';
    if (!LOG_PREFIX.test(accessLogsPrefix) || accessLogsPrefix.includes('AWSLogs')) {
      invalidProp(this, 'accessLogsPrefix', accessLogsPrefix, 'an S3 key prefix without leading or trailing "/" and without "AWSLogs"');
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const vpcSubnets = props.vpcSubnets ?? {
      subnetType: props.vpc.privateSubnets.length > 0 ? ec2.SubnetType.PRIVATE_WITH_EGRESS : ec2.SubnetType.PUBLIC,
    };
    const taskSubnets = props.vpc.selectSubnets(vpcSubnets);
    const assignPublicIp = props.assignPublicIp
      ?? taskSubnets.subnets.every((subnet) => props.vpc.publicSubnets.includes(subnet));

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy,
    });

    // --- Backend: the metadata service image running the UI server.
    const backendTask = new ecs.FargateTaskDefinition(this, 'BackendTask', {
      cpu: backendCpu,
      memoryLimitMiB: backendMemoryMiB,
      ephemeralStorageGiB: props.backendEphemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    const datastoreRoot = props.datastore.datastoreSysrootS3;
    const dbSettings = {
      host: db.host,
      port: Token.isUnresolved(db.port) ? Token.asString(db.port) : String(db.port),
      databaseName: db.name,
      sslMode: db.sslMode,
      credentials: db.credentials,
    };
    backendTask.addContainer('Backend', {
      image: ecs.ContainerImage.fromRegistry(`${props.backendImageRepository ?? UI_BACKEND_IMAGE}:${backendImageVersion}`),
      command: UI_BACKEND_COMMAND,
      portMappings: [{ containerPort: UI_BACKEND_PORT, name: 'ui-backend' }],
      environment: {
        ...backendEnvironment,
        ...databaseEnvironment(dbSettings),
        MF_UI_METADATA_PORT: String(UI_BACKEND_PORT),
        PATH_PREFIX: `${UI_API_PATH}/`,
        // The static UI image serves the frontend; the backend only serves the API.
        UI_ENABLED: '0',
        // The backend's log and artifact readers look up the datastore root under these names.
        MF_DATASTORE_ROOT: datastoreRoot,
        METAFLOW_DATASTORE_SYSROOT_S3: datastoreRoot,
        METAFLOW_DEFAULT_DATASTORE: 's3',
        // The Metaflow client inside the backend's cache workers talks to this same server (as
        // the official Terraform module configures it).
        METAFLOW_DEFAULT_METADATA: 'service',
        METAFLOW_SERVICE_URL: `http://localhost:${UI_BACKEND_PORT}${UI_API_PATH}/metadata`,
      },
      secrets: databaseSecrets(dbSettings),
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'ui-backend' }),
    });
    acknowledge(backendTask, ['AwsSolutions-ECS2'],
      'The environment holds only non-secret settings (DB host/port/name/SSL mode, path prefix, datastore root); the DB user and password are ECS secrets from Secrets Manager.');
    props.datastore.grantRead(backendTask.taskRole);

    // --- Static UI: nginx serving the frontend; the API is on the same origin under /api.
    const staticTask = new ecs.FargateTaskDefinition(this, 'StaticTask', {
      cpu: staticCpu,
      memoryLimitMiB: staticMemoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    staticTask.addContainer('Static', {
      image: ecs.ContainerImage.fromRegistry(`${props.staticImageRepository ?? UI_STATIC_IMAGE}:${staticImageVersion}`),
      portMappings: [{ containerPort: UI_STATIC_PORT, name: 'ui-static' }],
      environment: { METAFLOW_SERVICE: UI_API_PATH, PORT: String(UI_STATIC_PORT) },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'ui-static' }),
    });
    acknowledge(staticTask, ['AwsSolutions-ECS2'],
      'The environment holds only the public API path (METAFLOW_SERVICE=/api) and the listen port; the static UI has no secrets.');

    const service = (name: string, taskDefinition: ecs.FargateTaskDefinition, desiredCount: number, description: string, grace: Duration) =>
      new ecs.FargateService(this, name, {
        cluster: props.cluster,
        taskDefinition,
        desiredCount,
        vpcSubnets,
        assignPublicIp,
        securityGroups: [new ec2.SecurityGroup(this, `${name}SecurityGroup`, { vpc: props.vpc, description, allowAllOutbound: true })],
        minHealthyPercent: 100,
        maxHealthyPercent: 200,
        circuitBreaker: { rollback: true },
        healthCheckGracePeriod: grace,
      });
    // The backend connects to the DB (creating its triggers) and warms its caches before it answers.
    this.backendService = service('Backend', backendTask, backendDesiredCount, 'Metaflow UI backend tasks', Duration.minutes(5));
    this.staticService = service('Static', staticTask, staticDesiredCount, 'Metaflow UI static tasks', Duration.minutes(1));
    db.connections.allowFrom(this.backendService, ec2.Port.tcp(db.port), 'Metaflow UI backend to the metadata database');

    // --- Load balancer.
    const internetFacing = auth.mode === MetaflowUiAuthMode.COGNITO;
    const albSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: internetFacing ? 'Metaflow UI load balancer (Cognito login)' : 'Metaflow UI internal load balancer',
      allowAllOutbound: false,
    });
    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.vpc,
      internetFacing,
      vpcSubnets: internetFacing ? this.publicSubnets(props.vpc) : this.internalSubnets(props.vpc),
      securityGroup: albSecurityGroup,
      dropInvalidHeaderFields: true,
      deletionProtection: props.deletionProtection ?? false,
      http2Enabled: true,
    });
    if (accessLogsOn) {
      const accessLogs = new AlbAccessLogs(this, 'AccessLogs', {
        bucket: props.accessLogsBucket,
        prefix: accessLogsPrefix,
        removalPolicy,
        expiration: Duration.days(365),
      });
      accessLogs.attach(this.loadBalancer);
      this.accessLogsBucket = accessLogs.bucket;
    } else {
      acknowledge(this.loadBalancer, ['AwsSolutions-ELB2'],
        'Access logs were turned off explicitly with accessLogs: false by whoever deploys this stack (the default writes them to S3).');
    }

    this.backendTargetGroup = new elbv2.ApplicationTargetGroup(this, 'BackendTargets', {
      vpc: props.vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: UI_BACKEND_PORT,
      deregistrationDelay: Duration.seconds(30),
      // The UI server answers GET <PATH_PREFIX>ping with "pong" (services/ui_backend_service/api/admin.py).
      healthCheck: { path: `${UI_API_PATH}/ping`, healthyHttpCodes: '200', interval: Duration.seconds(15), healthyThresholdCount: 2, unhealthyThresholdCount: 3 },
      targets: [this.backendService.loadBalancerTarget({ containerName: 'Backend', containerPort: UI_BACKEND_PORT })],
    });
    this.staticTargetGroup = new elbv2.ApplicationTargetGroup(this, 'StaticTargets', {
      vpc: props.vpc,
      targetType: elbv2.TargetType.IP,
      protocol: elbv2.ApplicationProtocol.HTTP,
      port: UI_STATIC_PORT,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: { path: '/', healthyHttpCodes: '200', interval: Duration.seconds(15), healthyThresholdCount: 2, unhealthyThresholdCount: 3 },
      targets: [this.staticService.loadBalancerTarget({ containerName: 'Static', containerPort: UI_STATIC_PORT })],
    });

    if (auth.mode === MetaflowUiAuthMode.COGNITO) {
      const options = auth.cognitoOptions!;
      const pool = this.createUserPool(options.domainName, options.cognitoDomainPrefix, removalPolicy);
      this.userPool = pool.userPool;
      this.userPoolClient = pool.client;
      this.userPoolDomain = pool.domain;
      const login = (next: elbv2.ListenerAction) => new elbv2Actions.AuthenticateCognitoAction({
        userPool: pool.userPool,
        userPoolClient: pool.client,
        userPoolDomain: pool.domain,
        next,
      });
      this.listener = this.loadBalancer.addListener('Https', {
        port: 443,
        protocol: elbv2.ApplicationProtocol.HTTPS,
        certificates: [elbv2.ListenerCertificate.fromArn(options.certificateArn)],
        sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
        open: false,
        defaultAction: login(elbv2.ListenerAction.forward([this.staticTargetGroup])),
      });
      this.listener.addAction('Api', {
        priority: 10,
        conditions: [elbv2.ListenerCondition.pathPatterns([`${UI_API_PATH}/*`])],
        action: login(elbv2.ListenerAction.forward([this.backendTargetGroup])),
      });
      const redirect = this.loadBalancer.addListener('HttpRedirect', {
        port: 80,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultAction: elbv2.ListenerAction.redirect({ protocol: 'HTTPS', port: '443', permanent: true }),
      });
      this.allowIngress(options.allowedCidrs, [[this.listener, 443], [redirect, 80]]);
      this.url = `https://${options.domainName}`;
    } else {
      const options = auth.internalOptions!;
      const port = options.port ?? 80;
      this.listener = this.loadBalancer.addListener('Http', {
        port,
        protocol: elbv2.ApplicationProtocol.HTTP,
        open: false,
        defaultAction: elbv2.ListenerAction.forward([this.staticTargetGroup]),
      });
      this.listener.addAction('Api', {
        priority: 10,
        conditions: [elbv2.ListenerCondition.pathPatterns([`${UI_API_PATH}/*`])],
        action: elbv2.ListenerAction.forward([this.backendTargetGroup]),
      });
      this.allowIngress(options.allowedCidrs, [[this.listener, port]]);
      this.url = `http://${this.loadBalancer.loadBalancerDnsName}${port === 80 ? '' : `:${port}`}`;
    }
  }

  private checkAuth(auth: MetaflowUiAuth | undefined): MetaflowUiAuth {
    if (!(auth instanceof MetaflowUiAuth)) {
      invalidProp(this, 'auth', auth, 'MetaflowUiAuth.cognito({...}) or MetaflowUiAuth.internal({...})');
    }
    if (auth.mode === MetaflowUiAuthMode.COGNITO) {
      const options = auth.cognitoOptions!;
      checkCertificateArn(this, 'auth.certificateArn', options.certificateArn);
      checkDomainName(this, 'auth.domainName', options.domainName);
      if (options.cognitoDomainPrefix !== undefined) checkCognitoDomainPrefix(this, 'auth.cognitoDomainPrefix', options.cognitoDomainPrefix);
      if (options.allowedCidrs !== undefined) checkCidrs(this, 'auth.allowedCidrs', options.allowedCidrs);
    } else {
      const options = auth.internalOptions!;
      checkCidrs(this, 'auth.allowedCidrs', options.allowedCidrs);
      if (options.port !== undefined) checkIntegerInRange(this, 'auth.port', options.port, 1, 65535);
    }
    return auth;
  }

  private checkImageTag(prop: string, tag: string): string {
    if (!Token.isUnresolved(tag) && !IMAGE_TAG.test(tag)) {
      invalidProp(this, prop, tag, 'an image tag (letters, digits, "_", "." and "-", up to 128), e.g. "v2.5.1"');
    }
    return tag;
  }

  private checkDatabase(database: MetaflowUiDatabase) {
    if (!database || typeof database.host !== 'string' || (!Token.isUnresolved(database.host) && database.host.trim() === '')) {
      invalidProp(this, 'database.host', database?.host, 'the database host name');
    }
    if (!database.credentials) invalidProp(this, 'database.credentials', database.credentials, 'a secret with "username" and "password" keys');
    if (!database.connections) invalidProp(this, 'database.connections', database.connections, "the database's ec2.Connections");
    const port = database.port ?? 5432;
    checkIntegerInRange(this, 'database.port', port, 1, 65535);
    const sslMode = database.sslMode ?? 'require';
    if (!SSL_MODES.includes(sslMode)) invalidProp(this, 'database.sslMode', sslMode, `one of ${SSL_MODES.join(', ')}`);
    const name = database.name ?? 'metaflow';
    if (!Token.isUnresolved(name) && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(name)) {
      invalidProp(this, 'database.name', name, 'a PostgreSQL database name');
    }
    return { host: database.host, port, name, sslMode, credentials: database.credentials, connections: database.connections };
  }

  private checkBackendEnvironment(environment: Record<string, string>): Record<string, string> {
    for (const key of Object.keys(environment)) {
      if (MANAGED_BACKEND_ENV.includes(key)) {
        invalidProp(this, `backendEnvironment.${key}`, environment[key], 'left unset: the construct sets it (DB credentials are ECS secrets, never plain environment)');
      }
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) invalidProp(this, 'backendEnvironment', key, 'environment variable names ([A-Za-z_][A-Za-z0-9_]*)');
    }
    return environment;
  }

  /** Subnets of the internet-facing load balancer. */
  private publicSubnets(vpc: ec2.IVpc): ec2.SubnetSelection {
    if (vpc.publicSubnets.length > 0) return { subnetType: ec2.SubnetType.PUBLIC };
    return invalidProp(this, 'vpc', vpc.node.path,
      'a VPC with public subnets for the internet-facing load balancer of MetaflowUiAuth.cognito (it has none; use MetaflowUiAuth.internal)');
  }

  /** Subnets of an internal load balancer: private (with egress, else isolated). */
  private internalSubnets(vpc: ec2.IVpc): ec2.SubnetSelection {
    if (vpc.privateSubnets.length > 0) return { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    if (vpc.isolatedSubnets.length > 0) return { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };
    return invalidProp(this, 'vpc', vpc.node.path,
      'a VPC with private or isolated subnets for the internal load balancer (it has only public subnets; use MetaflowUiAuth.cognito or add private subnets)');
  }

  /** Open the listeners to the allow-list, or (Cognito mode without one) to anywhere. */
  private allowIngress(cidrs: readonly string[] | undefined, listeners: Array<[elbv2.ApplicationListener, number]>): void {
    const peers = cidrs
      ? cidrs.map((cidr) => (isIpv6Cidr(cidr) ? ec2.Peer.ipv6(cidr) : ec2.Peer.ipv4(cidr)))
      : [ec2.Peer.anyIpv4()];
    for (const [listener, port] of listeners) {
      for (const peer of peers) {
        listener.connections.allowFrom(peer, ec2.Port.tcp(port), `Metaflow UI from ${peer.uniqueId} on port ${port}`);
      }
    }
    if (!cidrs) {
      acknowledge(this.loadBalancer.connections.securityGroups[0], ['AwsSolutions-EC23'],
        'The internet-facing UI load balancer accepts HTTPS from anywhere by design: every request is authenticated by Cognito before it reaches a target, and port 80 only redirects to HTTPS.');
    }
  }

  private createUserPool(domainName: string, domainPrefix: string | undefined, removalPolicy: RemovalPolicy) {
    const userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true, username: false },
      autoVerify: { email: true },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      featurePlan: cognito.FeaturePlan.PLUS,
      standardThreatProtectionMode: cognito.StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
    });
    const client = userPool.addClient('LoadBalancerClient', {
      generateSecret: true,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
        callbackUrls: [`https://${domainName}/oauth2/idpresponse`],
        logoutUrls: [`https://${domainName}`],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
    });
    const prefix = domainPrefix ?? `metaflow-ui-${Names.uniqueId(this).toLowerCase().replace(/[^a-z0-9]/g, '').slice(-8)}-${Aws.ACCOUNT_ID}`;
    const domain = userPool.addDomain('Domain', { cognitoDomain: { domainPrefix: prefix } });
    return { userPool, client, domain };
  }
}

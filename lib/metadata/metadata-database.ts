import { CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge } from '../nag/acknowledgements';
import { checkIntegerInRange, invalidProp } from '../validation';

/** How services reach the metadata database. */
export interface IMetadataDatabase {
  /** Host name of the database endpoint. */
  readonly host: string;
  /** Port (a string token, as CloudFormation renders it). */
  readonly port: string;
  /** Database name. */
  readonly databaseName: string;
  /** Secret with `username` and `password` JSON keys. */
  readonly credentials: secretsmanager.ISecret;
  /** Connections of the database, to allow clients in. */
  readonly connections: ec2.Connections;
}

/** Properties of a {@link MetadataDatabase}. */
export interface MetadataDatabaseProps {
  /** The VPC. */
  readonly vpc: ec2.IVpc;

  /**
   * Where the database goes (isolated or private subnets; never public).
   *
   * @default - isolated subnets if the VPC has them, else private
   */
  readonly vpcSubnets?: ec2.SubnetSelection;

  /**
   * PostgreSQL engine version. A major version alone (`VER_17`) lets RDS pick a recent minor and
   * move it with automatic minor upgrades. A full version (`VER_17_9`) pins the minor, and then
   * automatic minor upgrades are turned off: once RDS had upgraded the instance past the
   * template's version, a later change of that version below it would fail. Pick a version AWS
   * still supports: deprecated ones synthesize but fail to deploy (cfn-lint flags them).
   *
   * @default rds.PostgresEngineVersion.VER_17 (the major only; minors move)
   */
  readonly engineVersion?: rds.PostgresEngineVersion;

  /**
   * Instance class and size.
   *
   * @default db.t4g.small
   */
  readonly instanceType?: ec2.InstanceType;

  /**
   * Allocated storage in GiB (gp3, autoscaling up to 5×).
   *
   * @default 20
   */
  readonly allocatedStorageGiB?: number;

  /**
   * A standby in a second AZ.
   *
   * @default false
   */
  readonly multiAz?: boolean;

  /**
   * Days automated backups are kept (1–35).
   *
   * @default 7
   */
  readonly backupRetentionDays?: number;

  /**
   * Refuse to delete the instance (turn off before deleting the stack on purpose).
   *
   * @default true
   */
  readonly deletionProtection?: boolean;

  /**
   * What stack deletion does to the instance: SNAPSHOT keeps a final snapshot, RETAIN keeps the
   * instance, DESTROY deletes it.
   *
   * @default RemovalPolicy.SNAPSHOT
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * The database port. A non-default port avoids blanket scans for 5432.
   *
   * @default 5433
   */
  readonly port?: number;

  /** Name of the PostgreSQL database created for the service. @default 'metaflow' */
  readonly databaseName?: string;
}

/**
 * The PostgreSQL database of the Metaflow metadata service: encrypted, SSL required, credentials
 * generated into Secrets Manager, backups and deletion protection on, in isolated subnets and
 * reachable only from the security groups given to {@link allowFrom}.
 */
export class MetadataDatabase extends Construct implements IMetadataDatabase {
  /** The RDS PostgreSQL instance. */
  public readonly instance: rds.DatabaseInstance;
  /** The generated secret with the `username` and `password` JSON keys. */
  public readonly credentials: secretsmanager.ISecret;
  /** The instance endpoint's host name. */
  public readonly host: string;
  /** The port as a string, as container environment takes it. */
  public readonly port: string;
  /** The database name. */
  public readonly databaseName: string;
  /** Network access to the database: allow a peer with `connections.allowDefaultPortFrom(peer)`. */
  public readonly connections: ec2.Connections;
  /** The port as a number. */
  public readonly portNumber: number;

  constructor(scope: Construct, id: string, props: MetadataDatabaseProps) {
    super(scope, id);
    const port = props.port ?? 5433;
    checkIntegerInRange(this, 'port', port, 1150, 65535);
    const backupRetentionDays = props.backupRetentionDays ?? 7;
    checkIntegerInRange(this, 'backupRetentionDays', backupRetentionDays, 1, 35);
    const allocatedStorage = props.allocatedStorageGiB ?? 20;
    checkIntegerInRange(this, 'allocatedStorageGiB', allocatedStorage, 20, 65536);
    this.databaseName = props.databaseName ?? 'metaflow';
    if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(this.databaseName)) {
      invalidProp(this, 'databaseName', this.databaseName, 'a PostgreSQL database name (a letter, then letters, digits or _; at most 63)');
    }
    const vpcSubnets = props.vpcSubnets ?? (props.vpc.isolatedSubnets.length > 0
      ? { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
      : { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    if (vpcSubnets.subnetType === ec2.SubnetType.PUBLIC) {
      invalidProp(this, 'vpcSubnets', vpcSubnets.subnetType, 'isolated or private subnets (the database is never public)');
    }

    const engineVersion = props.engineVersion ?? rds.PostgresEngineVersion.VER_17;
    // "If a major version is specified but a minor version is not, Amazon RDS defaults to a recent
    // release of the major version" (RDS user guide, "Supported PostgreSQL versions").
    const minorsMove = engineVersion.postgresFullVersion === engineVersion.postgresMajorVersion;
    const engine = rds.DatabaseInstanceEngine.postgres({ version: engineVersion });
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Metaflow metadata database: ingress only from the metadata service (and UI)',
      allowAllOutbound: false,
    });
    this.instance = new rds.DatabaseInstance(this, 'Instance', {
      engine,
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
      vpc: props.vpc,
      vpcSubnets,
      securityGroups: [securityGroup],
      port,
      databaseName: this.databaseName,
      credentials: rds.Credentials.fromGeneratedSecret('metaflow'),
      parameterGroup: new rds.ParameterGroup(this, 'Parameters', {
        engine,
        description: 'Metaflow metadata database: SSL required',
        parameters: { 'rds.force_ssl': '1' },
      }),
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage,
      maxAllocatedStorage: allocatedStorage * 5,
      multiAz: props.multiAz ?? false,
      backupRetention: Duration.days(backupRetentionDays),
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.SNAPSHOT,
      publiclyAccessible: false,
      iamAuthentication: true,
      autoMinorVersionUpgrade: minorsMove,
      enablePerformanceInsights: true,
      cloudwatchLogsExports: ['postgresql', 'upgrade'],
      copyTagsToSnapshot: true,
    });
    if (minorsMove) {
      // cfn-lint's W3691 data lists bare majors ("17") as deprecated, a false positive: RDS
      // accepts them (see above; its E3691 allowed them after aws-cloudformation/cfn-lint#3849).
      // A full version is still checked.
      (this.instance.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['W3691'] } });
    }
    this.credentials = this.instance.secret!;
    this.host = this.instance.dbInstanceEndpointAddress;
    this.port = String(port);
    this.portNumber = port;
    this.connections = this.instance.connections;

    acknowledge(this.instance, ['AwsSolutions-SMG4'],
      'The metadata service reads the password once at task start (ECS secret); rotating it would break running services until they restart, so rotation is an operator action (rotate, then force a new ECS deployment).');
    if (props.deletionProtection === false) {
      acknowledge(this.instance, ['AwsSolutions-RDS10'],
        'Deletion protection is turned off on purpose with the deletionProtection prop (test stacks deployed with removalPolicy=destroy must be deletable); it is on by default.');
    }
    if (!(props.multiAz ?? false)) {
      acknowledge(this.instance, ['AwsSolutions-RDS3'],
        'Multi-AZ is the `multiAz` prop, off by default to halve the cost of a small metadata database; backups (7 days) and a final snapshot protect the data.');
    }
  }

  /** Let `peer` connect to the database port. */
  public allowFrom(peer: ec2.IConnectable, description: string): void {
    this.connections.allowFrom(peer, ec2.Port.tcp(this.portNumber), description);
  }
}

import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge, managedPolicyFinding, wildcardResourceFinding } from '../nag/acknowledgements';
import { migrationHandlerCode } from './migration-handler/code';
import { MIGRATION_DATA, MIGRATION_PROPERTIES } from './migration-handler/properties';

/** Properties of a {@link MigrationRunner}. */
export interface MigrationRunnerProps {
  /** The VPC the migration service is reachable in. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets for the function. It only calls the internal NLB, so it needs no internet access.
   *
   * @default - private subnets with egress, else isolated subnets, else public subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** `http://<internal-nlb>:8082` */
  readonly migrationServiceUrl: string;
  /**
   * Changing this value re-runs the migrations on update (e.g. the service image).
   */
  readonly trigger: string;
  /**
   * Run the migration check on every deploy: the custom resource gets a property that changes
   * with every synthesis, so CloudFormation sends it an Update each time (and `cdk deploy`
   * always has a change to deploy). Off, it runs only when `trigger` or the URL changes.
   *
   * @default true
   */
  readonly runOnEveryDeploy?: boolean;
  /** How long the function's and the provider's logs are kept. @default logs.RetentionDays.ONE_YEAR */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Runs the metadata database migrations on every deploy (see `runOnEveryDeploy`): a custom resource whose Node.js
 * function (bundled with esbuild when the package is built, or at synth time from the sources;
 * never Docker) asks the migration service for the schema
 * status and upgrades when needed. A failed migration fails the deployment with the service's
 * own message. The function can also be invoked by hand (see docs).
 */
export class MigrationRunner extends Construct implements ec2.IConnectable {
  /** The function; invoke it with `{"RequestType":"Create","ResourceProperties":{"MigrationServiceUrl":"…"}}`. */
  public readonly function: lambda.Function;
  /** The custom resource; its `Data` holds the schema versions before and after (see the handler). */
  public readonly resource: CustomResource;
  /**
   * The role of the provider framework's function, which invokes the migration function. Other
   * deploy-time helpers that run outside the VPC may share it (the metadata service's roll).
   */
  public readonly helperRole: iam.Role;
  /** The schema version after the last run (a deploy-time token). */
  public readonly schemaVersion: string;
  /** The function's network connections (it only needs to reach the migration service). */
  public readonly connections: ec2.Connections;

  constructor(scope: Construct, id: string, props: MigrationRunnerProps) {
    super(scope, id);
    const retention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'Metaflow migration runner: calls the migration service through the internal NLB',
      // Out only where the owner allows (the metadata service opens the NLB's 8082 to it).
      allowAllOutbound: false,
    });
    this.connections = new ec2.Connections({ securityGroups: [securityGroup] });
    const vpcSubnets = props.vpcSubnets ?? { subnetType: props.vpc.privateSubnets.length > 0
      ? ec2.SubnetType.PRIVATE_WITH_EGRESS
      : props.vpc.isolatedSubnets.length > 0 ? ec2.SubnetType.PRIVATE_ISOLATED : ec2.SubnetType.PUBLIC };
    this.function = new lambda.Function(this, 'Function', {
      description: 'Runs Metaflow metadata database migrations (GET /db_schema_status, PATCH /upgrade)',
      code: migrationHandlerCode(),
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: Duration.minutes(14),
      memorySize: 256,
      vpc: props.vpc,
      vpcSubnets,
      // The function needs no internet access, only the NLB, so a public subnet is fine too.
      allowPublicSubnet: vpcSubnets.subnetType === ec2.SubnetType.PUBLIC,
      securityGroups: [securityGroup],
      logGroup: new logs.LogGroup(this, 'FunctionLogs', { retention, removalPolicy: RemovalPolicy.DESTROY }),
    });
    this.helperRole = new iam.Role(this, 'HelperRole', {
      description: 'Deploy-time helpers of the Metaflow metadata service: the custom resource framework function (and the service roll)',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaBasicExecutionRole')],
    });
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: this.function,
      frameworkOnEventRole: this.helperRole,
      logGroup: new logs.LogGroup(this, 'ProviderLogs', { retention, removalPolicy: RemovalPolicy.DESTROY }),
    });
    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::MetaflowMigrations',
      properties: {
        [MIGRATION_PROPERTIES.SERVICE_URL]: props.migrationServiceUrl,
        Trigger: props.trigger,
        // A new value at every synthesis: every deploy checks the schema (the handler ignores it).
        ...((props.runOnEveryDeploy ?? true) ? { DeployedAt: new Date().toISOString() } : {}),
      },
    });

    this.schemaVersion = this.resource.getAttString(MIGRATION_DATA.VERSION_AFTER);

    const lambdaReason = 'AWS-maintained Lambda execution policies (CloudWatch Logs; ENI management for a VPC function); they carry no data access.';
    const lambdaPolicy = (name: string) =>
      managedPolicyFinding(this, iam.ManagedPolicy.fromAwsManagedPolicyName(`service-role/${name}`).managedPolicyArn);
    const basic = lambdaPolicy('AWSLambdaBasicExecutionRole');
    acknowledge(this.function, [basic, lambdaPolicy('AWSLambdaVPCAccessExecutionRole')], lambdaReason);
    acknowledge(this.helperRole, [basic], lambdaReason);
    acknowledge(this.helperRole, [wildcardResourceFinding(this, `${this.function.functionArn}:*`)],
      'The CDK provider framework invokes any version of the migration function; the grant is limited to that one function.');
    acknowledge(provider, ['AwsSolutions-L1'],
      'The CDK provider framework picks its own Node.js runtime and upgrades it with aws-cdk-lib; the migration function itself runs the latest runtime.');
  }
}

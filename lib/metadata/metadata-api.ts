import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledge, managedPolicyFinding } from '../nag/acknowledgements';
import { invalidProp } from '../validation';

/** Properties of a {@link MetadataApi}. */
export interface MetadataApiProps {
  /** The internal NLB in front of the metadata service (port 80 → service 8080). */
  readonly loadBalancer: elbv2.INetworkLoadBalancer;

  /**
   * Steady-state requests per second across all clients (usage plan throttle).
   *
   * @default 100
   */
  readonly rateLimit?: number;

  /**
   * Burst of requests allowed above the rate (usage plan throttle).
   *
   * @default 200
   */
  readonly burstLimit?: number;

  /**
   * Retention of the access log group.
   *
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly accessLogRetention?: logs.RetentionDays;

  /**
   * ARN of a regional AWS WAF web ACL to attach to the API stage.
   *
   * @default - none (the API key and throttling protect the API)
   */
  readonly webAclArn?: string;

  /**
   * Create the account-level role API Gateway writes CloudWatch logs with, and set it in the
   * region's API Gateway account settings (`AWS::ApiGateway::Account`). API Gateway needs that
   * role for the stage's access logs as well as for execution logs: in an account without it,
   * the stage fails to create. The role and the setting are retained when the stack is deleted
   * (other APIs of the account may rely on them). Turn this off only when the account already
   * has the role set (then execution logging stays off, access logs stay on).
   *
   * @default true
   */
  readonly cloudWatchRole?: boolean;

  /**
   * Name of the stage; part of the URL.
   *
   * @default 'api'
   */
  readonly stageName?: string;
}

/**
 * The public face of the metadata service: a regional REST API that forwards every path
 * through a VPC link to the internal NLB, requires an API key (generated into a Secrets Manager
 * secret, so a user fetches it in one call), throttles through a usage plan, and writes access
 * logs.
 */
export class MetadataApi extends Construct {
  /** The REST API in front of the internal NLB; every method requires the API key. */
  public readonly restApi: apigateway.RestApi;
  /** The secret whose SecretString is the API key value (plain text). */
  public readonly apiKeySecret: secretsmanager.Secret;
  /** The API key Metaflow clients send (METAFLOW_SERVICE_AUTH_KEY); its value is in {@link MetadataApi.apiKeySecret}. */
  public readonly apiKey: apigateway.ApiKey;
  /** The usage plan that binds the API key to the stage, with its throttling limits. */
  public readonly usagePlan: apigateway.UsagePlan;
  /** `https://<id>.execute-api.<region>.amazonaws.com/<stage>/` — Metaflow's SERVICE_URL. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: MetadataApiProps) {
    super(scope, id);
    const rateLimit = props.rateLimit ?? 100;
    const burstLimit = props.burstLimit ?? 200;
    if (!(Number.isFinite(rateLimit) && rateLimit > 0)) invalidProp(this, 'rateLimit', rateLimit, 'a positive number of requests per second');
    if (!(Number.isInteger(burstLimit) && burstLimit > 0 && burstLimit <= 5000)) invalidProp(this, 'burstLimit', burstLimit, 'an integer from 1 to 5000');
    const stageName = props.stageName ?? 'api';
    if (!/^[A-Za-z0-9_]{1,128}$/.test(stageName)) invalidProp(this, 'stageName', stageName, 'letters, digits and underscores');

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const cloudWatchRole = props.cloudWatchRole ?? true;
    this.restApi = new apigateway.RestApi(this, 'RestApi', {
      // API Gateway publishes its metrics by API *name* (dimension ApiName), and names need not be
      // unique: without one per stack, every stack's API would be "RestApi" and the alarms and the
      // dashboard would add up the APIs of every Metaflow stack in the account and region.
      restApiName: `${Stack.of(this).stackName}-metaflow-metadata`,
      description: `Metaflow metadata service (${Stack.of(this).stackName})`,
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      cloudWatchRole,
      cloudWatchRoleRemovalPolicy: cloudWatchRole ? RemovalPolicy.RETAIN : undefined,
      deployOptions: {
        stageName,
        // Errors only: integration failures (VPC link, NLB) show up without logging bodies.
        loggingLevel: cloudWatchRole ? apigateway.MethodLoggingLevel.ERROR : undefined,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: rateLimit,
        throttlingBurstLimit: burstLimit,
      },
    });

    // The stack publishes the URL as Metaflow's SERVICE_URL; drop the RestApi's own duplicate output.
    this.restApi.node.tryRemoveChild('Endpoint');

    const vpcLink = new apigateway.VpcLink(this, 'VpcLink', { targets: [props.loadBalancer] });
    const nlb = props.loadBalancer.loadBalancerDnsName;
    // No request models are defined, so body validation accepts any body; parameters (the proxy
    // path) must be present.
    const validator = this.restApi.addRequestValidator('Validator', { validateRequestParameters: true, validateRequestBody: true });
    const forward = (path: string, params?: Record<string, string>) => new apigateway.Integration({
      type: apigateway.IntegrationType.HTTP_PROXY,
      integrationHttpMethod: 'ANY',
      uri: `http://${nlb}${path}`,
      options: { connectionType: apigateway.ConnectionType.VPC_LINK, vpcLink, requestParameters: params },
    });
    const methodOptions = (params?: Record<string, boolean>): apigateway.MethodOptions => ({
      apiKeyRequired: true,
      requestValidator: validator,
      requestParameters: params,
    });
    this.restApi.root.addMethod('ANY', forward('/'), methodOptions());
    this.restApi.root.addResource('{proxy+}').addMethod(
      'ANY',
      forward('/{proxy}', { 'integration.request.path.proxy': 'method.request.path.proxy' }),
      methodOptions({ 'method.request.path.proxy': true }),
    );

    this.apiKeySecret = new secretsmanager.Secret(this, 'ApiKeySecret', {
      description: 'Metaflow metadata service API key (send as x-api-key; METAFLOW_SERVICE_AUTH_KEY)',
      generateSecretString: { passwordLength: 40, excludePunctuation: true, includeSpace: false },
    });
    this.apiKey = new apigateway.ApiKey(this, 'ApiKey', {
      description: 'Metaflow clients (value in the ApiKeySecret)',
      // A dynamic reference: CloudFormation resolves it at deploy time; the value never enters the template.
      value: this.apiKeySecret.secretValue.unsafeUnwrap(),
    });
    this.usagePlan = this.restApi.addUsagePlan('UsagePlan', {
      description: 'Metaflow clients',
      throttle: { rateLimit, burstLimit },
      apiStages: [{ api: this.restApi, stage: this.restApi.deploymentStage }],
    });
    this.usagePlan.addApiKey(this.apiKey);
    this.url = this.restApi.url;

    if (props.webAclArn) {
      new wafv2.CfnWebACLAssociation(this, 'WebAcl', {
        resourceArn: this.restApi.deploymentStage.stageArn,
        webAclArn: props.webAclArn,
      });
    } else {
      acknowledge(this.restApi.deploymentStage, ['AwsSolutions-APIG3'],
        'Every method requires the API key and the stage and usage plan throttle requests; a WAF web ACL (extra cost) attaches with the webAclArn prop.');
    }
    acknowledge(this.restApi, ['AwsSolutions-APIG4', 'AwsSolutions-COG4'],
      'Metaflow clients authenticate to the metadata service with an API key (x-api-key); they support no IAM or Cognito authorizer.');
    if (cloudWatchRole) {
      acknowledge(this.restApi, [managedPolicyFinding(this, iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs').managedPolicyArn)],
        'The account-level API Gateway logging role uses the AWS-maintained policy API Gateway documents for it; it carries no data access.');
    } else {
      acknowledge(this.restApi.deploymentStage, ['AwsSolutions-APIG6'],
        'cloudWatchRole is off: the account\'s own API Gateway CloudWatch role (set outside this stack) serves the access logs; execution logging is left off.');
    }
    acknowledge(this.apiKeySecret, ['AwsSolutions-SMG4'],
      'API Gateway keeps its own copy of the key value; rotation is an operator action (new secret value, then update the API key and run configure again).');
  }
}

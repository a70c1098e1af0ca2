import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { metaflowOutputId, toMetaflowConfigFile } from '../../core/metaflow-config-keys';
import { MetaflowConfigOutputs } from '../../lib/config/metaflow-config-outputs';
import { metaflowProfileOf } from '../../lib/config/metaflow-profile';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { MetaflowMetadataService } from '../../lib/metadata/metaflow-metadata-service';
import { MetaflowNetwork } from '../../lib/network/metaflow-network';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import { profileFromOutputs } from '../../runner/config/profile';
import { emptyStack, resourcesOf } from '../support/synth';

const SFN = {
  stateMachinePrefix: 'Flows',
  stateMachineRoleArn: 'arn:aws:iam::123456789012:role/sfn',
  eventsRoleArn: 'arn:aws:iam::123456789012:role/events',
  tableName: 'flows-table',
  logGroupArn: 'arn:aws:logs:us-east-1:123456789012:log-group:sfn-history',
};
const METADATA = {
  url: 'https://abc.execute-api.us-east-1.amazonaws.com/api/',
  internalUrl: 'http://internal-nlb.elb.us-east-1.amazonaws.com/',
  apiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:api-key-AbCdEf',
};

describe('importers (aws-batch style fromXxx) compose into an existing stack', () => {
  test('MetaflowNetwork.fromVpc: the same subnet choices over an existing VPC, nothing created in it', () => {
    const stack = emptyStack();
    const vpc = new ec2.Vpc(stack, 'Existing', { maxAzs: 2, natGateways: 1 });
    const network = MetaflowNetwork.fromVpc(stack, 'Network', vpc);
    expect(network.vpc).toBe(vpc);
    expect(network.computeSubnets).toEqual({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS });
    expect(network.computeNeedsPublicIp).toBe(false);
    expect(() => MetaflowNetwork.fromVpc(stack, 'Isolated', vpc, { computeSubnetType: ec2.SubnetType.PRIVATE_ISOLATED }))
      .toThrow(/Test\/Isolated: computeSubnetType must be a subnet type the VPC Test\/Existing has/);
    // No flow log, no log group, nothing else under the importer.
    expect(Object.keys(Template.fromStack(stack).toJSON().Resources).filter((id) => id.startsWith('Network'))).toEqual([]);
  });

  test('MetaflowMetadataService.fromAttributes: URLs and the API key secret, readable through grantReadApiKey', () => {
    const stack = emptyStack();
    const service = MetaflowMetadataService.fromAttributes(stack, 'Metadata', METADATA);
    expect(service.url).toBe(METADATA.url);
    const role = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    service.grantReadApiKey(role);
    const [, policy] = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Policy')[0];
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Effect: 'Allow', Resource: METADATA.apiKeySecretArn },
    ]);
  });

  test('MetaflowStepFunctionsSupport.fromAttributes: the prefix is checked, grantDeployFlows names the imported roles', () => {
    const stack = emptyStack();
    const sfn = MetaflowStepFunctionsSupport.fromAttributes(stack, 'Sfn', SFN);
    expect(sfn.table.tableName).toBe('flows-table');
    const role = new iam.Role(stack, 'Deployer', { assumedBy: new iam.AccountRootPrincipal() });
    sfn.grantDeployFlows(role);
    const statements = resourcesOf(Template.fromStack(stack), 'AWS::IAM::Policy')[0][1].Properties.PolicyDocument.Statement as any[];
    expect(statements.filter((s) => s.Action === 'iam:PassRole').map((s) => [s.Resource, s.Condition.StringEquals['iam:PassedToService']])).toEqual([
      ['arn:aws:iam::123456789012:role/sfn', 'states.amazonaws.com'],
      ['arn:aws:iam::123456789012:role/events', 'events.amazonaws.com'],
    ]);
    expect(JSON.stringify(statements)).toContain(':stateMachine:Flows_*');
    expect(() => MetaflowStepFunctionsSupport.fromAttributes(stack, 'Bad', { ...SFN, stateMachinePrefix: 'a_b' }))
      .toThrow(/Test\/Bad: stateMachinePrefix must be 1–40 letters, digits or "-" .*got "a_b"/);
  });

  test('config outputs built from imported pieces: configure reads back exactly their values', () => {
    const stack = emptyStack('Team');
    const profile = metaflowProfileOf({
      datastore: MetaflowDatastore.fromBucketName(stack, 'Datastore', 'team-flows'),
      compute: MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
        defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default', jobRoleArn: 'arn:aws:iam::123456789012:role/job',
      }),
      metadataService: MetaflowMetadataService.fromAttributes(stack, 'Metadata', METADATA),
      stepFunctions: MetaflowStepFunctionsSupport.fromAttributes(stack, 'Sfn', SFN),
      uiUrl: 'https://metaflow.example.com',
    });
    new MetaflowConfigOutputs(stack, 'Config', { profile });
    const outputs = Template.fromStack(stack).toJSON().Outputs as Record<string, { Value: string }>;
    const read = profileFromOutputs(Object.fromEntries(Object.entries(outputs).map(([id, o]) => [id, o.Value])));
    expect(read.profile).toEqual({
      DEFAULT_DATASTORE: 's3',
      DEFAULT_METADATA: 'service',
      DATASTORE_SYSROOT_S3: 's3://team-flows/metaflow',
      DATATOOLS_S3ROOT: 's3://team-flows/data',
      SERVICE_URL: METADATA.url,
      SERVICE_INTERNAL_URL: METADATA.internalUrl,
      BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
      ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::123456789012:role/job',
      SFN_IAM_ROLE: SFN.stateMachineRoleArn,
      EVENTS_SFN_ACCESS_IAM_ROLE: SFN.eventsRoleArn,
      SFN_DYNAMO_DB_TABLE: 'flows-table',
      SFN_STATE_MACHINE_PREFIX: 'Flows',
      SFN_EXECUTION_LOG_GROUP_ARN: SFN.logGroupArn,
      UI_URL: 'https://metaflow.example.com',
    });
    expect(outputs[metaflowOutputId('UI_URL')].Value).toBe('https://metaflow.example.com');
    expect(toMetaflowConfigFile(read.profile).METAFLOW_UI_URL).toBe('https://metaflow.example.com');
  });
});

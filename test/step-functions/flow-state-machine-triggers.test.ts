/**
 * FlowStateMachine's triggers and run status recorder on a synthesized template: examples/hello.ts
 * with the trigger of the "done when" (`s3://bucket/incoming/`, its key as `name`), a
 * flow trigger and a custom event trigger, on a KMS datastore created in the stack. The synth
 * passes cdk-nag (0 unacknowledged findings) and cfn-lint (0 findings); each rule's pattern and
 * input transformer are the ones `sfn deploy --trigger` puts (runner/sfn/triggers.ts); each
 * target role may start its one target only; the recorder may read and write this flow's run
 * records only. Bad `triggers` are one line each.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import hello from '../../examples/hello';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { DatastoreEncryption, MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { FlowStateMachine, FlowStateMachineProps } from '../../lib/step-functions/flow-state-machine';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import type { FlowTrigger } from '../../runner/flow/model';
import { runStatusRecorderDefinition } from '../../runner/sfn/run-status-rule';
import { describeWithTool } from '../support/external-tool';
import { freshOutdir, NagSynth, synthWithNagChecks } from '../support/nag-synth';
import { resourcesOf } from '../support/synth';

const FEATURE_FLAGS = require('../../cdk.json').context;
const ACCOUNT = '123456789012';
const QUEUE = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/metaflow-default`;
const TRIGGERS: FlowTrigger[] = [
  { s3: 's3://bucket/incoming/', parameters: { name: 'key' } },
  { flow: 'TrainFlow' },
  { event: { source: 'com.example.models', detailType: 'Model Published' }, parameters: { name: '$.detail.model' } },
];

function wire(stack: Stack, extra: Partial<FlowStateMachineProps> = {}) {
  const datastore = new MetaflowDatastore(stack, 'Datastore', { encryption: DatastoreEncryption.KMS });
  const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', { defaultQueueArn: QUEUE, fargateQueueArn: QUEUE, jobRoleArn: `arn:aws:iam::${ACCOUNT}:role/job`, fargateExecutionRoleArn: `arn:aws:iam::${ACCOUNT}:role/exec` });
  const support = MetaflowStepFunctionsSupport.fromAttributes(stack, 'Support', {
    stateMachinePrefix: 'team-flows',
    stateMachineRoleArn: `arn:aws:iam::${ACCOUNT}:role/metaflow-sfn`,
    eventsRoleArn: `arn:aws:iam::${ACCOUNT}:role/metaflow-events`,
    tableName: 'metaflow-sfn',
    logGroupArn: `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/metaflow/sfn`,
  });
  const flow = new FlowStateMachine(stack, 'Hello', { flow: hello, datastore, compute, support, triggers: TRIGGERS, ...extra });
  return { datastore, flow };
}

let nag: NagSynth;
let template: Template;
beforeAll(() => {
  const outdir = freshOutdir();
  const app = new App({ context: FEATURE_FLAGS, outdir });
  const stack = new Stack(app, 'Triggers', { env: { account: ACCOUNT, region: 'us-east-1' } });
  wire(stack);
  nag = synthWithNagChecks(app, stack, outdir);
  template = Template.fromJSON(JSON.parse(readFileSync(nag.templatePath, 'utf8')));
});

const machineId = () => resourcesOf(template, 'AWS::StepFunctions::StateMachine').find(([, r]) => r.Properties.StateMachineName === 'team-flows_HelloFlow')![0];
const rules = () => resourcesOf(template, 'AWS::Events::Rule');
/** The statements of the policies attached to the role `roleArn` (a GetAtt of a role in the template). */
function statementsOfRole(roleArn: { 'Fn::GetAtt': [string, string] }): any[] {
  const role = roleArn['Fn::GetAtt'][0];
  return resourcesOf(template, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === role)).flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

test('cdk-nag AwsSolutions: synth succeeds with 0 unacknowledged findings', () => {
  expect(nag.violations).toEqual([]);
  expect(nag.error).toBeUndefined();
});

describeWithTool('cfn-lint', 'cfn-lint on the template with triggers', () => {
  test('0 errors and 0 warnings', () => {
    const result = spawnSync('cfn-lint', ['--format', 'parseable', nag.templatePath], { encoding: 'utf8' });
    expect((result.stdout + result.stderr).split('\n').filter((l) => l.trim() !== '')).toEqual([]);
    expect(result.status).toBe(0);
  });
});

test('one rule per trigger: the pattern and input transformer sfn deploy puts; a target role that may start this state machine only', () => {
  const machine = machineId();
  const triggers = rules().filter(([id]) => /^HelloTrigger\d/.test(id)).map(([, r]) => r.Properties);
  expect(triggers.map((r) => r.EventPattern)).toEqual([
    { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['bucket'] }, object: { key: [{ prefix: 'incoming/' }] } } },
    {
      source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['SUCCEEDED'], stateMachineArn: [`arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:team-flows_TrainFlow`] },
    },
    { source: ['com.example.models'], 'detail-type': ['Model Published'] },
  ]);
  expect(triggers.map((r) => r.Targets[0].InputTransformer)).toEqual([
    { InputPathsMap: { name: '$.detail.object.key' }, InputTemplate: '{"Parameters": {"name": "<name>"}}' },
    undefined,
    { InputPathsMap: { name: '$.detail.model' }, InputTemplate: '{"Parameters": {"name": "<name>"}}' },
  ]);
  expect(triggers[1].Targets[0].Input).toBe('{}');
  for (const rule of triggers) {
    expect(rule.Targets).toHaveLength(1);
    expect(rule.Targets[0].Arn).toEqual({ Ref: machine });
    expect(statementsOfRole(rule.Targets[0].RoleArn)).toEqual([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machine } }]);
  }
});

test('the status rule: this machine\'s FAILED, TIMED_OUT and ABORTED executions start the Express recorder with the run record\'s bucket and key', () => {
  const machine = machineId();
  const [[, status]] = rules().filter(([id]) => id.startsWith('HelloRunStatusRule'));
  expect(status.Properties.EventPattern).toEqual({
    source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'], detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: [{ Ref: machine }] },
  });
  const [target] = status.Properties.Targets;
  const [[recorderId, recorder]] = resourcesOf(template, 'AWS::StepFunctions::StateMachine').filter(([id]) => id.startsWith('HelloRunStatusRecorder'));
  expect(target.Arn).toEqual({ Ref: recorderId });
  expect(target.InputTransformer.InputPathsMap).toEqual({ name: '$.detail.name', status: '$.detail.status', time: '$.time', execution: '$.detail.executionArn' });
  expect(target.InputTransformer.InputTemplate).toEqual({ 'Fn::Join': ['', ['{"bucket": "', { Ref: expect.stringMatching(/^DatastoreBucket/) }, '", "key": "metaflow/HelloFlow/<name>/run.json", "status": "<status>", "stoppedAt": "<time>", "executionArn": "<execution>"}']] });
  expect(statementsOfRole(target.RoleArn)).toEqual([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: recorderId } }]);

  expect(recorder.Properties).toMatchObject({ StateMachineType: 'EXPRESS', TracingConfiguration: { Enabled: true }, LoggingConfiguration: { Level: 'ALL' } });
  const definition = JSON.stringify(recorder.Properties.DefinitionString);
  expect(definition).toContain('aws-sdk:s3:getObject');
  expect(Object.keys(runStatusRecorderDefinition('aws').States as object).every((state) => definition.includes(state))).toBe(true);
  const statements = statementsOfRole(recorder.Properties.RoleArn);
  const s3 = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('s3:')));
  expect(s3).toEqual([{
    Action: ['s3:GetObject', 's3:PutObject'], Effect: 'Allow',
    Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^DatastoreBucket/), 'Arn'] }, '/metaflow/HelloFlow/*/run.json']] },
  }]);
  expect(statements.find((s) => [s.Action].flat().includes('kms:GenerateDataKey'))).toMatchObject({ Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DatastoreKey/), 'Arn'] } });
});

describe('props', () => {
  const build = (extra: Partial<FlowStateMachineProps>) => () => wire(new Stack(new App({ context: FEATURE_FLAGS }), 'S'), extra);

  test('recordRunStatus: false makes no status rule or recorder', () => {
    const stack = new Stack(new App({ context: FEATURE_FLAGS }), 'S');
    const { flow } = wire(stack, { recordRunStatus: false, triggers: [] });
    expect(flow.runStatusRecorder).toBeUndefined();
    expect(flow.triggerRules).toEqual([]);
    const t = Template.fromStack(stack);
    t.resourceCountIs('AWS::Events::Rule', 0);
    t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
  });

  test.each<[string, Partial<FlowStateMachineProps>, RegExp]>([
    ['a bad trigger', { triggers: [{ s3: 'bucket/x' }] }, /^S\/Hello: triggers must be a trigger that can start the flow \(triggers\[0\]: s3 must be an s3:\/\/<bucket>\/<prefix> URL, got "bucket\/x"\), got \{"s3":"bucket\/x"\}$/],
    ['a parameter the flow does not have', { triggers: [{ s3: 's3://bucket/x/', parameters: { nope: 'key' } }] }, /parameters maps unknown parameter "nope" \(the flow has name\)/],
    ['recordRunStatus not a boolean', { recordRunStatus: 'yes' as never }, /^S\/Hello: recordRunStatus must be true or false, got "yes"$/],
  ])('%s is one line', (_, extra, message) => {
    expect(build(extra)).toThrow(message);
  });

  test('a prefix inside the datastore root is refused (runs would start runs)', () => {
    const stack = new Stack(new App({ context: FEATURE_FLAGS }), 'S');
    const datastore = new MetaflowDatastore(stack, 'Data');
    expect(() => new FlowStateMachine(stack, 'Hello', {
      flow: hello, datastore, jobQueue: MetaflowBatchCompute.fromAttributes(stack, 'C', { defaultQueueArn: QUEUE, jobRoleArn: `arn:aws:iam::${ACCOUNT}:role/job` }).defaultQueue,
      triggers: [{ s3: `s3://${datastore.bucket.bucketName}/${datastore.sysrootPrefix}/HelloFlow/` }],
    })).toThrow(/^S\/Hello: triggers must be a trigger that can start the flow \(triggers\[0\]: .* overlaps the datastore root .*: every run writes there, so each run would start another; use a prefix outside it\), got /);
  });
});

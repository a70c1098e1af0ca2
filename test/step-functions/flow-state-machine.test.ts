/**
 * FlowStateMachine on synthesized templates: the example app (wired to the stack's own
 * constructs, scheduled), a stack wired to imported queues, roles, datastore and support (not
 * scheduled), and a foreach flow on a queue given directly with a KMS datastore and no support.
 * Each app is synthesized once, with cdk-nag on; cfn-lint runs once over all of them.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { buildFlowStateMachineApp } from '../../examples/flow-state-machine-app';
import fanout from '../../examples/fanout';
import hello from '../../examples/hello';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { DatastoreEncryption, MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { FlowStateMachine } from '../../lib/step-functions/flow-state-machine';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import { defineFlow } from '../../runner/flow/model';
import { validateFlow } from '../../runner/flow/validate';
import { compileFlow } from '../../runner/sfn/compiler';
import { describeWithTool } from '../support/external-tool';
import { freshOutdir, NagSynth, synthWithNagChecks } from '../support/nag-synth';
import { resourcesOf, stackWithVpcAndDatastore } from '../support/synth';
import { minimalCodePackage } from '../../runner/task-runtime/minimal-package';

const FEATURE_FLAGS = require('../../cdk.json').context;
/** asl-validator ships no type declarations. */
const validator: (definition: unknown) => { isValid: boolean; errorsText: () => string } = require('asl-validator');
const ACCOUNT = '123456789012';
const QUEUE = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/metaflow-default`;
const GPU_QUEUE = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/metaflow-gpu`;
const FARGATE_QUEUE = `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/metaflow-fargate`;
const JOB_ROLE = `arn:aws:iam::${ACCOUNT}:role/metaflow-job`;
const EXECUTION_ROLE = `arn:aws:iam::${ACCOUNT}:role/metaflow-fargate-execution`;
const LOG_GROUP = `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/aws/vendedlogs/states/metaflow`;

/** A flow with a GPU step and a step on the Fargate queue. */
export const TRAIN = defineFlow({
  name: 'TrainFlow',
  image: 'public.ecr.aws/docker/library/python:3.12',
  parameters: { epochs: { type: 'integer', default: 3 } },
  steps: [
    { name: 'start', command: ['python', '-c', 'print("prepare")'], next: 'train' },
    { name: 'train', command: ['python', '-c', 'print("train")'], resources: { gpu: 1, cpu: 4, memory: 16384 }, retry: { times: 2 }, timeout: { minutes: 30 }, next: 'report' },
    { name: 'report', command: ['python', '-c', 'print("report")'], resources: { cpu: 0.5, memory: 1024 }, batch: { queue: FARGATE_QUEUE }, next: 'end' },
    { name: 'end', command: ['python', '-c', 'print("done")'] },
  ],
});

/** Wire TRAIN to imported queues, roles, datastore and support: every value a literal. */
function importedWiring(stack: Stack) {
  const datastore = MetaflowDatastore.fromBucketName(stack, 'Datastore', 'team-metaflow', { sysrootPrefix: 'mf' });
  const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
    defaultQueueArn: QUEUE, gpuQueueArn: GPU_QUEUE, fargateQueueArn: FARGATE_QUEUE, jobRoleArn: JOB_ROLE, fargateExecutionRoleArn: EXECUTION_ROLE,
  });
  const support = MetaflowStepFunctionsSupport.fromAttributes(stack, 'Support', {
    stateMachinePrefix: 'team-flows',
    stateMachineRoleArn: `arn:aws:iam::${ACCOUNT}:role/metaflow-sfn`,
    eventsRoleArn: `arn:aws:iam::${ACCOUNT}:role/metaflow-events`,
    tableName: 'metaflow-sfn',
    logGroupArn: LOG_GROUP,
  });
  const flow = new FlowStateMachine(stack, 'Train', { flow: TRAIN, datastore, compute, support });
  return { datastore, compute, support, flow };
}

/** The package FlowStateMachine packs when no codePackage file is given (the task runtime alone). */
const RUNTIME_PACKAGE = minimalCodePackage();

/** The same compile call the construct makes for TRAIN, with the literal values. */
function compileTrainDirectly() {
  const graph = validateFlow(TRAIN);
  if (!graph.ok) throw new Error(graph.problems.join('; '));
  return compileFlow(graph.graph, {
    queue: QUEUE, gpuQueue: GPU_QUEUE, platformOf: (q) => (q === FARGATE_QUEUE ? 'FARGATE' : 'EC2'),
    jobRoleArn: JOB_ROLE, executionRoleArn: EXECUTION_ROLE, datastoreRoot: 's3://team-metaflow/mf', partition: 'aws',
    codePackageUrl: `s3://team-metaflow/mf/${TRAIN.name}/data/${RUNTIME_PACKAGE.sha1.slice(0, 2)}/${RUNTIME_PACKAGE.sha1}`,
  });
}

/** Resolve a CloudFormation value: `Ref`/`Fn::GetAtt` through `lookup`, `Fn::Join` joined. */
function resolveCfn(value: unknown, lookup: (intrinsic: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveCfn(v, lookup));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, any>;
    if (obj['Fn::Join']) return (obj['Fn::Join'][1] as unknown[]).map((v) => resolveCfn(v, lookup)).join(obj['Fn::Join'][0]);
    if (obj.Ref) return lookup(obj.Ref);
    if (obj['Fn::GetAtt']) return lookup(obj['Fn::GetAtt'].join('.'));
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveCfn(v, lookup)]));
  }
  return value;
}

/** The definition of the template's one state machine, with job definition Refs read as their names. */
function definitionOf(template: Template, fallback: (intrinsic: string) => string = (i) => `<${i}>`): any {
  const jobDefinitions = Object.fromEntries(resourcesOf(template, 'AWS::Batch::JobDefinition').map(([id, r]) => [id, r.Properties.JobDefinitionName]));
  const [[, machine]] = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
  const text = resolveCfn(machine.Properties.DefinitionString, (i) => (i === 'AWS::Partition' ? 'aws' : jobDefinitions[i] ?? fallback(i))) as string;
  return JSON.parse(text);
}

/** Every statement of the policies attached to roles whose logical id starts with `rolePrefix`. */
function statementsOf(template: Template, rolePrefix: string): any[] {
  const roles = resourcesOf(template, 'AWS::IAM::Role').map(([id]) => id).filter((id) => id.startsWith(rolePrefix));
  return resourcesOf(template, 'AWS::IAM::Policy')
    .filter(([, p]) => p.Properties.Roles.some((r: any) => roles.includes(r.Ref)))
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
}

/** The schedule rules (the run status rule has an event pattern instead). */
const scheduleRules = (template: Template) => resourcesOf(template, 'AWS::Events::Rule').filter(([, r]) => r.Properties.ScheduleExpression !== undefined);

const actionsOf = (statements: any[]) => statements.flatMap((s) => [s.Action].flat()).sort();

/**
 * FanoutFlow (a foreach whose items come from S3) on a Fargate queue given directly (no compute
 * layer, no support: its own log group and schedule role), with a KMS-encrypted datastore.
 */
function fanoutWiring(stack: Stack) {
  const datastore = new MetaflowDatastore(stack, 'Datastore', { encryption: DatastoreEncryption.KMS });
  const queue = batch.JobQueue.fromJobQueueArn(stack, 'Queue', FARGATE_QUEUE);
  return new FlowStateMachine(stack, 'Fanout', {
    flow: fanout,
    datastore,
    jobQueue: queue,
    fargateJobQueue: queue,
    jobRole: iam.Role.fromRoleArn(stack, 'JobRole', JOB_ROLE, { mutable: false }),
    fargateExecutionRole: iam.Role.fromRoleArn(stack, 'ExecutionRole', EXECUTION_ROLE, { mutable: false }),
    schedule: events.Schedule.rate(Duration.days(1)),
  });
}

type Variant = 'example' | 'imported' | 'fanout';
const VARIANTS: Variant[] = ['example', 'imported', 'fanout'];
/** What each variant's state machine is called, and the logical id prefix of its role. */
const EXPECTED: Record<Variant, { name: string; role: string; flow: string }> = {
  example: { name: 'HelloFlowStack_HelloFlow', role: 'HelloFlowStateMachineRole', flow: 'HelloFlow' },
  imported: { name: 'team-flows_TrainFlow', role: 'TrainStateMachineRole', flow: 'TrainFlow' },
  fanout: { name: 'Fanout_FanoutFlow', role: 'FanoutStateMachineRole', flow: 'FanoutFlow' },
};

interface Built { nag: NagSynth; template: Template }
const built = {} as Record<Variant, Built>;
let exampleHello: FlowStateMachine;
beforeAll(() => {
  const synth = (app: App, stack: Stack, outdir: string): Built => {
    const nag = synthWithNagChecks(app, stack, outdir);
    return { nag, template: Template.fromJSON(JSON.parse(readFileSync(nag.templatePath, 'utf8'))) };
  };
  const exampleOut = freshOutdir();
  const example = buildFlowStateMachineApp({ context: FEATURE_FLAGS, outdir: exampleOut });
  exampleHello = example.hello;
  built.example = synth(example.app, example.stack, exampleOut);
  for (const [variant, wire] of [['imported', importedWiring], ['fanout', fanoutWiring]] as const) {
    const outdir = freshOutdir();
    const app = new App({ context: FEATURE_FLAGS, outdir });
    const stack = new Stack(app, variant === 'imported' ? 'Imported' : 'Fanout');
    wire(stack);
    built[variant] = synth(app, stack, outdir);
  }
});

describe.each(VARIANTS)('%s stack', (variant) => {
  test('cdk-nag AwsSolutions: synth succeeds with 0 unacknowledged findings', () => {
    expect(built[variant].nag.violations).toEqual([]);
    expect(built[variant].nag.error).toBeUndefined();
  });

  test('the deployed definition is valid ASL (asl-validator) once deploy-time values are filled in', () => {
    const definition = definitionOf(built[variant].template, (i) => `arn:aws:batch:us-east-1:${ACCOUNT}:job-queue/${i}`);
    const { isValid, errorsText } = validator(definition);
    expect(errorsText()).toBe('');
    expect(isValid).toBe(true);
  });

  test('job definitions: metaflow_ names (the stack\'s grants), Batch retry strategy, tags, propagated', () => {
    const jobDefinitions = resourcesOf(built[variant].template, 'AWS::Batch::JobDefinition');
    expect(jobDefinitions.length).toBeGreaterThan(0);
    for (const [, jd] of jobDefinitions) {
      expect(jd.Properties.JobDefinitionName).toMatch(/^metaflow_[A-Za-z0-9_-]{1,119}$/);
      expect(jd.Properties).toMatchObject({ Type: 'container', PropagateTags: true, ResourceRetentionPolicy: { SkipDeregisterOnUpdate: true } });
      expect(jd.Properties.RetryStrategy.EvaluateOnExit.at(-1)).toEqual({ OnStatusReason: '*', Action: 'EXIT' });
      expect(jd.Properties.Tags['metaflow.flow']).toBe(EXPECTED[variant].flow);
    }
  });

  test('state machine: <prefix>_<flow>, STANDARD, logging ALL with execution data, X-Ray tracing', () => {
    const [[, machine]] = resourcesOf(built[variant].template, 'AWS::StepFunctions::StateMachine');
    expect(machine.Properties.StateMachineName).toBe(EXPECTED[variant].name);
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: true });
    const destination = machine.Properties.LoggingConfiguration.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
    const logGroups: Record<Variant, unknown> = {
      example: { 'Fn::GetAtt': [expect.stringMatching(/^StepFunctionsExecutionLogs/), 'Arn'] },
      imported: `${LOG_GROUP}:*`,
      fanout: { 'Fn::GetAtt': [expect.stringMatching(/^FanoutExecutionLogs/), 'Arn'] },
    };
    expect(destination).toEqual(logGroups[variant]);
    expect(machine.Properties.RoleArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/StateMachineRole/), 'Arn'] });
  });

  test('every Batch task submits a job definition of this stack by its exact revision (Ref)', () => {
    const [[, machine]] = resourcesOf(built[variant].template, 'AWS::StepFunctions::StateMachine');
    const definition = JSON.parse(resolveCfn(machine.Properties.DefinitionString, (i) => `<${i}>`) as string);
    const submitted = new Set<string>();
    const walk = (states: Record<string, any>) => Object.values(states).forEach((state) => {
      if (state.Type === 'Task' && String(state.Resource).includes(':states:::batch:')) submitted.add(state.Parameters.JobDefinition);
      (state.Branches ?? []).forEach((b: any) => walk(b.States));
      if (state.ItemProcessor ?? state.Iterator) walk((state.ItemProcessor ?? state.Iterator).States);
    });
    walk(definition.States);
    const ids = resourcesOf(built[variant].template, 'AWS::Batch::JobDefinition').map(([id]) => `<${id}>`);
    expect([...submitted].sort()).toEqual(ids.sort());
  });
});

describe('least privilege of the state machine role', () => {
  test('example: SubmitJob on the queue(s) its steps use and its own job definitions only', () => {
    const statements = statementsOf(built.example.template, 'HelloFlowStateMachineRole');
    const submit = statements.filter((s) => [s.Action].flat().includes('batch:SubmitJob'));
    expect(submit).toHaveLength(1);
    const resources = [submit[0].Resource].flat();
    const jobDefinitionRefs = resourcesOf(built.example.template, 'AWS::Batch::JobDefinition').map(([id]) => ({ Ref: id }));
    // HelloFlow has no GPU step: the GPU queue is not granted.
    expect(resources).toEqual(expect.arrayContaining([{ 'Fn::GetAtt': [expect.stringMatching(/^ComputeDefaultQueue/), 'JobQueueArn'] }, ...jobDefinitionRefs]));
    expect(resources).toHaveLength(1 + jobDefinitionRefs.length);
    expect(JSON.stringify(resources)).not.toMatch(/GpuQueue|job-definition\/\*|"\*"/);
  });

  test('imported: SubmitJob on exactly the default, GPU and Fargate queues TrainFlow uses', () => {
    const statements = statementsOf(built.imported.template, 'TrainStateMachineRole');
    const submit = statements.find((s) => [s.Action].flat().includes('batch:SubmitJob'));
    const queues = [submit.Resource].flat().filter((r: unknown) => typeof r === 'string');
    expect(queues.sort()).toEqual([FARGATE_QUEUE, GPU_QUEUE, QUEUE].sort());
  });

  test.each(VARIANTS)('%s: only the actions the definition calls, no action wildcards, no PassRole', (variant) => {
    const statements = statementsOf(built[variant].template, EXPECTED[variant].role);
    const actions = actionsOf(statements);
    const allowed = [
      'batch:SubmitJob', 'batch:DescribeJobs', 'batch:TerminateJob', 'batch:TagResource',
      'events:PutTargets', 'events:PutRule', 'events:DescribeRule',
      's3:GetObject', 's3:PutObject', 's3:ListBucket',
      'logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries',
      'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups',
      'xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets',
      'states:StartExecution', 'states:DescribeExecution', 'states:StopExecution', 'kms:Decrypt', 'kms:GenerateDataKey',
    ];
    for (const action of actions) expect(allowed).toContain(action);
    expect(actions).toEqual(expect.arrayContaining(['batch:SubmitJob', 'batch:DescribeJobs', 'batch:TerminateJob', 'events:PutRule', 'xray:PutTraceSegments', 'logs:CreateLogDelivery']));
    // Resource "*" only for calls without resource-level permissions.
    const onStar = actionsOf(statements.filter((s) => s.Resource === '*'));
    for (const action of onStar) expect(action).toMatch(/^(batch:DescribeJobs|logs:|xray:)/);
    const sync = statements.find((s) => [s.Action].flat().includes('events:PutRule'));
    expect(JSON.stringify(sync.Resource)).toContain(':rule/StepFunctionsGetEventsForBatchJobsRule');
  });

  test('fanout: the foreach reads and writes S3 under the datastore sysroot only, with the datastore key', () => {
    const statements = statementsOf(built.fanout.template, EXPECTED.fanout.role);
    const s3 = statements.filter((st) => actionsOf([st]).some((a: string) => a.startsWith('s3:')));
    expect(s3).toEqual([expect.objectContaining({
      Action: ['s3:GetObject', 's3:PutObject'],
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^DatastoreBucket/), 'Arn'] }, '/metaflow/*']] },
    })]);
    const kms = statements.filter((st) => actionsOf([st]).some((a: string) => a.startsWith('kms:')));
    expect(kms).toEqual([expect.objectContaining({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [expect.stringMatching(/^DatastoreKey/), 'Arn'] } })]);
  });

  test('without a foreach (HelloFlow, TrainFlow) the role only writes the run record: PutObject under the sysroot, no reads, no listing', () => {
    for (const variant of ['example', 'imported'] as const) {
      const statements = statementsOf(built[variant].template, EXPECTED[variant].role);
      const storage = statements.filter((st) => actionsOf([st]).some((a: string) => /^(s3|kms):/.test(a)));
      const objects = variant === 'example'
        ? { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^DatastoreBucket/), 'Arn'] }, '/metaflow/*']] }
        : { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::team-metaflow/mf/*']] };
      expect(storage).toEqual([{ Action: 's3:PutObject', Effect: 'Allow', Resource: objects }]);
    }
  });
});

describe('the same compiler as the CLI', () => {
  test('with literal wiring, the job definitions are exactly what compileFlow returns', () => {
    const direct = compileTrainDirectly();
    const inTemplate = resourcesOf(built.imported.template, 'AWS::Batch::JobDefinition').map(([, r]) => r.Properties);
    const byName = new Map(inTemplate.map((p) => [p.JobDefinitionName, p]));
    expect([...byName.keys()].sort()).toEqual(direct.jobDefinitions.map((d) => d.jobDefinitionName).sort());
    const lowerFirst = (v: unknown): unknown => (Array.isArray(v) ? v.map(lowerFirst) : v && typeof v === 'object'
      ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.charAt(0).toLowerCase() + k.slice(1), lowerFirst(x)])) : v);
    for (const input of direct.jobDefinitions) {
      const { ResourceRetentionPolicy: _kept, ...properties } = byName.get(input.jobDefinitionName)!;
      expect(lowerFirst(properties)).toEqual(JSON.parse(JSON.stringify(input)));
    }
  });

  test('with literal wiring, the definition is exactly what compileFlow returns', () => {
    expect(definitionOf(built.imported.template)).toEqual(JSON.parse(JSON.stringify(compileTrainDirectly().definition)));
  });

  test('the example passes its parameter value into the definition (an execution\'s input still wins)', () => {
    const definition = definitionOf(built.example.template);
    expect(JSON.stringify(definition)).toContain('"name":"Step Functions"');
    expect(JSON.stringify(definitionOf(built.imported.template))).not.toContain('Step Functions');
    expect(Object.keys(exampleHello.definition.States)).toContain(exampleHello.definition.StartAt);
  });
});

describe('schedule', () => {
  test('on (example): a rule named like the state machine, with the support\'s events role and {} as input', () => {
    const rules = scheduleRules(built.example.template);
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0];
    expect(rule.Properties).toMatchObject({ Name: 'HelloFlowStack_HelloFlow', ScheduleExpression: 'cron(0 6 * * ? *)', State: 'ENABLED' });
    expect(rule.Properties.Targets).toEqual([expect.objectContaining({
      Arn: { Ref: expect.stringMatching(/^HelloFlowStateMachine/) },
      RoleArn: { 'Fn::GetAtt': [expect.stringMatching(/^StepFunctionsEventsRole/), 'Arn'] },
      Input: '{}',
    })]);
  });

  test('on without support (fanout): a role created for the target may start this state machine only', () => {
    const [[, rule]] = scheduleRules(built.fanout.template);
    expect(rule.Properties).toMatchObject({ Name: 'Fanout_FanoutFlow', ScheduleExpression: 'rate(1 day)' });
    const roleId = rule.Properties.Targets[0].RoleArn['Fn::GetAtt'][0];
    const policies = resourcesOf(built.fanout.template, 'AWS::IAM::Policy').filter(([, p]) => p.Properties.Roles.some((r: any) => r.Ref === roleId));
    expect(policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement)).toEqual([
      expect.objectContaining({ Action: 'states:StartExecution', Resource: { Ref: expect.stringMatching(/^FanoutStateMachine/) } }),
    ]);
  });

  test('off (imported): no rule', () => {
    expect(scheduleRules(built.imported.template)).toEqual([]);
    // its only rule is the run status rule (flow-state-machine-triggers.test.ts)
    expect(resourcesOf(built.imported.template, 'AWS::Events::Rule').map(([, r]) => r.Properties.EventPattern?.['detail-type'])).toEqual([['Step Functions Execution Status Change']]);
  });
});

describe('grants and importers', () => {
  const stack = new Stack(new App({ context: FEATURE_FLAGS }), 'Grants');
  const { flow, support } = importedWiring(stack);
  const starter = new iam.Role(stack, 'Starter', { assumedBy: new iam.AccountRootPrincipal() });
  const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
  const stopper = new iam.Role(stack, 'Stopper', { assumedBy: new iam.AccountRootPrincipal() });
  const grants = [flow.grantStartExecution(starter), flow.grantRead(reader), flow.grantExecution(stopper, 'states:StopExecution')];
  const byName = FlowStateMachine.fromFlowName(stack, 'ByName', { flowName: 'TrainFlow', support });
  const byArn = FlowStateMachine.fromStateMachineArn(stack, 'ByArn', `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:team-flows_TrainFlow`);
  const importedGrant = byArn.grantStartExecution(starter);
  const template = Template.fromStack(stack);

  test('grants return iam.Grant and land on the grantee\'s policy', () => {
    for (const grant of [...grants, importedGrant]) expect(grant).toBeInstanceOf(iam.Grant);
    const start = statementsOf(template, 'Starter');
    // CDK merges the two grants (created and imported state machine) into one statement.
    expect(start).toEqual([expect.objectContaining({
      Action: 'states:StartExecution',
      Resource: expect.arrayContaining([{ Ref: expect.stringMatching(/^TrainStateMachine/) }, `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:team-flows_TrainFlow`]),
    })]);
    expect(actionsOf(statementsOf(template, 'Reader'))).toEqual(expect.arrayContaining(['states:DescribeExecution', 'states:GetExecutionHistory', 'states:ListExecutions']));
    const stop = statementsOf(template, 'Stopper');
    expect(stop).toHaveLength(1);
    expect(stop[0].Action).toBe('states:StopExecution');
    expect(JSON.stringify(stop[0].Resource)).toContain(':execution:');
  });

  test('importers parse <prefix>_<flow>', () => {
    expect([byName.flowName, byName.stateMachinePrefix, byName.stateMachineName]).toEqual(['TrainFlow', 'team-flows', 'team-flows_TrainFlow']);
    expect([byArn.flowName, byArn.stateMachinePrefix, byArn.stateMachineName]).toEqual(['TrainFlow', 'team-flows', 'team-flows_TrainFlow']);
    expect(byArn.stateMachineArn).toBe(`arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:team-flows_TrainFlow`);
    expect(Stack.of(stack).resolve(byName.stateMachineArn)).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':states:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':stateMachine:team-flows_TrainFlow']] });
  });

  test('created: readonly properties for what it made', () => {
    expect(flow.flowName).toBe('TrainFlow');
    expect(flow.stateMachineName).toBe('team-flows_TrainFlow');
    expect(flow.jobDefinitions.length).toBe(compileTrainDirectly().jobDefinitions.length);
    expect(flow.role).toBe(flow.stateMachine.role);
    expect(flow.scheduleRule).toBeUndefined();
    expect(flow.logGroup.logGroupArn).toBe(`${LOG_GROUP}:*`);
  });
});

describe('options: a step on the stack\'s own Fargate queue, a given role, removal policy, log level', () => {
  const { stack, vpc, datastore } = stackWithVpcAndDatastore();
  const compute = new MetaflowBatchCompute(stack, 'Compute', { vpc, datastore, fargate: { enabled: true } });
  const role = new iam.Role(stack, 'OwnRole', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
  const mixed = defineFlow({
    name: 'MixedFlow',
    image: 'public.ecr.aws/docker/library/busybox:1.36',
    steps: [
      { name: 'start', command: ['true'], next: 'small' },
      // The flow names the stack's Fargate queue by its (deploy-time) ARN.
      { name: 'small', command: ['true'], resources: { cpu: 0.5, memory: 1024 }, batch: { queue: compute.fargateQueue!.jobQueueArn }, next: 'end' },
      { name: 'end', command: ['true'] },
    ],
  });
  const flow = new FlowStateMachine(stack, 'Mixed', {
    flow: mixed, datastore, compute, stateMachinePrefix: 'team',
    role, removalPolicy: RemovalPolicy.RETAIN, logLevel: sfn.LogLevel.ERROR, includeExecutionData: false,
  });
  const template = Template.fromStack(stack);

  test('the step on the Fargate queue gets a Fargate job definition; the others EC2; both queues granted', () => {
    const platforms = resourcesOf(template, 'AWS::Batch::JobDefinition').map(([, r]) => [r.Properties.Tags['metaflow.step'], r.Properties.PlatformCapabilities[0]]);
    expect(Object.fromEntries(platforms)).toEqual({ start: 'EC2', small: 'FARGATE', end: 'EC2' });
    const submit = statementsOf(template, 'OwnRole').find((st) => actionsOf([st]).includes('batch:SubmitJob'));
    const queues = JSON.stringify([submit.Resource].flat().filter((r: any) => r['Fn::GetAtt']));
    expect(queues).toMatch(/ComputeDefaultQueue/);
    expect(queues).toMatch(/ComputeFargateQueue/);
    expect(queues).not.toMatch(/ComputeGpuQueue/);
  });

  test('a given role runs the state machine and receives the statements', () => {
    expect(flow.role).toBe(role);
    const [[, machine]] = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
    expect(machine.Properties.RoleArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^OwnRole/), 'Arn'] });
    expect(actionsOf(statementsOf(template, 'OwnRole'))).toEqual(expect.arrayContaining(['batch:SubmitJob', 'batch:DescribeJobs', 'events:PutRule']));
    // Its DependsOn keeps the policy (the role is implied by RoleArn).
    // …and the code package's copy (with its policy): no execution before the package is in the datastore.
    const dependsOn = [(machine as any).DependsOn].flat();
    expect(dependsOn).toHaveLength(3);
    expect(dependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^MixedCodePackageCopy[0-9A-F]{8}$/), expect.stringMatching(/^MixedCodePackageCopyCustomResourcePolicy/), expect.stringMatching(/^OwnRoleDefaultPolicy/)]));
  });

  test('removalPolicy RETAIN applies to the state machine, the job definitions and the log group made here', () => {
    const retained = (type: string) => resourcesOf(template, type).map(([, r]) => (r as any).DeletionPolicy);
    // the flow's state machine and its run status recorder
    expect(retained('AWS::StepFunctions::StateMachine')).toEqual(['Retain', 'Retain']);
    expect(new Set(retained('AWS::Batch::JobDefinition'))).toEqual(new Set(['Retain']));
    expect(resourcesOf(template, 'AWS::Logs::LogGroup').filter(([id]) => !id.startsWith('AWS679f53fac002430cb0da5b7982bd2287')).map(([, r]) => (r as any).DeletionPolicy)).toEqual(['Retain']);
  });

  test('the code package: the task runtime packed at synth, a file asset copied at deploy to its content-addressed datastore key by a role that may read that asset and write that key only; the state machine waits for it', () => {
    const sha1 = RUNTIME_PACKAGE.sha1;
    const [[copyId, copy]] = resourcesOf(template, 'Custom::AWS');
    const create = JSON.stringify(copy.Properties.Create);
    expect(create).toContain('\\"service\\":\\"S3\\",\\"action\\":\\"copyObject\\"');
    expect(create).toContain(`Key\\":\\"metaflow/MixedFlow/data/${sha1.slice(0, 2)}/${sha1}`);
    expect(create).toMatch(/CopySource.*cdk-hnb659fds-assets-.*\/[0-9a-f]{64}\.tgz/);
    const statements = statementsOf(template, 'MixedCodePackageCopyRole');
    expect(statements.map((st) => st.Action).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    expect(JSON.stringify(statements)).toContain(`/MixedFlow/data/${sha1.slice(0, 2)}/${sha1}`);
    expect(JSON.stringify(statements)).not.toContain('*');
    const [[, machine]] = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
    expect([(machine as any).DependsOn].flat()).toContain(copyId);
    // The jobs' loader downloads exactly that key.
    expect(JSON.stringify(machine.Properties.DefinitionString)).toContain(`/MixedFlow/data/${sha1.slice(0, 2)}/${sha1}`);
  });

  test('logLevel and includeExecutionData pass through; the prefix names it', () => {
    const [[, machine]] = resourcesOf(template, 'AWS::StepFunctions::StateMachine');
    expect(machine.Properties.LoggingConfiguration).toMatchObject({ Level: 'ERROR', IncludeExecutionData: false });
    expect(machine.Properties.StateMachineName).toBe('team_MixedFlow');
  });
});

describe('the example app', () => {
  test('deploys HelloFlow from examples/hello.ts next to the stack pieces, with outputs', () => {
    const template = built.example.template;
    for (const type of ['AWS::EC2::VPC', 'AWS::S3::Bucket', 'AWS::Batch::JobQueue', 'AWS::DynamoDB::Table', 'AWS::StepFunctions::StateMachine']) {
      expect(resourcesOf(template, type).length).toBeGreaterThan(0);
    }
    expect(Object.keys(template.toJSON().Outputs)).toEqual(expect.arrayContaining(['StateMachineArn', 'StateMachinePrefix']));
    expect(exampleHello.flowName).toBe(hello.name);
  });
});

describeWithTool('cfn-lint', 'cfn-lint on the FlowStateMachine templates', () => {
  let findings: string[] = [];
  let status: number | null = null;
  beforeAll(() => {
    const result = spawnSync('cfn-lint', ['--format', 'parseable', ...VARIANTS.map((v) => built[v].nag.templatePath)], { encoding: 'utf8' });
    findings = (result.stdout + result.stderr).split('\n').filter((line) => line.trim() !== '');
    status = result.status;
  });

  test('0 errors and 0 warnings on every template', () => {
    expect(findings).toEqual([]);
    expect(status).toBe(0);
  });
});

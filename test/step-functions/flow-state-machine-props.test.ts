/**
 * Every bad FlowStateMachine prop (and importer attribute) is one line naming the construct path,
 * the prop and the value — thrown by the constructor, before anything is synthesized.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { join } from 'node:path';
import hello from '../../examples/hello';
import pyscripts from '../../examples/pyscripts/flow';
import { buildCodePackage } from '../../runner/package/build';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { FlowStateMachine, FlowStateMachineProps } from '../../lib/step-functions/flow-state-machine';
import { MetaflowStepFunctionsSupport } from '../../lib/step-functions/metaflow-step-functions-support';
import { MetaflowValidationError } from '../../lib/validation';
import { defineFlow } from '../../runner/flow/model';
import { emptyStack } from '../support/synth';

const stack = emptyStack();
const datastore = MetaflowDatastore.fromBucketName(stack, 'Datastore', 'team-metaflow');
const FARGATE_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/fargate';
const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
  defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
  fargateQueueArn: FARGATE_QUEUE,
  jobRoleArn: 'arn:aws:iam::123456789012:role/job',
});
const support = MetaflowStepFunctionsSupport.fromAttributes(stack, 'Support', {
  stateMachinePrefix: 'flows',
  stateMachineRoleArn: 'arn:aws:iam::123456789012:role/sfn',
  eventsRoleArn: 'arn:aws:iam::123456789012:role/events',
  tableName: 't',
  logGroupArn: 'arn:aws:logs:us-east-1:123456789012:log-group:sfn',
});
const base: FlowStateMachineProps = { flow: hello, datastore, compute, support };

let n = 0;
/** Build with `props` over the base and return the one-line error message. */
function errorOf(props: Partial<Record<keyof FlowStateMachineProps, unknown>>): string {
  const id = `Bad${++n}`;
  try {
    new FlowStateMachine(stack, id, { ...base, ...props } as FlowStateMachineProps);
  } catch (err) {
    expect(err).toBeInstanceOf(MetaflowValidationError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    expect(message.startsWith(`Test/${id}: `)).toBe(true);
    return message.slice(`Test/${id}: `.length);
  }
  throw new Error(`props ${JSON.stringify(props)} were accepted`);
}

const longName = (length: number) => `F${'x'.repeat(length - 1)}`;
const withRequiredParam = defineFlow({ ...hello, name: 'NeedsName', parameters: { name: { type: 'string' } } });

test.each<[string, Partial<Record<keyof FlowStateMachineProps, unknown>>, RegExp]>([
  ['flow: not a flow', { flow: { name: 'x', steps: [] } },
    /^flow must be a flow made with defineFlow\(\), got \{"name":"x","steps":\[\]\}$/],
  ['flow: invalid', { flow: defineFlow({ name: 'Broken', steps: [{ name: 'start', command: ['true'], next: 'nowhere' }] }) },
    /^flow must be a valid flow \(.*"nowhere".*\), got "Broken"$/],
  ['flow: rejected by the compiler (a GPU on Fargate)', {
    flow: defineFlow({ name: 'GpuOnFargate', image: 'busybox', steps: [{ name: 'start', command: ['true'], resources: { gpu: 1 }, batch: { queue: FARGATE_QUEUE }, next: 'end' }, { name: 'end', command: ['true'] }] }),
  }, /^flow must be a flow the Step Functions compiler accepts \(.*step "start".*gpu.*\), got "GpuOnFargate"$/],
  ['flow: state machine name over 80 characters', { flow: defineFlow({ ...hello, name: longName(40) }), support: undefined, stateMachinePrefix: 'p'.repeat(40) },
    /^flow must be a flow whose state machine name can be formed \(state machine name must be 1–80 .*\(81 characters\)\), got "Fx+"$/],
  ['datastore: missing', { datastore: undefined }, /^datastore must be a datastore \(IMetaflowDatastore\), got undefined$/],
  ['jobQueue: missing without compute', { compute: undefined }, /^jobQueue must be a job queue when no compute layer is given, got undefined$/],
  ['parameters: unknown name', { parameters: { nope: 'x' } },
    /^parameters must be values the flow accepts \(--param nope: flow "HelloFlow" has no parameter "nope" \(did you mean "name"\?\)\), got \{"nope":"x"\}$/],
  ['parameters: not strings', { parameters: { name: 3 } }, /^parameters must be an object of strings, as --param name=value takes them, got \{"name":3\}$/],
  ['parameters: a required one missing on a schedule', { flow: withRequiredParam, schedule: events.Schedule.rate(Duration.days(1)) },
    /^parameters must be values the flow accepts \(parameter "name" has no default: give it with --param name=VALUE\), got undefined$/],
  ['stateMachinePrefix: bad characters', { support: undefined, stateMachinePrefix: 'has space' },
    /^stateMachinePrefix must be 1–40 letters, digits or "-" \(the state machine is named <prefix>_<flow>\), got "has space"$/],
  ['stateMachinePrefix: given with support', { stateMachinePrefix: 'other' },
    /^stateMachinePrefix must be left unset when support is given \(the support's prefix names the state machine\), got "other"$/],
  ['schedule: not a Schedule', { schedule: 'cron(0 6 * * ? *)' },
    /^schedule must be an events\.Schedule \(Schedule\.cron\(…\), Schedule\.rate\(…\) or Schedule\.expression\(…\)\), got "cron\(0 6 \* \* \? \*\)"$/],
  ['schedule: the state machine name is too long for a rule name', { flow: defineFlow({ ...hello, name: longName(35) }), support: undefined, stateMachinePrefix: 'p'.repeat(30), schedule: events.Schedule.cron({ hour: '6', minute: '0' }) },
    /^schedule must be left unset: state machine "p{30}_Fx{34}" cannot be scheduled: its EventBridge rule is named after it and rule names are 1–64 characters .*, got "cron\(0 6 \* \* \? \*\)"$/],
  ['logLevel: OFF', { logLevel: sfn.LogLevel.OFF }, /^logLevel must be one of ALL, ERROR, FATAL \(logging stays on\), got "OFF"$/],
  ['includeExecutionData: not a boolean', { includeExecutionData: 'yes' }, /^includeExecutionData must be true or false, got "yes"$/],
  ['codePackage: a directory that does not exist', { codePackage: { directory: '/no/such/flow-folder' } },
    /^codePackage must be \{ directory: an existing folder to pack \} or \{ file: an existing code package tgz \}, not both, got \{"directory":"\/no\/such\/flow-folder"\}$/],
  ['codePackage: both a directory and a file', { codePackage: { directory: __dirname, file: __filename } },
    /^codePackage must be .*, not both, got \{"directory":.*"file":.*\}$/],
  ['removalPolicy: SNAPSHOT', { removalPolicy: RemovalPolicy.SNAPSHOT },
    /^removalPolicy must be one of destroy, retain, retain-on-update-or-delete \(state machines and job definitions have no snapshots\), got "snapshot"$/],
])('%s', (_what, props, expected) => {
  expect(errorOf(props)).toMatch(expected);
});

test("codePackage.directory: the flow's folder packed at synth as run --compute batch packs it (same sha1), copied to that content-addressed key", async () => {
  const folder = join(__dirname, '..', '..', 'examples', 'pyscripts');
  const machine = new FlowStateMachine(stack, 'PyScripts', { ...base, flow: pyscripts, codePackage: { directory: folder } });
  const built = await buildCodePackage({ root: folder });
  try {
    expect(machine.codePackage!.sha1).toBe(built.sha1);
  } finally {
    await built.dispose();
  }
  expect(stack.resolve(machine.codePackage!.url)).toMatch(new RegExp(`/PyScriptsFlow/data/${built.sha1.slice(0, 2)}/${built.sha1}$`));
});

test('a parameter without a default is accepted when runs are not scheduled (each execution\'s input gives it)', () => {
  expect(() => new FlowStateMachine(stack, 'Unscheduled', { ...base, flow: withRequiredParam })).not.toThrow();
});

test('assignPublicIp (public compute subnets without NAT): the Fargate job definitions get a public IP to pull their image; without it they do not', () => {
  const fargateFlow = defineFlow({ name: 'PublicFargate', image: 'busybox', steps: [{ name: 'start', command: ['true'], resources: { cpu: 1, memory: 2048 }, batch: { queue: FARGATE_QUEUE }, next: 'end' }, { name: 'end', command: ['true'] }] });
  const withExecRole = MetaflowBatchCompute.fromAttributes(stack, 'ComputeExec', {
    defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default', fargateQueueArn: FARGATE_QUEUE,
    jobRoleArn: 'arn:aws:iam::123456789012:role/job', fargateExecutionRoleArn: 'arn:aws:iam::123456789012:role/exec',
  });
  const on = new FlowStateMachine(stack, 'PublicIpOn2', { ...base, compute: withExecRole, flow: fargateFlow, assignPublicIp: true });
  const off = new FlowStateMachine(stack, 'PublicIpOff', { ...base, compute: withExecRole, flow: fargateFlow });
  const netOf = (m: FlowStateMachine) => m.jobDefinitions.map((d) => (stack.resolve(d.containerProperties) as { networkConfiguration?: unknown }).networkConfiguration);
  expect(netOf(on)).toEqual(expect.arrayContaining([{ assignPublicIp: 'ENABLED' }]));
  expect(netOf(off).every((n) => n === undefined)).toBe(true);
});

test('a Fargate step without an execution role is the compiler\'s one line', () => {
  const fargateFlow = defineFlow({ name: 'OnFargate', image: 'busybox', steps: [{ name: 'start', command: ['true'], resources: { cpu: 1, memory: 2048 }, batch: { queue: FARGATE_QUEUE }, next: 'end' }, { name: 'end', command: ['true'] }] });
  expect(errorOf({ flow: fargateFlow })).toMatch(/^flow must be a flow the Step Functions compiler accepts \(.*step "start".*execution role.*\), got "OnFargate"$/);
});

describe('importers', () => {
  const importError = (build: () => unknown): string => {
    try {
      build();
    } catch (err) {
      expect(err).toBeInstanceOf(MetaflowValidationError);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  test('fromStateMachineArn: an ARN whose name is not <prefix>_<flow>, or not a state machine ARN', () => {
    expect(importError(() => FlowStateMachine.fromStateMachineArn(stack, 'NoSeparator', 'arn:aws:states:us-east-1:123456789012:stateMachine:plain')))
      .toBe('Test/NoSeparator: stateMachineArn must be a literal state machine ARN whose name is <prefix>_<flow>, got "arn:aws:states:us-east-1:123456789012:stateMachine:plain"');
    expect(importError(() => FlowStateMachine.fromStateMachineArn(stack, 'NotSfn', 'arn:aws:iam::123456789012:role/x')))
      .toMatch(/^Test\/NotSfn: stateMachineArn must be .*, got "arn:aws:iam::123456789012:role\/x"$/);
  });

  test('fromFlowName: no prefix, both prefix and support, a bad flow name', () => {
    expect(importError(() => FlowStateMachine.fromFlowName(stack, 'NoPrefix', { flowName: 'HelloFlow' })))
      .toBe('Test/NoPrefix: stateMachinePrefix must be the prefix the flow was deployed under (or give support), got undefined');
    expect(importError(() => FlowStateMachine.fromFlowName(stack, 'Both', { flowName: 'HelloFlow', support, stateMachinePrefix: 'x' })))
      .toBe('Test/Both: stateMachinePrefix must be left unset when support is given, got "x"');
    expect(importError(() => FlowStateMachine.fromFlowName(stack, 'BadFlow', { flowName: 'has space', support })))
      .toMatch(/^Test\/BadFlow: flowName must be a flow whose state machine name can be formed \(.*\), got "has space"$/);
  });
});

/**
 * FlowStateMachine on fair-share queues (issue 17): the team's share and priority go into every
 * Batch SubmitJob state of the deployed definition (Step Functions' Batch integration passes
 * SubmitJob's parameters as given), a queue created with a scheduling policy is seen as fair-share,
 * an imported one when listed, and a fair-share queue without a team is one line at construction.
 * The state machine role needs nothing new: `batch:ShareIdentifier` is a condition key a policy
 * may use to restrict SubmitJob (AWS Batch user guide, "Use the batch:ShareIdentifier condition
 * key"), not a permission of its own.
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as batch from 'aws-cdk-lib/aws-batch';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { FlowStateMachine, FlowStateMachineProps } from '../../lib/step-functions/flow-state-machine';
import { MetaflowValidationError } from '../../lib/validation';
import { defineFlow } from '../../runner/flow/model';
import { emptyStack } from '../support/synth';

const FIFO_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/fifo';
const IMPORTED_TEAM_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/imported-teams';
const sh = (script: string) => ['/bin/sh', '-c', script];

const flow = defineFlow({
  name: 'TeamFlow',
  image: 'public.ecr.aws/docker/library/busybox:1.36',
  steps: [
    { name: 'start', command: sh('true'), next: 'train', batch: { schedulingPriority: 80 } },
    { name: 'train', command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true'), batch: { queue: FIFO_QUEUE } },
  ],
});

function fixture() {
  const stack = emptyStack();
  const datastore = MetaflowDatastore.fromBucketName(stack, 'Datastore', 'team-metaflow', { sysrootPrefix: 'metaflow/.teams/ml' });
  const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
    defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
    jobRoleArn: 'arn:aws:iam::123456789012:role/team-ml',
  });
  const environment = batch.FargateComputeEnvironment.fromFargateComputeEnvironmentArn(stack, 'Env', 'arn:aws:batch:us-east-1:123456789012:compute-environment/ec2');
  const policy = new batch.FairshareSchedulingPolicy(stack, 'Policy', { shares: [{ shareIdentifier: 'ml', weightFactor: 0.5 }] });
  const teamQueue = new batch.JobQueue(stack, 'TeamQueue', { computeEnvironments: [{ computeEnvironment: environment, order: 1 }], schedulingPolicy: policy });
  // A package already in the datastore: nothing is packed at synth (keeps the file fast).
  const codePackageUrl = `s3://team-metaflow/metaflow/.teams/ml/TeamFlow/data/ab/ab${'0'.repeat(38)}`;
  const base: FlowStateMachineProps = { flow, datastore, compute, jobQueue: teamQueue, stateMachinePrefix: 'teams', codePackageUrl };
  return { stack, teamQueue, base };
}

/** Each Batch SubmitJob state's Parameters, in definition order (states inside Maps too). */
function submitJobs(machine: FlowStateMachine): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (states: Record<string, any>) => {
    for (const state of Object.values(states)) {
      if (typeof state.Resource === 'string' && state.Resource.includes('batch:submitJob')) out.push(state.Parameters);
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
      for (const branch of state.Branches ?? []) visit(branch.States);
    }
  };
  visit(machine.definition.States as Record<string, any>);
  return out;
}

describe('a team flow on a fair-share queue', () => {
  // One synth for the first two tests (a synth is the slow part of this file).
  const built = (() => {
    const { stack, teamQueue, base } = fixture();
    const machine = new FlowStateMachine(stack, 'Flow', { ...base, team: 'ml', schedulingPriority: 7 });
    return { stack, teamQueue, machine, template: Template.fromStack(stack) };
  })();

  it('every SubmitJob on the team queue carries the share and the step\'s priority (else the prop\'s); the FIFO step neither', () => {
    const { stack, teamQueue, machine, template } = built;
    const jobs = submitJobs(machine).map((p) => ({
      fairShareQueue: stack.resolve(p.JobQueue) !== FIFO_QUEUE && JSON.stringify(stack.resolve(p.JobQueue)) === JSON.stringify(stack.resolve(teamQueue.jobQueueArn)),
      share: p.ShareIdentifier,
      priority: p.SchedulingPriorityOverride,
      team: (p.Tags as Record<string, string>)['metaflow.team'],
    }));
    expect(jobs).toEqual([
      { fairShareQueue: true, share: 'ml', priority: 80, team: 'ml' },
      { fairShareQueue: true, share: 'ml', priority: 7, team: 'ml' },
      { fairShareQueue: false, share: undefined, priority: undefined, team: 'ml' },
    ]);
    // The template carries the same definition.
    const text = JSON.stringify(template.findResources('AWS::StepFunctions::StateMachine'));
    expect(text.match(/\\"ShareIdentifier\\":\\"ml\\"/g)).toHaveLength(2);
  });

  it('the role may submit to both queues with no condition: a share needs no permission of its own', () => {
    const policies = Object.values(built.template.findResources('AWS::IAM::Policy'));
    const submit = policies.flatMap((p: any) => p.Properties.PolicyDocument.Statement).filter((s: any) => [s.Action].flat().includes('batch:SubmitJob'));
    expect(submit).toHaveLength(1);
    expect(submit[0].Condition).toBeUndefined();
    expect(JSON.stringify(submit[0].Resource)).toContain(FIFO_QUEUE);
    expect(JSON.stringify(submit[0].Resource)).toContain('TeamQueue');
  });

  it('the flow\'s team is used without the prop; an imported queue listed in fairShareJobQueues is fair-share', () => {
    const { stack, base } = fixture();
    const imported = batch.JobQueue.fromJobQueueArn(stack, 'Imported', IMPORTED_TEAM_QUEUE);
    const machine = new FlowStateMachine(stack, 'Flow', { ...base, flow: defineFlow({ ...flow, team: 'research' }), jobQueue: imported, fairShareJobQueues: [imported] });
    expect(submitJobs(machine).map((p) => [p.JobQueue, p.ShareIdentifier])).toEqual([
      [IMPORTED_TEAM_QUEUE, 'research'], [IMPORTED_TEAM_QUEUE, 'research'], [FIFO_QUEUE, undefined],
    ]);
    // Not listed: an imported queue is FIFO as far as the construct can tell.
    const plain = new FlowStateMachine(stack, 'Plain', { ...base, flow: defineFlow({ ...flow, name: 'Plain' }), jobQueue: imported });
    expect(submitJobs(plain).map((p) => p.ShareIdentifier)).toEqual([undefined, undefined, undefined]);
  });
});

describe('bad team props are one line naming the construct, the prop and the value', () => {
  function errorOf(extra: Partial<Record<keyof FlowStateMachineProps, unknown>>, stack?: Stack): string {
    const f = fixture();
    try {
      new FlowStateMachine(stack ?? f.stack, 'Flow', { ...f.base, ...extra } as FlowStateMachineProps);
    } catch (err) {
      expect(err).toBeInstanceOf(MetaflowValidationError);
      expect((err as Error).message).not.toContain('\n');
      return (err as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(extra)}`);
  }

  it.each<[string, Partial<Record<keyof FlowStateMachineProps, unknown>>, RegExp]>([
    ['a fair-share queue without a team', {},
      /^Test\/Flow: team must be a team name, because job queue "Test\/TeamQueue" has a fair-share scheduling policy and takes only jobs with a team: give the team prop or set the flow's team, got undefined$/],
    ['a team that is no share identifier', { team: 'Team ML' }, /^Test\/Flow: team must be a team name: .*, got "Team ML"$/],
    ['a priority out of range', { team: 'ml', schedulingPriority: -1 }, /^Test\/Flow: schedulingPriority must be a whole number from 0 to 9999 .*, got -1$/],
    ['fairShareJobQueues that are not queues', { team: 'ml', fairShareJobQueues: ['arn:queue'] }, /^Test\/Flow: fairShareJobQueues must be a list of job queues .*, got \["arn:queue"\]$/],
  ])('%s', (_name, extra, message) => {
    expect(errorOf(extra)).toMatch(message);
  });
});

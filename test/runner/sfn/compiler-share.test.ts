/**
 * Fair-share queues on Step Functions (issue 17): every SubmitJob state of a step on a fair-share
 * queue carries ShareIdentifier and SchedulingPriorityOverride (Step Functions' Batch integration
 * passes SubmitJob's parameters in PascalCase; AWS Batch refuses a job without a share on such a
 * queue and one with a share on a FIFO queue), the foreach array jobs and their one-child twins
 * too; no state on a FIFO queue carries them; and a fair-share queue without a team is one line.
 */
import sweep from '../../../examples/sweep';
import { UserInputError } from '../../../runner/errors';
import { validateFlow } from '../../../runner/flow/validate';
import { compileFlow } from '../../../runner/sfn/compiler';
import { allStates, compileValid, graphOf, OPTIONS, sh } from './compiler-support';

const IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';
const TEAM_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/teams';
const FIFO_QUEUE = 'arn:aws:batch:us-east-1:123456789012:job-queue/fifo';
const fairShare = (queue: string) => queue === TEAM_QUEUE;

/** Every Batch SubmitJob task state of a definition, by name. */
function submitJobStates(definition: { States: Record<string, unknown> }): [string, Record<string, unknown>][] {
  return [...allStates(definition)]
    .filter(([, s]) => typeof s.Resource === 'string' && s.Resource.endsWith(':states:::batch:submitJob.sync'))
    .map(([name, s]) => [name, s.Parameters as Record<string, unknown>]);
}

const mixed = graphOf({
  name: 'Mixed',
  image: IMAGE,
  steps: [
    { name: 'start', command: sh('true'), next: 'train', batch: { schedulingPriority: 70 } },
    { name: 'train', command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true'), batch: { queue: FIFO_QUEUE } },
  ],
});

describe('SubmitJob states on fair-share queues', () => {
  it('carry the team as ShareIdentifier and the step\'s priority (else the default); FIFO steps carry neither', () => {
    const { definition } = compileValid(mixed, { queue: TEAM_QUEUE, fairShare, team: 'ml', schedulingPriority: 5 });
    const states = submitJobStates(definition);
    expect(states.map(([, p]) => [p.JobQueue, p.ShareIdentifier, p.SchedulingPriorityOverride])).toEqual([
      [TEAM_QUEUE, 'ml', 70],
      [TEAM_QUEUE, 'ml', 5],
      [FIFO_QUEUE, undefined, undefined],
    ]);
    // every job carries the team tag, on either queue (cost allocation)
    for (const [, p] of states) expect((p.Tags as Record<string, string>)['metaflow.team']).toBe('ml');
  });

  it('every SubmitJob of a foreach (array jobs and their one-child twins) carries the share; priority defaults to 0', () => {
    const graph = validateFlow(sweep);
    if (!graph.ok) throw new Error(graph.problems.join('\n'));
    const { definition } = compileValid(graph.graph, { queue: TEAM_QUEUE, fairShare, team: 'research' });
    const states = submitJobStates(definition);
    expect(states.some(([, p]) => p.ArrayProperties !== undefined)).toBe(true);
    expect(states.length).toBeGreaterThan(3);
    for (const [name, p] of states) {
      expect({ name, share: p.ShareIdentifier, priority: p.SchedulingPriorityOverride }).toEqual({ name, share: 'research', priority: 0 });
    }
  });

  it('the flow\'s own team is the share when no team is given; the given team wins over it', () => {
    const flow = graphOf({ name: 'Owned', image: IMAGE, team: 'vision', steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] });
    const share = (team?: string) => submitJobStates(compileFlow(flow, { ...OPTIONS, queue: TEAM_QUEUE, fairShare, team }).definition)[0][1].ShareIdentifier;
    expect(share()).toBe('vision');
    expect(share('ml')).toBe('ml');
  });

  it('the run record the machine writes holds the team (runs --team filters on it); none without a team', () => {
    const summaryOf = (options: object) =>
      (allStates(compileFlow(mixed, { ...OPTIONS, ...options }).definition).get('Run.started')!.Parameters as { summary: Record<string, unknown> }).summary;
    expect(summaryOf({ queue: TEAM_QUEUE, fairShare, team: 'ml' })).toMatchObject({ team: 'ml', compute: 'batch' });
    expect(Object.keys(summaryOf({ queue: FIFO_QUEUE }))).not.toContain('team');
  });

  it('without fair-share queues nothing changes: no share fields, no team tag without a team', () => {
    const { definition } = compileValid(mixed, { queue: FIFO_QUEUE });
    for (const [, p] of submitJobStates(definition)) {
      expect(Object.keys(p)).not.toContain('ShareIdentifier');
      expect(Object.keys(p)).not.toContain('SchedulingPriorityOverride');
      expect(Object.keys(p.Tags as object)).not.toContain('metaflow.team');
    }
  });

  it('a fair-share queue without a team is one line naming the queue; a bad team or default priority is one line', () => {
    const compile = (extra: object) => () => compileFlow(mixed, { ...OPTIONS, queue: TEAM_QUEUE, fairShare, ...extra });
    expect(compile({})).toThrow(UserInputError);
    expect(compile({})).toThrow(`flow "Mixed" cannot run on Step Functions: job queue "${TEAM_QUEUE}" has a fair-share scheduling policy and takes only jobs with a team`);
    expect(compile({ team: 'ML' })).toThrow(/^team: expected a team name .*got "ML"$/);
    expect(compile({ team: 'ml', schedulingPriority: 10000 })).toThrow('schedulingPriority must be a whole number from 0 to 9999, got 10000');
  });
});

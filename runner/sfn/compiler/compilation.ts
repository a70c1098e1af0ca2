/**
 * What every part of the compiler shares for one flow: the graph, the options, each step's Batch
 * settings (policies, queue, platform, job definition), the catch vars, and the state names.
 */
import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { parseS3Url } from '../../batch/settings';
import { UserInputError } from '../../errors';
import { parameterType } from '../../flow/parameters';
import type { FlowGraph } from '../../flow/validate';
import { checkBatchStep, effectivePolicies, SCHEDULING_PRIORITY_RANGE, type BatchJobDefinitionInput, type EffectivePolicies } from '../../policy';
import { fairShareWithoutTeamProblem, teamNameProblem } from '../../../core/teams';
import { emptyArgumentProblems, type TaskCode } from '../../batch/job-shape';
import { backstopTimeoutSeconds } from './in-task';
import { taskJobDefinition } from './io-env';
import { StateNames } from './scope';
import type { CompileOptions, QueuePlatform } from './types';

/** One step as Batch will run it. */
export interface StepPlan {
  readonly policies: EffectivePolicies;
  readonly queue: string;
  readonly platform: QueuePlatform;
  /** The step's one-container job definition's name (runner/batch/job-shape.ts). */
  readonly jobDefinition: string;
  /** Its share, when its queue is fair-share: SubmitJob's ShareIdentifier and SchedulingPriorityOverride. */
  readonly share?: { readonly identifier: string; readonly priority: number };
}

export class Compilation {
  readonly flow: string;
  readonly partition: string;
  readonly datastore: { readonly bucket: string; readonly prefix: string; readonly url: string };
  readonly names = new StateNames();
  readonly steps = new Map<string, StepPlan>();
  readonly jobDefinitions = new Map<string, RegisterJobDefinitionCommandInput>();
  /** Catch var → the step that sets it. */
  readonly catchVars = new Map<string, string>();
  /** The flow's `json` parameters: rendered once into the state's `ptext` (state-shape.ts). */
  readonly jsonParams: readonly string[];
  /** The code package every job's loader downloads. */
  readonly code: TaskCode;
  /** The team of the flow's jobs (share identifier on fair-share queues, `metaflow.team` tag). */
  readonly team?: string;
  private readonly ancestors = new Map<string, ReadonlySet<string>>();
  /** Step → the foreach splits whose bodies hold it, outermost first. */
  private readonly enclosing = new Map<string, readonly string[]>();

  constructor(
    readonly graph: FlowGraph,
    readonly options: CompileOptions,
  ) {
    this.flow = graph.flow.name;
    this.partition = options.partition ?? 'aws';
    if (!/^aws(-[a-z]+)*$/.test(this.partition)) throw new UserInputError(`partition must be an AWS partition (aws, aws-cn, aws-us-gov, …), got ${JSON.stringify(this.partition)}`);
    if (typeof options.queue !== 'string' || options.queue.trim() === '') throw new UserInputError(`queue must name a Batch job queue, got ${JSON.stringify(options.queue)}`);
    this.datastore = parseS3Url('datastore root', options.datastoreRoot);
    if (typeof options.codePackageUrl !== 'string' || !/^s3:\/\/[^/]+\/.*[0-9a-f]{40}$/.test(options.codePackageUrl)) {
      throw new UserInputError(`codePackageUrl must be the S3 URL of the flow's code package (ending in its sha1), got ${JSON.stringify(options.codePackageUrl)}`);
    }
    if (options.metadata !== undefined && !/^https?:\/\/[^/\s]+(\/\S*)?$/.test(options.metadata.url ?? '')) {
      throw new UserInputError(`metadata.url must be the metadata service's http:// or https:// URL, got ${JSON.stringify(options.metadata.url)}`);
    }
    this.jsonParams = Object.entries(graph.flow.parameters ?? {}).filter(([, spec]) => parameterType(spec) === 'json').map(([n]) => n);
    this.code = { codeUrl: options.codePackageUrl, ...(options.region ? { region: options.region } : {}) };
    this.findEnclosingForeaches();
    const problems: string[] = [];
    this.team = options.team ?? graph.flow.team;
    const teamProblem = this.team === undefined ? undefined : teamNameProblem('team', this.team);
    if (teamProblem) throw new UserInputError(teamProblem);
    const defaultPriority = options.schedulingPriority ?? 0;
    if (!Number.isInteger(defaultPriority) || defaultPriority < SCHEDULING_PRIORITY_RANGE.min || defaultPriority > SCHEDULING_PRIORITY_RANGE.max) {
      throw new UserInputError(`schedulingPriority must be a whole number from ${SCHEDULING_PRIORITY_RANGE.min} to ${SCHEDULING_PRIORITY_RANGE.max}, got ${JSON.stringify(defaultPriority)}`);
    }
    const fairShareQueues = new Set<string>();
    for (const [name, spec] of graph.steps) {
      const policies = effectivePolicies(spec, { withRetry: options.withRetry, flowDefaults: graph.flow.defaults });
      const queue = spec.batch?.queue || (policies.resources.gpu > 0 ? options.gpuQueue || options.queue : options.queue);
      const platform = options.platformOf?.(queue) ?? 'EC2';
      const input: BatchJobDefinitionInput = {
        flow: this.flow,
        step: name,
        image: spec.image ?? graph.flow.image ?? '',
        policies,
        platform,
        jobRoleArn: options.jobRoleArn,
        executionRoleArn: options.executionRoleArn,
        options: spec.batch,
        assignPublicIp: options.assignPublicIp,
      };
      const stepProblems = [...checkBatchStep(input), ...emptyArgumentProblems(`step "${name}"`, spec.command)];
      problems.push(...stepProblems);
      if (policies.catch?.var) this.catchVars.set(policies.catch.var, name);
      if (stepProblems.length) continue;
      // The runtime times each attempt itself (in-task.ts): Batch's timeout is the backstop of them all.
      const attempts = this.enclosingForeaches(name).length > 0 ? policies.retries + 1 : 1;
      const timeoutSeconds = policies.timeoutSeconds === undefined ? undefined : backstopTimeoutSeconds(policies.timeoutSeconds, attempts, policies.retryDelayMs);
      const definition = taskJobDefinition({ ...input, policies: { ...policies, timeoutSeconds } }, spec.command);
      this.jobDefinitions.set(definition.jobDefinitionName!, definition);
      const fairShare = options.fairShare?.(queue) ?? false;
      if (fairShare) fairShareQueues.add(queue);
      const share = fairShare && this.team !== undefined ? { identifier: this.team, priority: spec.batch?.schedulingPriority ?? defaultPriority } : undefined;
      this.steps.set(name, { policies, queue, platform, jobDefinition: definition.jobDefinitionName!, share });
    }
    if (fairShareQueues.size > 0 && this.team === undefined) problems.push(fairShareWithoutTeamProblem([...fairShareQueues]));
    if (problems.length) throw new UserInputError(`flow "${this.flow}" cannot run on Step Functions: ${problems.join('; ')}`);
  }

  plan(step: string): StepPlan {
    return this.steps.get(step)!;
  }

  /** The foreach splits whose bodies hold `step`, outermost first (a join is outside the foreach it closes). */
  enclosingForeaches(step: string): readonly string[] {
    return this.enclosing.get(step) ?? [];
  }

  private findEnclosingForeaches(): void {
    const todo: [string, readonly string[]][] = this.graph.steps.has('start') ? [['start', []]] : [];
    while (todo.length) {
      const [name, outer] = todo.pop()!;
      if (this.enclosing.has(name)) continue;
      const split = this.graph.closes.get(name);
      const here = split !== undefined ? (this.enclosing.get(split) ?? outer.slice(0, -1)) : outer;
      this.enclosing.set(name, here);
      const next = this.graph.steps.get(name)!.next;
      const inner = this.graph.kind.get(name) === 'foreach' ? [...here, name] : here;
      for (const n of typeof next === 'string' ? [next] : (next ?? [])) todo.push([n, inner]);
    }
  }

  /** Every step before `step` on some path from start. */
  ancestorsOf(step: string): ReadonlySet<string> {
    let set = this.ancestors.get(step);
    if (!set) {
      const out = new Set<string>();
      for (const parent of this.graph.inputs.get(step) ?? []) {
        out.add(parent);
        for (const a of this.ancestorsOf(parent)) out.add(a);
      }
      this.ancestors.set(step, (set = out));
    }
    return set;
  }

  /** Catch vars set by a step before `step` (what its MF_CAUGHT shows), sorted. */
  visibleCatchVars(step: string): string[] {
    const before = this.ancestorsOf(step);
    return [...this.catchVars].filter(([, setter]) => before.has(setter)).map(([v]) => v).sort();
  }

  /** The join step that closes a branch or foreach step. */
  joinOf(split: string): string {
    for (const [join, s] of this.graph.closes) if (s === split) return join;
    throw new Error(`compiler bug: no join closes ${split}`);
  }

  /** An S3 key of the datastore for a key relative to its root. */
  s3Key(relative: string): string {
    return this.datastore.prefix ? `${this.datastore.prefix}/${relative}` : relative;
  }

  /** `arn:<partition>:states:::<integration>`. */
  resource(integration: string): string {
    return `arn:${this.partition}:states:::${integration}`;
  }
}

/**
 * Walks the flow's DAG from a step to a stop (the join closing the enclosing split, or past
 * `end`) and adds its states to a state list:
 * - a step → its SubmitJob task (in a chunk of foreach children: a Choice between an array job
 *   and, for a chunk of one, a plain job — Batch arrays have 2–10,000 children);
 * - `catch` → a Catch to a Pass recording the failure under the catch var, then the step's
 *   normal next state;
 * - a branch → a Parallel of the arms (each walked to the join), then a Pass merging the arms'
 *   states (each catch var from the arm that sets it);
 * - a foreach → foreach-states.ts; inside a chunk, a Map over the chunk's children first.
 */
import { UserInputError } from '../../errors';
import { nextOf } from '../../flow/model';
import type { Compilation } from './compilation';
import { addChildrenMap, addForeachEntry, addForeachMap } from './foreach-states';
import { nextTail, Scope, type Tail } from './scope';
import { carriedText, ESTIMATE, member } from './state-shape';
import { inputTasks, submitJobState, taskKey, TOP, type Position } from './task-state';
import { S3_RETRY } from './retry';
import { dynamic, toAsl } from './dynamic-text';

export class Walker {
  constructor(
    private readonly c: Compilation,
    private readonly paramValues: Readonly<Record<string, unknown>>,
  ) {}

  /** Add the states from `from` up to (not including) `stop`; returns the steps it compiled. */
  walk(scope: Scope, from: string, stop: string | undefined, pos: Position): string[] {
    const done: string[] = [];
    let name = from;
    // A caught foreach split's way out, by its join: straight to the join, with no children.
    const toJoinWithoutInputs = new Map<string, Tail>();
    while (name !== stop) {
      done.push(name);
      const kind = this.c.graph.kind.get(name);
      const caughtRoute = this.addTask(scope, name, pos, kind === 'foreach');
      const route = toJoinWithoutInputs.get(name);
      if (route) this.addJoinWithoutInputs(scope, name, pos, route);
      const spec = this.c.graph.steps.get(name)!;
      if (kind === 'end') return done;
      if (kind === 'linear') {
        name = nextOf(spec)[0];
        continue;
      }
      const join = this.c.joinOf(name);
      if (kind === 'branch') {
        done.push(...this.addBranches(scope, name, join, pos));
        name = join;
        continue;
      }
      if (pos.kind === 'array') {
        // A foreach inside a chunk: every child of the chunk opens its own, and goes on to `stop` alone.
        const child: Position = { kind: 'child', split: pos.split };
        const processor = new Scope(this.c.names);
        done.push(...this.addForeach(processor, name, join, child), ...this.walk(processor, join, stop, child));
        addChildrenMap(scope, this.c, name, processor);
        return done;
      }
      done.push(...this.addForeach(scope, name, join, pos));
      if (caughtRoute) toJoinWithoutInputs.set(join, caughtRoute);
      name = join;
    }
    return done;
  }

  /**
   * A foreach whose split failed and was caught has nothing to fan out over: as the runner does,
   * its join runs at once with no inputs (an empty input list; the failure under the catch var),
   * then the flow goes on after the join. The join's twin: nothing fetched, `joined` count 0.
   */
  private addJoinWithoutInputs(scope: Scope, join: string, pos: Position, route: Tail): void {
    const none = scope.addDetached(`${join}.no-children`, {
      Type: 'Pass',
      Parameters: { 'params.$': '$.params', 'caught.$': '$.caught', 'ctx.$': '$.ctx', ...carriedText(this.c.jsonParams.length > 0), joined: { prefix: '', count: 0 } },
    });
    route(none);
    const twin = submitJobState(this.c, join, pos, 'plain', this.paramValues, true);
    const main = scope.states[join] as Record<string, unknown>;
    if (main.Catch) twin.Catch = main.Catch;
    (scope.states[none] as Record<string, unknown>).Next = scope.addDetached(`${join}.no-inputs`, twin);
    scope.addTail(nextTail(twin));
  }

  private addForeach(scope: Scope, split: string, join: string, pos: Position): string[] {
    const first = nextOf(this.c.graph.steps.get(split)!)[0];
    if (first === join) throw new UserInputError(`step "${split}": a foreach needs at least one step before its join "${join}" on Step Functions`);
    addForeachEntry(scope, this.c, split, pos);
    const body = new Scope(this.c.names);
    const done = this.walk(body, first, join, { kind: 'array', split });
    addForeachMap(scope, this.c, split, body.finish());
    return done;
  }

  private addBranches(scope: Scope, split: string, join: string, pos: Position): string[] {
    const arms = nextOf(this.c.graph.steps.get(split)!).map((head) => {
      const arm = new Scope(this.c.names);
      const steps = this.walk(arm, head, join, pos);
      return { steps, states: arm.finish() };
    });
    scope.add(`${split}.branches`, { Type: 'Parallel', Branches: arms.map((a) => a.states) });
    const caught: Record<string, string> = {};
    for (const v of [...this.c.catchVars.keys()].sort()) {
      const setter = this.c.catchVars.get(v)!;
      const arm = Math.max(0, arms.findIndex((a) => a.steps.includes(setter)));
      caught[`${v}.$`] = member(`$[${arm}].caught`, v);
    }
    scope.add(`${split}.merge`, { Type: 'Pass', Parameters: { 'params.$': '$[0].params', caught, 'ctx.$': '$[0].ctx', ...carriedText(this.c.jsonParams.length > 0, '$[0]') } });
    return arms.flatMap((a) => a.steps);
  }

  /** Add a step's task; with `holdCaught`, a catch's way out is returned instead of left open. */
  private addTask(scope: Scope, step: string, pos: Position, holdCaught = false): Tail | undefined {
    const plan = this.c.plan(step);
    if (plan.policies.catch && pos.kind !== 'top' && this.c.graph.kind.get(step) === 'foreach') throw this.caughtSplitInForeach(step);
    if (pos.kind === 'array') {
      const array = submitJobState(this.c, step, pos, 'array', this.paramValues);
      const single = submitJobState(this.c, step, pos, 'plain', this.paramValues);
      const one = `${step}.single`;
      scope.add(`${step}.size`, { Type: 'Choice', Choices: [{ Variable: '$.ctx.size', NumericEquals: 1, Next: one }], Default: step }, []);
      scope.addDetached(step, array);
      scope.addDetached(one, single);
      scope.setTails([nextTail(array), nextTail(single)]);
      return undefined;
    }
    const task = submitJobState(this.c, step, pos, 'plain', this.paramValues);
    // Inside a foreach body the runtime catches per child (in-task.ts).
    if (!plan.policies.catch || pos.kind !== 'top') {
      scope.add(step, task);
      return undefined;
    }
    // Caught: record the failure (Failure's shape, runner/datastore/types.ts) and go on as after a success.
    const v = plan.policies.catch.var;
    const recorded = `${step}.caught`;
    task.Catch = [{ ErrorEquals: ['States.ALL'], ResultPath: v ? member('$.caught', v) : null, Next: recorded }];
    const pass: Record<string, unknown> = { Type: 'Pass' };
    if (v) {
      const error = dynamic(`${member('$.caught', v)}.Error`, 's', 64);
      pass.Parameters = toAsl({
        step,
        taskId: '0',
        message: `step ${step}/0 failed: ${error}`,
        exitCode: null,
        statusReason: error,
        attempts: plan.policies.retries + 1,
      });
      pass.ResultPath = member('$.caught', v);
    }
    scope.add(step, task);
    scope.addDetached(recorded, pass);
    const record = this.caughtRecordState(step, v, plan.policies.retries + 1);
    pass.Next = scope.addDetached(`${step}.record`, record);
    if (holdCaught) return this.splitOutcome(scope, step, task, record);
    scope.setTails([nextTail(task), nextTail(record)]);
    return undefined;
  }

  /**
   * A caught top-level foreach split's two ways to its join without inputs: the state machine's
   * Catch (its job failed without its runtime), or its runtime caught it (its command's last
   * attempt failed, or its items were unusable) and the job succeeded — which only its
   * status.json tells, so it is read before fanning out.
   */
  private splitOutcome(scope: Scope, split: string, task: Record<string, unknown>, record: Record<string, unknown>): Tail {
    scope.setTails([nextTail(task)]);
    scope.add(`${split}.outcome`, {
      Type: 'Task',
      Resource: this.c.resource('aws-sdk:s3:getObject'),
      Parameters: toAsl({ Bucket: this.c.datastore.bucket, Key: this.c.s3Key(`${taskKey(this.c, split, '0')}/status.json`) }),
      ResultSelector: { 'record.$': 'States.StringToJson($.Body)' },
      ResultPath: '$.split',
      Retry: [S3_RETRY],
    });
    const caught: Record<string, unknown> = { Variable: '$.split.record.status', StringEquals: 'caught' };
    const choice: Record<string, unknown> = { Type: 'Choice', Choices: [caught] };
    scope.add(`${split}.was-caught`, choice, [(next) => (choice.Default = next)]);
    return (next) => {
      nextTail(record)(next);
      caught.Next = next;
    };
  }

  /**
   * Writes the caught task's status.json (the runner's record of a caught task: status `caught`,
   * its inputs, its failed attempts, the failure): the next steps' fetch mirrors the task path,
   * which holds nothing else, and the run's record says what happened to it.
   */
  private caughtRecordState(step: string, v: string | undefined, attempts: number): Record<string, unknown> {
    const failure = v
      ? dynamic(member('$.caught', v), 'j', ESTIMATE.caughtFailure)
      : JSON.stringify({ step, taskId: '0', message: `step ${step}/0 failed`, exitCode: null, statusReason: 'failed', attempts });
    const inputs = inputTasks(this.c, step, TOP).map((t) => JSON.stringify(`${t.step}/${t.taskId}`));
    const tries = Array.from({ length: attempts }, (_, attempt) => JSON.stringify({ attempt, status: 'failed', exitCode: null }));
    const body = `{"step":${JSON.stringify(step)},"taskId":"0","status":"caught","inputs":[${inputs.join(',')}],"attempts":[${tries.join(',')}],"caught":${failure}}`;
    return {
      Type: 'Task',
      Resource: this.c.resource('aws-sdk:s3:putObject'),
      Parameters: toAsl({ Bucket: this.c.datastore.bucket, Key: this.c.s3Key(`${taskKey(this.c, step, '0')}/status.json`), ContentType: 'application/json', Body: body }),
      ResultPath: null,
      Retry: [S3_RETRY],
    };
  }

  private caughtSplitInForeach(step: string): UserInputError {
    return new UserInputError(
      `step "${step}": catch on a foreach step inside another foreach's body is not supported on Step Functions yet (its children would have no items to fan out over): move the catch to a step of the inner body, or run the flow with \`metaflow-cdk run --compute batch\``,
    );
  }
}

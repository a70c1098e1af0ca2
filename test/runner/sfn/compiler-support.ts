/**
 * Fixtures of the compiler tests: flows from specs, the default compile options, asl-validator,
 * and an emulated AWS (Batch jobs with scripted outcomes, an in-memory S3) under
 * aws-local-stepfunctions.
 *
 * aws-local-stepfunctions 3.0.0 does not fill `$$.State` in the context object. AWS sets
 * `$$.State.RetryCount` to the number of retries of the state so far (0 on the first try); the
 * emulator does the same in the shared context object: after a scripted failure that a retrier
 * will retry it sets the count for the next try, and it clears it when a state finishes.
 */
import { StateMachine } from 'aws-local-stepfunctions';
import { defineFlow, type FlowSpec } from '../../../runner/flow/model';
import { validateFlow, type FlowGraph } from '../../../runner/flow/validate';
import { compileFlow, type CompiledFlow, type CompileOptions } from '../../../runner/sfn/compiler';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { minimalCodePackage } from '../../../runner/task-runtime/minimal-package';
import type { MotoBucket } from '../../support/moto-bucket';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22+); this machine's Node may be older.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  (Promise as unknown as { withResolvers: () => unknown }).withResolvers = () => {
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };

/** The code package every test job's loader downloads (the task runtime only); tests that run jobs store it with {@link storeCodePackage}. */
export const CODE_PACKAGE = minimalCodePackage();
/** Its key relative to the test datastore root (one package for every test flow: its content is the same). */
export const CODE_PACKAGE_KEY = CODE_PACKAGE.key('tests');
/** Put {@link CODE_PACKAGE} where {@link OPTIONS} says it is (bucket `mf-bucket`, under `metaflow/`). */
export async function storeCodePackage(moto: MotoBucket): Promise<void> {
  await moto.s3.send(new PutObjectCommand({ Bucket: 'mf-bucket', Key: `metaflow/${CODE_PACKAGE_KEY}`, Body: CODE_PACKAGE.body }));
}
export const OPTIONS: CompileOptions = { queue: 'mf-queue', datastoreRoot: 's3://mf-bucket/metaflow', codePackageUrl: `s3://mf-bucket/metaflow/${CODE_PACKAGE_KEY}` };
export const EXECUTION = 'sfn-20261121-200000-abc123';
export const EXECUTION_ARN = `arn:aws:states:us-east-1:123456789012:execution:m:${EXECUTION}`;

export function graphOf(spec: FlowSpec): FlowGraph {
  const result = validateFlow(defineFlow(spec));
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.graph;
}

export const sh = (script: string) => ['/bin/sh', '-c', script];

/** Intrinsic functions Step Functions allows in one field, nested or not. */
export const MAX_INTRINSICS_PER_FIELD = 10;

/** Compile and check the definition with asl-validator (paths and ARNs included) and the intrinsics limit. */
export function compileValid(graph: FlowGraph, options: Partial<CompileOptions> = {}): CompiledFlow {
  const compiled = compileFlow(graph, { ...OPTIONS, ...options });
  // asl-validator annotates the object it checks: give it a copy.
  const result = aslValidator(JSON.parse(JSON.stringify(compiled.definition)));
  if (!result.isValid) throw new Error(`asl-validator: ${result.errorsText('; ')}`);
  // Step Functions allows 10 intrinsic functions in one field (asl-validator does not check it).
  const crowded = JSON.stringify(compiled.definition).match(/"[^"]*\.\$":"(?:[^"\\]|\\.)*"/g)?.find((field) => (field.match(/States\.\w+\(/g) ?? []).length > MAX_INTRINSICS_PER_FIELD);
  if (crowded) throw new Error(`more than ${MAX_INTRINSICS_PER_FIELD} intrinsic functions in ${crowded}`);
  return compiled;
}

type State = Record<string, unknown> & { Type: string; Resource?: string; Retry?: { ErrorEquals: string[]; MaxAttempts?: number }[] };

/** Every state of a definition, nested lists included, by name. */
export function allStates(definition: { States: Record<string, unknown> }): Map<string, State> {
  const out = new Map<string, State>();
  const visit = (states: Record<string, unknown>) => {
    for (const [name, s] of Object.entries(states)) {
      const state = s as State;
      out.set(name, state);
      for (const b of (state.Branches as { States: Record<string, unknown> }[] | undefined) ?? []) visit(b.States);
      const proc = state.ItemProcessor as { States: Record<string, unknown> } | undefined;
      if (proc) visit(proc.States);
    }
  };
  visit(definition.States);
  return out;
}

/** A job's outcome: success (optionally writing objects to S3) or a Batch job failure. */
export type Outcome = { ok: true; write?: (params: SubmitJob, s3: Map<string, string>) => void } | { ok: false; reason: string };

export interface SubmitJob {
  readonly JobName: string;
  readonly JobQueue: string;
  readonly JobDefinition: string;
  readonly ArrayProperties?: { Size: number };
  readonly Tags: Record<string, string>;
  readonly ContainerOverrides: { Environment: { Name: string; Value: string }[] };
}

/** The environment of a SubmitJob's container, as a map. */
export function envOf(job: SubmitJob): Record<string, string> {
  return Object.fromEntries(job.ContainerOverrides.Environment.map((e) => [e.Name, e.Value]));
}

export interface Run {
  /** Every SubmitJob, in order, with the Task state that sent it. */
  readonly submits: { state: string; params: SubmitJob }[];
  readonly s3: Map<string, string>;
  readonly output: Record<string, unknown> | undefined;
  readonly error?: Error;
}

/** What a Batch task handler answers: a DescribeJobs-like output, or the failed job's description (the error's Cause). */
export type JobResult = { ok: true; output: unknown } | { ok: false; cause: string };

/** The AWS calls a compiled machine makes, as the test plays them. */
export interface AwsHandlers {
  /** `batch:submitJob.sync`: runs the job (the Task state's name and its SubmitJob parameters). */
  submitJob(state: string, params: SubmitJob): Promise<JobResult>;
  /** `aws-sdk:s3:getObject`: the body, or undefined when the key does not exist. */
  getObject(bucket: string, key: string): Promise<string | undefined>;
  /** `aws-sdk:s3:putObject`. */
  putObject(bucket: string, key: string, body: string): Promise<void>;
}

/**
 * Execute a compiled machine named `name` with `aws` playing its Task states (retry intervals and waits 0).
 * `$$.State.RetryCount` follows AWS: the number of retries of the state so far, by its user
 * `Retry` on States.TaskFailed.
 */
export async function runMachine(
  compiled: CompiledFlow,
  input: unknown,
  aws: AwsHandlers,
  name = EXECUTION,
): Promise<{ output: Record<string, unknown> | undefined; error?: Error }> {
  const states = allStates(compiled.definition);
  // The emulator sets $$.Execution.StartTime itself; $$.State.EnteredTime (the run record's end) is the time it is read.
  const context = {
    Execution: { Name: name, Id: EXECUTION_ARN.replace(EXECUTION, name) },
    State: {
      RetryCount: 0,
      get EnteredTime() {
        return new Date().toISOString();
      },
    },
  };
  const failures = new Map<string, number>();
  const handlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [name, state] of states) {
    if (state.Type !== 'Task') continue;
    if (state.Resource!.endsWith(':s3:putObject')) {
      handlers[name] = async (p) => {
        const { Bucket, Key, Body } = p as { Bucket: string; Key: string; Body: string };
        await aws.putObject(Bucket, Key, Body);
        return { ETag: '"x"' };
      };
    } else if (state.Resource!.endsWith(':s3:getObject')) {
      handlers[name] = async (p) => {
        const { Bucket, Key } = p as { Bucket: string; Key: string };
        const body = await aws.getObject(Bucket, Key);
        if (body === undefined) throw Object.assign(new Error(`NoSuchKey ${Key}`), { name: 'S3.NoSuchKeyException' });
        return { Body: body };
      };
    } else if (state.Resource!.endsWith(':batch:submitJob.sync')) {
      handlers[name] = async (p) => {
        const result = await aws.submitJob(name, p as SubmitJob);
        if (result.ok) {
          failures.set(name, 0);
          context.State.RetryCount = 0;
          return result.output;
        }
        const n = (failures.get(name) ?? 0) + 1;
        failures.set(name, n);
        const userRetries = state.Retry?.find((r) => r.ErrorEquals.includes('States.TaskFailed'))?.MaxAttempts ?? 0;
        context.State.RetryCount = n <= userRetries ? n : 0;
        if (n > userRetries) failures.set(name, 0);
        throw Object.assign(new Error(result.cause), { name: 'States.TaskFailed' });
      };
    } else {
      throw new Error(`state ${name}: no test handler for ${state.Resource}`);
    }
  }
  // A copy per execution: the emulator's Pass states hand out their `Result` object itself, and
  // States.JsonMerge then changes it in place.
  const machine = new StateMachine(JSON.parse(JSON.stringify(compiled.definition)) as never, { validationOptions: { checkPaths: true, checkArn: true } });
  const retryIntervalOverrides = Object.fromEntries([...states.keys()].map((n) => [n, 0]));
  const waitTimeOverrides = Object.fromEntries([...states].filter(([, s]) => s.Type === 'Wait').map(([n]) => [n, 0]));
  const execution = machine.run(input as never, { overrides: { taskResourceLocalHandlers: handlers as never, retryIntervalOverrides, waitTimeOverrides }, context: context as never });
  try {
    return { output: (await execution.result) as Record<string, unknown> };
  } catch (error) {
    return { output: undefined, error: error as Error };
  }
}

/**
 * Execute a compiled machine: Batch tasks follow `script[state]` (one outcome per call, the last
 * repeats; default success), S3 tasks use an in-memory bucket (`s3` seeds it).
 */
export async function execute(
  compiled: CompiledFlow,
  input: unknown = {},
  script: Record<string, Outcome[]> = {},
  s3: Map<string, string> = new Map(),
): Promise<Run> {
  const submits: Run['submits'] = [];
  const calls = new Map<string, number>();
  const result = await runMachine(compiled, input, {
    async submitJob(state, params) {
      submits.push({ state, params });
      const n = calls.get(state) ?? 0;
      calls.set(state, n + 1);
      const outcomes = script[state] ?? [{ ok: true }];
      const outcome = outcomes[Math.min(n, outcomes.length - 1)];
      if (!outcome.ok) return { ok: false, cause: JSON.stringify({ JobName: params.JobName, Status: 'FAILED', StatusReason: outcome.reason }) };
      outcome.write?.(params, s3);
      return { ok: true, output: { JobId: `job-${submits.length}`, JobName: params.JobName, Status: 'SUCCEEDED' } };
    },
    getObject: async (_bucket, k) => s3.get(k),
    putObject: async (_bucket, k, body) => void s3.set(k, body),
  });
  return { submits, s3, ...result };
}

/** The S3 key (in the test bucket) of a datastore key. */
export const key = (relative: string) => `metaflow/${relative}`;

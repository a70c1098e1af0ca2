/**
 * The Step Functions compiler's definitions: every one passes asl-validator, and what each state
 * carries (job definition, queue, tags, the task contract, retries, limits) is asserted here; the
 * behaviour of the compiled machines is in compiler-execution.test.ts.
 */
import fanout from '../../../examples/fanout';
import hello from '../../../examples/hello';
import resilient from '../../../examples/resilient';
import sweep from '../../../examples/sweep';
import type { Flow } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { compileFlow } from '../../../runner/sfn/compiler';
import { UserInputError } from '../../../runner/errors';
import { allStates, compileValid, envOf, graphOf, OPTIONS, sh } from './compiler-support';
import { BACKSTOP_MARGIN_SECONDS, STOP_GRACE_SECONDS } from '../../../runner/sfn/compiler/in-task';
import { loaderCommand } from '../../../runner/batch/job-shape';

const IMAGE = 'public.ecr.aws/docker/library/busybox:1.36';
const EXAMPLES: Record<string, Flow> = { 'hello.ts': hello, 'sweep.ts': sweep, 'fanout.ts': fanout, 'resilient.ts': resilient };
const example = (name: string) => {
  const result = validateFlow(EXAMPLES[name]);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.graph;
};

const linear = graphOf({
  name: 'Linear',
  image: IMAGE,
  parameters: { who: { default: 'world' }, n: { type: 'integer' } },
  steps: [
    { name: 'start', command: sh('echo start'), next: 'middle', retry: { times: 2, minutesBetweenRetries: 0.25 } },
    { name: 'middle', command: sh('echo middle'), next: 'end', timeout: { minutes: 5 }, batch: { tags: { team: 'ml' } } },
    { name: 'end', command: sh('echo end') },
  ],
});

describe('compiled definitions pass asl-validator', () => {
  test.each([
    ['hello.ts', {}],
    ['sweep.ts', {}],
    ['fanout.ts', { platformOf: () => 'FARGATE' as const, executionRoleArn: 'arn:aws:iam::123456789012:role/exec' }],
  ])('examples/%s', (file, options) => {
    const compiled = compileValid(example(file), options);
    expect(compiled.jobDefinitions.length).toBe(example(file).steps.size);
  });

  test('examples/resilient.ts is refused: its 1-second timeout is below Batch minimum', () => {
    expect(() => compileFlow(example('resilient.ts'), OPTIONS)).toThrow(
      new UserInputError('flow "ResilientFlow" cannot run on Step Functions: step "hung": timeout on Batch must be at least 60 s, got 1 s'),
    );
  });

  test('a linear flow: one submitJob.sync task per step, in order, with the step policy in its job definition', () => {
    const { definition, jobDefinitions } = compileValid(linear, { partition: 'aws-cn' });
    const states = allStates(definition);
    expect(states.get('start')!.Next).toBe('middle');
    expect(states.get('middle')!.Next).toBe('end');
    expect(states.get('end')!.End).toBe(true);
    const middle = states.get('middle')! as Record<string, any>;
    expect(middle.Resource).toBe('arn:aws-cn:states:::batch:submitJob.sync');
    expect(middle.Parameters.JobName).toBe('Linear-middle');
    expect(middle.Parameters.JobQueue).toBe('mf-queue');
    expect(middle.Parameters.Tags).toEqual({
      team: 'ml',
      'metaflow.flow': 'Linear',
      'metaflow.run_id.$': '$$.Execution.Name',
      'metaflow.step': 'middle',
      'metaflow.task_id': '0',
      'metaflow.attempt.$': "States.Format('{}', $$.State.RetryCount)",
    });
    const def = jobDefinitions.find((d) => d.jobDefinitionName === middle.Parameters.JobDefinition)!;
    // the runtime stops the attempt at 300 s (MF_ATTEMPT_TIMEOUT_SECONDS); Batch's timeout is the backstop: + the stop grace and the margin
    expect(envOf({ ContainerOverrides: middle.Parameters.ContainerOverrides } as never).MF_ATTEMPT_TIMEOUT_SECONDS).toBe('300');
    expect(def.timeout).toEqual({ attemptDurationSeconds: 300 + STOP_GRACE_SECONDS + BACKSTOP_MARGIN_SECONDS });
    expect(def.retryStrategy).toEqual({
      attempts: 4,
      evaluateOnExit: [{ onStatusReason: 'Host EC2*', action: 'RETRY' }, { onStatusReason: 'Your Spot Task was interrupted*', action: 'RETRY' }, { onStatusReason: '*', action: 'EXIT' }],
    });
    // One container (containerProperties, what batch:submitJob.sync documents): the loader, then the step's argv.
    expect(def.ecsProperties).toBeUndefined();
    expect(def.containerProperties?.command).toEqual(loaderCommand(linear.steps.get('middle')!.command));
    expect(def.containerProperties?.command?.slice(0, 2)).toEqual(['sh', '-c']);
  });

  test('the run record: written after the parameters, the flow inside Run.steps, the end recorded on success and on failure', () => {
    const { definition } = compileValid(linear, { partition: 'aws-cn' });
    const top = definition.States as Record<string, Record<string, any>>;
    const chain: string[] = [];
    for (let name: string | undefined = 'Run.started'; name; name = top[name].Next) chain.push(name);
    expect(chain).toEqual(['Run.started', 'Run.index-key', 'Run.write-record', 'Run.write-lookup', 'Run.write-index', 'Run.steps', 'Run.succeeded', 'Run.write-success']);
    expect(top['Run.write-success']).toMatchObject({ End: true, OutputPath: '$.steps[0]' });
    expect(top['Run.steps'].Branches[0].StartAt).toBe('start');
    const put = (name: string) => ({ Type: top[name].Type, Resource: top[name].Resource, Parameters: top[name].Parameters });
    expect(put('Run.write-record')).toEqual({
      Type: 'Task',
      Resource: 'arn:aws-cn:states:::aws-sdk:s3:putObject',
      Parameters: { Bucket: 'mf-bucket', 'Key.$': "States.Format('metaflow/Linear/{}/run.json', $$.Execution.Name)", ContentType: 'application/json', 'Body.$': 'States.JsonToString($.run.summary)' },
    });
    expect(top['Run.write-lookup'].Parameters['Key.$']).toBe("States.Format('metaflow/.index/ids/{}.json', $$.Execution.Name)");
    expect(top['Run.write-index'].Parameters['Key.$']).toBe("States.Format('metaflow/.index/runs/{}-{}~{}.json', $.run.key.date, $.run.key.time, $$.Execution.Name)");
    expect(top['Run.started'].Parameters.summary).toMatchObject({ flow: 'Linear', 'runId.$': '$$.Execution.Name', status: 'running', 'startedAt.$': '$$.Execution.StartTime', 'executionArn.$': '$$.Execution.Id', orchestrator: 'step-functions', 'parameters.$': '$.params' });
    // Any failure of the flow: recorded, then the execution fails with the same error and cause (also when the record cannot be written).
    expect(top['Run.steps'].Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Run.failed' }]);
    expect(top['Run.failed']).toMatchObject({ Type: 'Pass', ResultPath: '$.run.summary', Next: 'Run.write-failure', Parameters: { status: 'failed', 'error.$': '$.failure.Error', 'finishedAt.$': '$$.State.EnteredTime' } });
    expect(top['Run.write-failure']).toMatchObject({ Next: 'Run.fail', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'Run.fail' }] });
    expect(top['Run.fail']).toEqual({ Type: 'Fail', ErrorPath: '$.failure.Error', CausePath: '$.failure.Cause' });
  });

  test('user retries: States.TaskFailed after the throttling retrier, the interval rounded up to whole seconds', () => {
    const { definition } = compileValid(linear);
    const start = allStates(definition).get('start')! as Record<string, any>;
    expect(start.Retry[0]).toMatchObject({ ErrorEquals: ['Batch.AWSBatchException', 'Batch.TooManyRequestsException', 'Batch.ServerException'], JitterStrategy: 'FULL', BackoffRate: 2 });
    expect(start.Retry[1]).toEqual({ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 15, MaxAttempts: 2, BackoffRate: 1 });
    // No @retry: only the throttling retrier.
    expect((allStates(definition).get('end')! as Record<string, any>).Retry).toHaveLength(1);
    const zero = graphOf({ name: 'Z', image: IMAGE, steps: [{ name: 'start', command: ['x'], next: 'end', retry: { times: 1, minutesBetweenRetries: 0 } }, { name: 'end', command: ['x'] }] });
    expect((allStates(compileValid(zero).definition).get('start')! as Record<string, any>).Retry[1].IntervalSeconds).toBe(1);
  });

  test('with a metadata service, one step registers each top-level catch step the state machine may catch (its first successor; a foreach split\'s join); none without one', () => {
    const flow = graphOf({
      name: 'Caught',
      image: IMAGE,
      steps: [
        { name: 'start', command: ['x'], next: 'split', catch: { var: 'a' } },
        { name: 'split', command: ['x'], next: 'body', foreach: { items: [1, 2] }, catch: { var: 'b' } },
        { name: 'body', command: ['x'], next: 'join', catch: { var: 'c' } },
        { name: 'join', join: true, command: ['x'], next: 'end' },
        { name: 'end', command: ['x'] },
      ],
    });
    const reads = (options: Parameters<typeof compileValid>[1]) => {
      const states = allStates(compileValid(flow, options).definition);
      const env = (s: string) => envOf({ ContainerOverrides: (states.get(s) as Record<string, any>).Parameters.ContainerOverrides } as never);
      return Object.fromEntries(['split', 'body', 'join', 'end'].map((s) => [s, JSON.parse(env(s).MF_CAUGHT_READ ?? '[]').filter((r: { register?: true }) => r.register).map((r: { var: string }) => r.var)]));
    };
    // `c` is caught inside the body by each child's runtime, never by the state machine.
    expect(reads({ metadata: { url: 'http://svc:8080', user: 'ada' } })).toEqual({ split: ['a'], body: [], join: ['b'], end: [] });
    expect(reads({})).toEqual({ split: [], body: [], join: [], end: [] });
  });

  test('a foreach body step: its retries, delay, timeout and catch go to each child\'s runtime, not to ASL (no Retry[1], no Catch); the items checked by the split\'s runtime', () => {
    const flow = graphOf({
      name: 'Body',
      image: IMAGE,
      steps: [
        { name: 'start', command: ['x'], next: 'body', foreach: { output: 'parts' } },
        { name: 'body', command: ['x'], next: 'join', retry: { times: 2, minutesBetweenRetries: 0.01 }, timeout: { seconds: 90 }, catch: { var: 'bad' } },
        { name: 'join', join: true, command: ['x'], next: 'end' },
        { name: 'end', command: ['x'] },
      ],
    });
    const { definition, jobDefinitions } = compileValid(flow);
    const states = allStates(definition);
    for (const name of ['body', 'body.single']) {
      const s = states.get(name)! as Record<string, any>;
      expect([name, s.Retry, s.Catch]).toEqual([name, [expect.objectContaining({ ErrorEquals: ['Batch.AWSBatchException', 'Batch.TooManyRequestsException', 'Batch.ServerException'] })], undefined]);
      expect(envOf({ ContainerOverrides: s.Parameters.ContainerOverrides } as never)).toMatchObject({
        MF_ATTEMPTS: '3',
        MF_RETRY_DELAY_SECONDS: '0.6',
        MF_ATTEMPT_TIMEOUT_SECONDS: '90',
        MF_CATCH_IN_TASK: '1',
        MF_MAX_ATTEMPTS: '3',
        MF_CATCH_VAR: 'bad',
      });
    }
    // Batch's timeout covers the three attempts, their grace, the two delays (rounded up) and the margin.
    const body = jobDefinitions.find((d) => d.jobDefinitionName === (states.get('body') as Record<string, any>).Parameters.JobDefinition)!;
    expect(body.timeout).toEqual({ attemptDurationSeconds: 3 * (90 + STOP_GRACE_SECONDS) + 2 * 1 + BACKSTOP_MARGIN_SECONDS });
    // The join and end read the var from body's records: every child's under the join's foreach (here all), as a list.
    const env = (s: string) => envOf({ ContainerOverrides: (states.get(s) as Record<string, any>).Parameters.ContainerOverrides } as never);
    expect(JSON.parse(env('join').MF_CAUGHT_READ)).toEqual([{ var: 'bad', step: 'body', mode: 'all', depth: 0 }]);
    expect(JSON.parse(env('end').MF_CAUGHT_READ)).toEqual([{ var: 'bad', step: 'body', mode: 'all', depth: 0 }]);
    expect(env('start').MF_FOREACH_CHECK).toBe('{"output":"parts"}');
    expect(env('end').MF_ATTEMPTS).toBeUndefined();
  });

  test('withRetry (`--with retry`): steps without a retry policy get the default one (3 times, 2 minutes), retry: {times: 0} opts out, the run record says so', () => {
    const flow = graphOf({
      name: 'W',
      image: IMAGE,
      steps: [{ name: 'start', command: ['x'], next: 'end', retry: { times: 0 } }, { name: 'end', command: ['x'] }],
    });
    const plain = allStates(compileValid(flow).definition);
    expect((plain.get('end')! as Record<string, any>).Retry).toHaveLength(1);
    const { definition } = compileValid(flow, { withRetry: true });
    const states = allStates(definition);
    expect((states.get('end')! as Record<string, any>).Retry[1]).toEqual({ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 120, MaxAttempts: 3, BackoffRate: 1 });
    expect((states.get('start')! as Record<string, any>).Retry).toHaveLength(1);
    expect(JSON.stringify(definition)).toContain('"withRetry":true');
  });

  test('the task contract and the runtime\'s I/O keys in ContainerOverrides: run id from the execution name, attempt from the retry count, parameters from the state', () => {
    const { definition } = compileValid(linear);
    const middle = allStates(definition).get('middle')! as Record<string, any>;
    expect(Object.keys(middle.Parameters.ContainerOverrides)).toEqual(['Environment']);
    const env = Object.fromEntries(middle.Parameters.ContainerOverrides.Environment.map((e: Record<string, string>) => [e.Name, e.Value ?? `$ ${e['Value.$']}`]));
    expect(env).toMatchObject({
      MF_FLOW: 'Linear',
      MF_STEP: 'middle',
      MF_RUN_ID: '$ $$.Execution.Name',
      MF_RETRY_COUNT: "$ States.Format('{}', $$.State.RetryCount)",
      MF_PARAM_WHO: '$ $.params.who',
      MF_PARAM_N: '$ States.JsonToString($.params.n)',
      MF_INPUT_PATHS: "$ States.Format('Linear/{}/start/0', $$.Execution.Name)",
      MF_TASK_ID: '0',
    });
    // MF_DATASTORE_ROOT / MF_OUTPUT_DIR are the runtime's to set (its mirror in the container)
    expect(env.MF_DATASTORE_ROOT).toBeUndefined();
    expect(env.MF_OUTPUT_DIR).toBeUndefined();
    expect(env).toMatchObject({
      MF_DATASTORE_URL: 's3://mf-bucket/metaflow',
      MF_CODE_URL: OPTIONS.codePackageUrl,
      MF_FETCH_KEYS: "$ States.Format('Linear/{}/start/0/', $$.Execution.Name)",
      MF_OUTPUT_KEY: "$ States.Format('Linear/{}/middle/0/attempt-{}', $$.Execution.Name, $$.State.RetryCount)",
      MF_COMMIT_KEY: "$ States.Format('Linear/{}/middle/0', $$.Execution.Name)",
      MF_COMMIT_INPUTS: 'start/0',
    });
  });

  test('a step may be called like a state of the compiler (its own names all have a dot)', () => {
    const flow = graphOf({ name: 'N', image: IMAGE, steps: [{ name: 'start', command: ['x'], next: 'Parameters' }, { name: 'Parameters', command: ['x'], next: 'end' }, { name: 'end', command: ['x'] }] });
    expect(allStates(compileValid(flow).definition).get('Parameters')!.Type).toBe('Task');
  });

  test('a required parameter without a value is checked at the start of an execution', () => {
    const states = allStates(compileValid(linear).definition);
    expect(states.get('Parameters.check')).toMatchObject({ Choices: [{ Not: { Variable: '$.params.n', IsPresent: true }, Next: 'Parameters.missing' }], Default: 'Run.started' });
    expect(states.get('Parameters.missing')).toMatchObject({ Type: 'Fail', Error: 'metaflow.MissingParameter' });
    // --param n=3 at compile time: no check left, the value is compiled in.
    const withN = allStates(compileValid(linear, { params: { n: '3' } }).definition);
    expect(withN.has('Parameters.check')).toBe(false);
    expect(withN.get('Parameters.compiled')!.Result).toEqual({ who: 'world', n: 3 });
  });
});

describe('bad input: one line, before anything is deployed', () => {
  const cases: [string, () => unknown, string][] = [
    ['a bad --param value', () => compileFlow(linear, { ...OPTIONS, params: { n: 'x' } }), '--param n=x: expected an integer'],
    ['an unknown --param', () => compileFlow(linear, { ...OPTIONS, params: { nope: '1' } }), 'flow "Linear" has no parameter "nope"'],
    ['a datastore root that is not S3', () => compileFlow(linear, { ...OPTIONS, datastoreRoot: '/tmp/x' }), 'datastore root must be an s3://<bucket>/<prefix> URL, got "/tmp/x"'],
    ['no queue', () => compileFlow(linear, { ...OPTIONS, queue: '' }), 'queue must name a Batch job queue, got ""'],
    ['a bad partition', () => compileFlow(linear, { ...OPTIONS, partition: 'mars' }), 'partition must be an AWS partition'],
    ['a metadata service URL without a scheme', () => compileFlow(linear, { ...OPTIONS, metadata: { url: 'svc:8080', user: 'ada' } }), 'metadata.url must be the metadata service\'s http:// or https:// URL, got "svc:8080"'],
    [
      'fractional cpu on an EC2 queue',
      () => compileFlow(graphOf({ name: 'F', image: IMAGE, steps: [{ name: 'start', command: ['x'], next: 'end', resources: { cpu: 0.5 } }, { name: 'end', command: ['x'] }] }), OPTIONS),
      'step "start": resources.cpu must be a whole number of vCPUs on EC2',
    ],
    [
      'a Fargate queue without an execution role',
      () => compileFlow(linear, { ...OPTIONS, platformOf: () => 'FARGATE' }),
      'step "start": Fargate needs an execution role',
    ],
    [
      'static items over the state payload limit',
      () =>
        compileFlow(
          graphOf({
            name: 'Big',
            image: IMAGE,
            steps: [
              { name: 'start', command: ['x'], next: 'body', foreach: { items: Array.from({ length: 30_000 }, (_, i) => `item-number-${i}`) } },
              { name: 'body', command: ['x'], next: 'join' },
              { name: 'join', join: true, command: ['x'], next: 'end' },
              { name: 'end', command: ['x'] },
            ],
          }),
          OPTIONS,
        ),
      'step "start": foreach.items is 588891 bytes of JSON; a Step Functions state holds at most 262144',
    ],
    [
      'container overrides over 8,192 characters',
      () =>
        compileFlow(
          graphOf({ name: 'Env', image: IMAGE, env: { BIG: 'x'.repeat(7000) }, steps: [{ name: 'start', command: ['x'], next: 'end' }, { name: 'end', command: ['x'] }] }),
          OPTIONS,
        ),
      'step "start" on Step Functions (estimated at its longest): the container\'s command and environment come to',
    ],
    [
      'a foreach whose join follows the split at once',
      () =>
        compileFlow(
          graphOf({
            name: 'NoBody',
            image: IMAGE,
            steps: [
              { name: 'start', command: ['x'], next: 'join', foreach: { items: [1, 2] } },
              { name: 'join', join: true, command: ['x'], next: 'end' },
              { name: 'end', command: ['x'] },
            ],
          }),
          OPTIONS,
        ),
      'step "start": a foreach needs at least one step before its join "join" on Step Functions',
    ],
    [
      'catch on a foreach split inside a foreach body',
      () =>
        compileFlow(
          graphOf({
            name: 'CatchIn',
            image: IMAGE,
            steps: [
              { name: 'start', command: ['x'], next: 'outer', foreach: { items: [1, 2] } },
              { name: 'outer', command: ['x'], next: 'body', foreach: { items: [1, 2] }, catch: { var: 'oops' } },
              { name: 'body', command: ['x'], next: 'inner_join' },
              { name: 'inner_join', join: true, command: ['x'], next: 'join' },
              { name: 'join', join: true, command: ['x'], next: 'end' },
              { name: 'end', command: ['x'] },
            ],
          }),
          OPTIONS,
        ),
      'step "outer": catch on a foreach step inside another foreach\'s body is not supported on Step Functions yet',
    ],
  ];
  test.each(cases)('%s', (_what, f, message) => {
    let error: unknown;
    try {
      f();
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UserInputError);
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).not.toContain('\n');
  });
});

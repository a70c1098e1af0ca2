import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { alive, tempDir } from '../support/harness';
import { PROCESS_GUARD_MS } from '../../support/guards';
import { CliCaseResult, runCliCases } from '../../support/cli-cases';
import { EXAMPLES, type ExampleExpectation, useExampleService } from '../../support/metadata/examples';

const REPO = path.join(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const RUNNER = path.join(REPO, 'runner');
const example = (name: string) => path.join(REPO, 'examples', name);

function cli(args: string[], root: string, cwd = root, env: NodeJS.ProcessEnv = {}) {
  const res = spawnSync(process.execPath, [BIN, ...args, '--root', root], { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true', ...env }, timeout: PROCESS_GUARD_MS });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

function noStack(text: string) {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/internal error/);
}

function writeFlow(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `import { defineFlow } from ${JSON.stringify(RUNNER)};\nconst sh = (s: string) => ['/bin/sh', '-c', s];\nexport default defineFlow(${body});\n`);
  return file;
}

const runIdOf = (stdout: string) => /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(stdout)![1];

describe('metaflow-cdk run on the examples', () => {
  const root = tempDir('mfcdk-cli-');
  // Every example's run registered with the real Metaflow metadata service (issue 16), started once for
  // the file; the last test reads them all back with the Python client and the UI.
  const examples = useExampleService('mfcdk-cli-svc-');
  /** Run an example, registered with the service when there is one. */
  const runExample = (args: string[], expected: ExampleExpectation, cwd = root) => {
    const { service } = examples;
    const r = cli(args, root, cwd, { METAFLOW_USER: 'ada', ...(service ? { METAFLOW_SERVICE_URL: service.url, METAFLOW_SERVICE_AUTH_KEY: 'test-key' } : {}) });
    const runId = /run (\d{8}-\d{6}-[0-9a-f]{6})|"runId": ?"([^"]+)"/.exec(r.stdout)?.slice(1).find(Boolean);
    if (service && r.code === 0 && runId) examples.registered.push({ runId, expected });
    return r;
  };

  test('hello: linear flow, parameter, prefixed live output, exit 0', () => {
    const r = runExample(['run', example('hello.ts'), '--param', 'name=Ada'], EXAMPLES.hello('Ada'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[hello/0#0] {"greeting": "hello, Ada"}');
    expect(r.stdout).toContain('[end/0#0] HelloFlow is all done');
    expect(r.stdout).toMatch(/HelloFlow run \S+ succeeded in/);
  });

  test('resilient: retry, timeout and catch let the flow finish; show and logs tell the story', () => {
    const r = runExample(['run', example('resilient.ts')], EXAMPLES.resilient());
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[flaky/0#0] exit code 1; retrying (attempt 1)');
    expect(r.stdout).toContain('[hung/0#0] timed out after 1s (per-attempt timeout); retrying (attempt 1)');
    expect(r.stdout).toContain('[failing/0#0] failed: exit code 3; caught as compute_failed, the flow goes on');
    expect(r.stdout).toMatch(/\[end\/0#0\] caught failure: \{"step":"failing".*"exitCode":3/);
    const id = runIdOf(r.stdout);

    const show = cli(['show', id], root);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/^hung\s+1\s+2\s+1\s+0\s+0\s+0\s+0\s+\d+\.\ds$/m);
    expect(show.stdout).toMatch(/^failing\s+1\s+1\s+0\s+0\s+1\s/m);
    expect(show.stdout).toContain('caught: failing/0 after 1 attempt(s): exit code 3');

    expect(cli(['logs', `${id}/hung/0`, '--attempt', '0'], root).stdout).toBe('hanging...\n');
    expect(cli(['logs', `${id}/hung/0`], root).stdout).toBe('finished on attempt 1\n');
    expect(cli(['logs', `${id}/flaky/0`, '--attempt', '0'], root).stdout).toBe('transient error on attempt 0\n');
  });

  test('fanout --json: 20-way dynamic foreach, the join sums the children', () => {
    const r = runExample(['run', example('fanout.ts'), '--param', 'width=20', '--json'], EXAMPLES.fanout(20));
    expect(r.code).toBe(0);
    const record = JSON.parse(r.stdout);
    expect(record).toMatchObject({ flow: 'FanoutFlow', status: 'succeeded', parameters: { width: 20 } });
    expect(record.tasks).toHaveLength(23);
    const out = JSON.parse(fs.readFileSync(path.join(root, 'FanoutFlow', record.runId, 'join', '0', 'outputs.json'), 'utf8'));
    expect(out).toEqual({ total: 2870, children: 20 });
    expect(r.stderr).toContain('sum of squares of 1..20 = 2870');
  });

  test('sweep: a foreach over a list parameter picks the best rate', () => {
    const r = runExample(['run', example('sweep.ts'), '--param', 'rates=0.1,0.01,0.001', '--max-workers', '3'], EXAMPLES.sweep([0.1, 0.01, 0.001]));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('best of 3: rate 0.01 (loss 0.0)');
    expect(r.stdout).toContain('(local, 3 workers)');
  });

  test('runs lists the recent runs, newest first', () => {
    const r = cli(['runs'], root, root, { METAFLOW_USER: 'ada' }); // the runs are ada's
    expect(r.code).toBe(0);
    const flows = r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[1]);
    expect(flows).toEqual(['SweepFlow', 'FanoutFlow', 'ResilientFlow', 'HelloFlow']);
  });

  test("pyscripts runs from another folder: its tasks run in the flow's folder", () => {
    const r = runExample(['run', example('pyscripts/flow.ts'), '--param', 'rows=300'], EXAMPLES.pyscripts(300), tempDir('mfcdk-cwd-'));
    // Nothing on stderr but the registration's last line, when there is a service.
    expect(r.stderr).toMatch(/^(metaflow-cdk: metadata service \S+: (\d+) of \2 tasks registered \(\d+ calls\)\n)?$/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[start/0#0] prepared 300 rows');
    expect(r.stdout).toContain('[train/0#0] trained on 300 rows');
    expect(r.stdout).toMatch(/\[end\/0#0\] run \S+: y = 3\.\d+x \+ [12]\.\d+ \(mse 0\.\d+ on 300 rows\)/);
    // Local runs ship no package.
    expect(r.stdout).not.toContain('code package');
  });

  (examples.available ? test : test.skip)('every example run is in the metadata service: the Python client and the UI backend read it back; a screenshot of its DAG', async () => {
    await examples.check({ count: 5, screenshot: { flow: 'ResilientFlow', layer: 'local' } });
  }, 120_000);
});

describe('a failed run exits 1 and resume finishes it', () => {
  test('run fails, resume reuses what succeeded', () => {
    const dir = tempDir('mfcdk-cli-');
    const flag = path.join(dir, 'fixed');
    const file = writeFlow(
      dir,
      'fragile.ts',
      `{ name: 'Fragile', steps: [
        { name: 'start', command: sh('echo once >> ${dir}/start.count'), next: 'work' },
        { name: 'work', command: sh('test -e ${flag} || { echo "not yet" >&2; exit 5; }'), next: 'end' },
        { name: 'end', command: sh('echo finished') },
      ] }`,
    );
    const first = cli(['run', file], dir);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('[work/0#0] FAILED: exit code 5');
    expect(first.stderr).toContain('resume');
    const id = runIdOf(first.stdout);
    fs.writeFileSync(flag, '');
    const second = cli(['resume', id], dir);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`resuming run ${id}`);
    expect(second.stdout).toContain(`[start/0] reused from run ${id}`);
    expect(second.stdout).toContain('[end/0#0] finished');
    expect(fs.readFileSync(path.join(dir, 'start.count'), 'utf8')).toBe('once\n');
  });
});

describe('bad input: one clear line per problem, exit 2, no stack trace', () => {
  const dir = tempDir('mfcdk-cli-');
  const bad = (args: string[], expected: (string | RegExp)[]) => {
    const r = cli(args, dir);
    expect(r.code).toBe(2);
    for (const e of expected) expect(r.stderr).toMatch(e);
    noStack(r.stderr);
    return r;
  };

  test('flow file missing', () => {
    bad(['run', 'nope.ts'], ['metaflow-cdk: flow file not found: nope.ts']);
  });

  test('default export is not a flow', () => {
    fs.writeFileSync(path.join(dir, 'notflow.ts'), 'export default { steps: [] };\n');
    bad(['run', path.join(dir, 'notflow.ts')], [/the default export must be a flow made with defineFlow\(\), got an object that is not a flow/]);
  });

  test('a flow file that does not compile', () => {
    fs.writeFileSync(path.join(dir, 'broken.ts'), 'export default (;\n');
    bad(['run', path.join(dir, 'broken.ts')], [/cannot load flow file .*broken\.ts: .*ERROR/]);
  });

  test('every validation problem at once', () => {
    const file = writeFlow(
      dir,
      'invalid.ts',
      `{ name: 'Invalid', steps: [
        { name: 'start', command: sh('true'), next: ['a', 'b'], resources: { cpu: -2 } },
        { name: 'a', command: sh('true'), next: 'end', retry: { times: 12 } },
        { name: 'b', command: sh('true'), next: 'end', catch: { var: 'not valid' } },
        { name: 'end', command: sh('true') },
      ] }`,
    );
    const r = bad(['run', file], [
      /flow "Invalid" in .*invalid\.ts has 5 problems:/,
      /  - step "start": resources\.cpu must be a positive number of vCPUs, got -2/,
      /  - step "a": retry\.times must be a whole number from 0 to 9, got 12/,
      /  - step "b": catch\.var must be a valid identifier .*, got "not valid"/,
      /  - step "end" has 2 inputs \(a, b\) but is not a join/,
      /  - the branch at "start" has no matching join/,
    ]);
    expect(fs.existsSync(path.join(dir, 'Invalid'))).toBe(false);
    expect(r.stdout).toBe('');
  });

  test('bad --param format and type, each named', () => {
    bad(['run', example('fanout.ts'), '--param', 'width=wide', '--param', 'oops'], ['metaflow-cdk: --param width=wide: expected an integer', '--param "oops": expected name=value']);
  });

  test('bad flags and a bad --param are all reported at once', () => {
    const r = bad(['run', example('fanout.ts'), '--max-workers', 'many', '--with', 'magic', '--param', 'width=-'], [
      '--with "magic": unknown policy',
      '--max-workers must be a whole number ≥ 1, got "many"',
      '--param width=-: expected an integer',
    ]);
    expect(r.stderr.trim().split('\n')).toHaveLength(3);
  });

  test('bad --max-workers, --with and --compute', () => {
    bad(['run', example('hello.ts'), '--max-workers', '0'], ['--max-workers must be a whole number ≥ 1, got "0"']);
    bad(['run', example('hello.ts'), '--with', 'magic'], ['--with "magic": unknown policy (available: retry)']);
    bad(['run', example('hello.ts'), '--compute', 'kubernetes'], ['--compute "kubernetes": unknown compute layer (available: local, batch)']);
  });

  test('unknown run id and bad task paths', () => {
    bad(['show', 'no-such-run'], [/unknown run id "no-such-run" in .* \(see `metaflow-cdk runs`\)/]);
    bad(['resume', 'no-such-run'], [/unknown run id "no-such-run"/]);
    bad(['logs', 'just-a-run'], ['bad task path "just-a-run": expected <run-id>/<step>/<task>']);
    bad(['logs', 'no-such-run/start/0'], [/unknown run id "no-such-run"/]);
  });
});

describe('Ctrl-C', () => {
  test('stops every task, records the run as interrupted and exits 130', async () => {
    const dir = tempDir('mfcdk-cli-');
    const file = writeFlow(
      dir,
      'slow.ts',
      `{ name: 'Slow', steps: [
        { name: 'start', command: sh('true'), next: ['a', 'b'] },
        { name: 'a', command: sh('echo $$ > ${dir}/a.pid; echo sleeping; sleep 60'), next: 'join' },
        { name: 'b', command: sh('echo $$ > ${dir}/b.pid; sleep 60'), next: 'join' },
        { name: 'join', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ] }`,
    );
    const child = spawn(process.execPath, [BIN, 'run', file, '--root', dir], { cwd: dir, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    // Ctrl-C once both tasks run (b prints nothing, so poll rather than wait for output).
    const poll = setInterval(() => {
      if (!sent && stdout.includes('sleeping') && fs.existsSync(path.join(dir, 'b.pid'))) {
        sent = true;
        child.kill('SIGINT');
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(poll);
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted, stopping all tasks');
    const pids = ['a', 'b'].map((s) => Number(fs.readFileSync(path.join(dir, `${s}.pid`), 'utf8')));
    for (const pid of pids) expect(alive(pid)).toBe(false);
    const id = runIdOf(stdout);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'Slow', id, 'run.json'), 'utf8'));
    expect(record.status).toBe('interrupted');
    const tasks = JSON.parse(fs.readFileSync(path.join(dir, 'Slow', id, 'tasks', '0.json'), 'utf8'));
    expect(tasks.filter((t: { step: string }) => t.step !== 'start').map((t: { status: string }) => t.status)).toEqual(['cancelled', 'cancelled']);
  });

  test('a second Ctrl-C quits at once, even when a task ignores SIGTERM, and kills it', async () => {
    const dir = tempDir('mfcdk-cli-');
    const pidFile = path.join(dir, 'stubborn.pid');
    const file = writeFlow(
      dir,
      'stubborn.ts',
      `{ name: 'Stubborn', steps: [
        { name: 'start', command: sh('trap "" TERM INT; echo $$ > ${pidFile}; while true; do sleep 1; done'), next: 'end' },
        { name: 'end', command: sh('true') },
      ] }`,
    );
    const child = spawn(process.execPath, [BIN, 'run', file, '--root', dir], { cwd: dir, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let sent = 0;
    let firstAt = 0;
    const poll = setInterval(() => {
      if (sent === 0 && fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim()) {
        sent = 1;
        firstAt = Date.now();
        child.kill('SIGINT');
      } else if (sent === 1 && Date.now() - firstAt > 300) {
        sent = 2;
        child.kill('SIGINT');
      }
    }, 20);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(poll);
    expect(code).toBe(130);
    expect(Date.now() - firstAt).toBeLessThan(3000); // well before the 5 s TERM → KILL grace
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    expect(alive(pid)).toBe(false);
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'Stubborn', runIdOf(stdout), 'run.json'), 'utf8'));
    expect(record).toMatchObject({ status: 'interrupted', error: 'interrupted (forced quit)' });
  });
});

/** Usage errors: what, the arguments, the line expected. */
const USAGE_ERRORS: Array<[string, string[], RegExp]> = [
    ['unknown flag', ['runs', '--bogus'], /^metaflow-cdk: unknown option '--bogus'$/m],
    ['misspelt flag, with the close one', ['resume', 'x', '--max-workrs', '2'], /^metaflow-cdk: unknown option '--max-workrs'\n\(Did you mean --max-workers\?\)$/m],
    ['missing argument', ['run'], /^metaflow-cdk: missing required argument 'flow-file'$/m],
    ['missing argument of logs', ['logs'], /^metaflow-cdk: missing required argument 'run\/step\/task'$/m],
    ['too many arguments', ['show', 'a', 'b'], /^metaflow-cdk: too many arguments for 'show'/m],
    ['unknown flag of logs', ['logs', 'x/y/z', '--attempts', '1'], /^metaflow-cdk: unknown option '--attempts'$/m],
    ['unknown command', ['frobnicate'], /^metaflow-cdk: unknown command 'frobnicate'$/m],
];

describe('usage errors exit 2 with one line and the usage hint, from every subcommand', () => {
  // In one CLI process (test/support/cli-cases.ts); the bin script's own exit code is main.test.ts's.
  const dir = tempDir('mfcdk-cli-');
  let results: CliCaseResult[] = [];
  beforeAll(() => {
    results = runCliCases(USAGE_ERRORS.map(([, args]) => ({ args: [...args, '--root', dir], cwd: dir, env: { CI: 'true' } })));
  }, PROCESS_GUARD_MS);

  test.each(USAGE_ERRORS.map(([name], i) => [name, i] as const))('%s', (_name, i) => {
    const r = results[i];
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(USAGE_ERRORS[i][2]);
    expect(r.stderr).toContain('(run with --help for usage)');
    noStack(r.stderr);
  });
});

test('run: an unknown flag after the flow file is neither an option nor a parameter: one line with the close name, exit 2', () => {
  const dir = tempDir('mfcdk-cli-');
  expect(cli(['run', example('hello.ts'), '--colour', 'red'], dir)).toMatchObject({ code: 2, stdout: '', stderr: 'metaflow-cdk: unknown option --colour: not an option of run nor a parameter of flow "HelloFlow" (parameters: name)\n' });
  expect(cli(['run', example('hello.ts'), '--max-workrs', '2'], dir)).toMatchObject({ code: 2, stdout: '', stderr: 'metaflow-cdk: unknown option --max-workrs: not an option of run nor a parameter of flow "HelloFlow" (did you mean --max-workers?)\n' });
});

describe('bad flows through the real CLI: caught before anything runs, exit 2', () => {
  const dir = tempDir('mfcdk-cli-');

  test('a 720 h timeout, a retries: typo, a non-string env value and a reserved env name', () => {
    const file = writeFlow(
      dir,
      'careless.ts',
      `{ name: 'Careless', steps: [
        { name: 'start', command: sh('true'), next: 'train', timeout: { hours: 720 } },
        { name: 'train', command: sh('true'), next: 'end', retries: { times: 2 }, env: { PORT: 8080, MF_STEP: 'x' } },
        { name: 'end', command: sh('true') },
      ] } as any`,
    );
    const r = cli(['run', file], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('flow "Careless" in');
    expect(r.stderr).toContain('  - step "start": timeout must be at most 24 days (2073600 s), got {"hours":720} (2592000 s)');
    expect(r.stderr).toContain('  - step "train": unknown field "retries" (did you mean "retry"?)');
    expect(r.stderr).toContain('  - step "train": env.PORT must be a string, got 8080 (write it as a string: "8080")');
    expect(r.stderr).toContain('  - step "train": env name "MF_STEP" is reserved');
    noStack(r.stderr);
    expect(fs.existsSync(path.join(dir, 'Careless'))).toBe(false);
  });

  test('a parameter given twice, and an empty list for a foreach', () => {
    const r = cli(['run', example('sweep.ts'), '--param', 'rates=0.1', '--param', 'rates=0.2'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metaflow-cdk: --param rates is given twice ("rates=0.1" and "rates=0.2"): give it once');
    const empty = cli(['run', example('sweep.ts'), '--param', 'rates='], dir);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/metaflow-cdk: parameter "rates" is an empty list, but step "\w+" fans out over it: a foreach needs at least one item/);
    noStack(empty.stderr);
  });

  test('list items reach the tasks as given: "007" stays "007"', () => {
    const file = writeFlow(
      dir,
      'ids.ts',
      `{ name: 'Ids', parameters: { ids: { type: 'list' } }, steps: [
        { name: 'start', command: sh('echo "ids=$MF_PARAM_IDS"'), foreach: { param: 'ids' }, next: 'each' },
        { name: 'each', command: sh('echo "item=$MF_FOREACH_ITEM"'), next: 'join' },
        { name: 'join', join: true, command: sh('true'), next: 'end' },
        { name: 'end', command: sh('true') },
      ] }`,
    );
    const r = cli(['run', file, '--param', 'ids=007,42', '--max-workers', '1'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('[start/0#0] ids=["007","42"]');
    expect(r.stdout).toContain('[each/0#0] item=007');
  });
});

describe('datastore errors: one line, exit 1, no stack trace', () => {
  const dir = tempDir('mfcdk-cli-');
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, '');
  const run = (root: string, args = ['run', example('hello.ts')]) => {
    const res = spawnSync(process.execPath, [BIN, ...args, '--root', root], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: PROCESS_GUARD_MS });
    expect(res.status).toBe(1);
    noStack(res.stderr);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    return res.stderr;
  };

  test('the root is a file', () => {
    expect(run(file)).toBe(`metaflow-cdk: datastore root ${file} is a file, not a directory (use --root DIR or $METAFLOW_CDK_ROOT)\n`);
    for (const cmd of [['runs'], ['show', 'x'], ['logs', 'x/start/0']]) {
      expect(run(file, cmd)).toContain(`datastore root ${file} is a file, not a directory`);
    }
  });

  test('a part of the root path is a file', () => {
    expect(run(path.join(file, 'sub'))).toBe(`metaflow-cdk: datastore root ${path.join(file, 'sub')} cannot be a directory: a part of its path is a file\n`);
  });

  test('the root cannot be written', () => {
    // root ignores permission bits, so as root use a directory the kernel refuses to create.
    let root = path.join(dir, 'read-only');
    if (process.getuid?.() === 0) root = '/proc/mfcdk-datastore';
    else {
      fs.mkdirSync(root);
      fs.chmodSync(root, 0o555);
    }
    expect(run(root)).toMatch(new RegExp(`^metaflow-cdk: datastore root ${root} (is not writable|cannot be created): [a-z ]+ \\(E[A-Z]+\\)\\n$`));
  });
});

describe('signals and a closed stdout', () => {
  function spawnRun(dir: string, file: string) {
    const child = spawn(process.execPath, [BIN, 'run', file, '--root', dir], { cwd: dir, env: { ...process.env, CI: 'true' } });
    const out = { stdout: '', stderr: '' };
    child.stderr.on('data', (d) => (out.stderr += d));
    return { child, out, exited: new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))) };
  }
  const recordOf = (dir: string, flow: string) => {
    const runs = fs.readdirSync(path.join(dir, flow));
    expect(runs).toHaveLength(1);
    const runDir = path.join(dir, flow, runs[0]);
    // run.json is the summary; the task records are in chunks of 1,000 (tasks/0.json).
    const summary = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    const chunk = path.join(runDir, 'tasks', '0.json');
    return { ...summary, tasks: fs.existsSync(chunk) ? JSON.parse(fs.readFileSync(chunk, 'utf8')) : [] };
  };

  test('SIGHUP (terminal closed) stops every task and records the run as interrupted, like SIGTERM', async () => {
    const dir = tempDir('mfcdk-cli-');
    const pidFile = path.join(dir, 'a.pid');
    const file = writeFlow(
      dir,
      'hup.ts',
      `{ name: 'Hup', steps: [
        { name: 'start', command: sh('echo $$ > ${pidFile}; sleep 60'), next: 'end' },
        { name: 'end', command: sh('true') },
      ] }`,
    );
    const { child, out, exited } = spawnRun(dir, file);
    child.stdout.on('data', () => {});
    const poll = setInterval(() => {
      if (fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim()) {
        clearInterval(poll);
        child.kill('SIGHUP');
      }
    }, 20);
    const code = await exited;
    clearInterval(poll);
    expect(code).toBe(130);
    expect(out.stderr).toContain('interrupted by SIGHUP (terminal closed), stopping all tasks');
    noStack(out.stderr);
    expect(alive(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(false);
    const record = recordOf(dir, 'Hup');
    expect(record.status).toBe('interrupted');
    expect(record.tasks.find((t: { step: string }) => t.step === 'start').status).toBe('cancelled');
  });

  test('stdout closed by its reader (`run … | head -1`): no trace, the run finishes and is recorded', async () => {
    const dir = tempDir('mfcdk-cli-');
    const file = writeFlow(
      dir,
      'piped.ts',
      `{ name: 'Piped', steps: [
        { name: 'start', command: sh('echo first; sleep 0.5; for i in $(seq 1 200); do echo "line $i"; done'), next: 'end' },
        { name: 'end', command: sh('echo done > ${dir}/end.txt') },
      ] }`,
    );
    const { child, out, exited } = spawnRun(dir, file);
    // Like `head -1`: read the first chunk, then close the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await exited;
    expect(code).toBe(0);
    noStack(out.stderr);
    expect(out.stderr).toContain('metaflow-cdk: stdout closed (EPIPE); dropping further output, the command goes on');
    expect(fs.readFileSync(path.join(dir, 'end.txt'), 'utf8')).toBe('done\n');
    expect(recordOf(dir, 'Piped').status).toBe('succeeded');
  });
});

/** Does a task chunk (JSON, maybe mid-write) record the `wait` task as running? */
function waitIsRunning(text: string): boolean {
  try {
    const parsed = JSON.parse(text) as unknown;
    const tasks = (Array.isArray(parsed) ? parsed : (parsed as { tasks?: unknown[] }).tasks ?? []) as { step?: string; status?: string }[];
    return tasks.some((t) => t.step === 'wait' && t.status === 'running');
  } catch {
    return false;
  }
}

describe('dead runners and corrupt records', () => {
  test('a runner killed with SIGKILL shows as dead in runs and show, and resume finishes its run', async () => {
    const dir = tempDir('mfcdk-cli-');
    const flag = path.join(dir, 'go-on');
    const file = writeFlow(
      dir,
      'killed.ts',
      `{ name: 'Killed', steps: [
        { name: 'start', command: sh('echo once >> ${dir}/start.count'), next: 'wait' },
        { name: 'wait', command: sh('test -e ${flag} && exit 0; echo $$ > ${dir}/wait.pid; sleep 60'), next: 'end' },
        { name: 'end', command: sh('echo finished') },
      ] }`,
    );
    const child = spawn(process.execPath, [BIN, 'run', file, '--root', dir], { cwd: dir, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const pidFile = path.join(dir, 'wait.pid');
    // Kill the runner once the waiting task runs and the record says so (written within a second).
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        const m = /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(stdout);
        if (!m || !fs.existsSync(pidFile)) return;
        const chunk = path.join(dir, 'Killed', m[1], 'tasks', '0.json');
        // The `wait` task itself must be on record as running (not only `start`, from an older write).
        const summary = path.join(dir, 'Killed', m[1], 'run.json');
        // …and the run summary counts it (written apart from the chunk: under load it can lag behind)
        const counted = () => { try { return (JSON.parse(fs.readFileSync(summary, 'utf8')) as { taskCount?: number }).taskCount! >= 2; } catch { return false; } };
        if (fs.existsSync(chunk) && waitIsRunning(fs.readFileSync(chunk, 'utf8')) && counted()) {
          clearInterval(poll);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
    });
    await new Promise((resolve) => child.on('exit', resolve));
    process.kill(-Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL'); // the orphaned task's group
    const id = runIdOf(stdout);

    const runs = cli(['runs'], dir);
    expect(runs.code).toBe(0);
    expect(runs.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(/Killed\s+dead\s/);
    const show = cli(['show', id], dir);
    expect(show.stdout).toContain(`Run ${id} of Killed: dead (its runner (pid ${child.pid} on `);
    // The task the runner started is on record with its process id, for whoever cleans up.
    expect(JSON.parse(cli(['show', id, '--json'], dir).stdout).tasks[1].attempts[0].externalId).toMatch(/^pid:\d+$/);

    fs.writeFileSync(flag, '');
    const resumed = cli(['resume', id], dir);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`[start/0] reused from run ${id}`);
    expect(resumed.stdout).toContain('[end/0#0] finished');
    expect(fs.readFileSync(path.join(dir, 'start.count'), 'utf8')).toBe('once\n');
  });

  test('a corrupt run record is reported as corrupt; runs says it skipped it', () => {
    const dir = tempDir('mfcdk-cli-');
    const file = writeFlow(dir, 'ok.ts', `{ name: 'Ok', steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] }`);
    const ids = [cli(['run', file], dir), cli(['run', file], dir)].map((r) => runIdOf(r.stdout));
    fs.writeFileSync(path.join(dir, 'Ok', ids[0], 'run.json'), '{ not json');
    const show = cli(['show', ids[0]], dir);
    expect(show.code).toBe(1);
    expect(show.stderr.trim()).toMatch(new RegExp(`^metaflow-cdk: run ${ids[0]}: its record Ok/${ids[0]}/run.json is corrupt \\([^\\n]+\\) in ${dir}$`));
    noStack(show.stderr);
    const runs = cli(['runs'], dir);
    expect(runs.code).toBe(0);
    expect(runs.stdout).toContain(ids[1]);
    expect(runs.stdout).not.toContain(ids[0]);
    expect(runs.stderr).toContain(`metaflow-cdk: skipped run ${ids[0]}: its record Ok/${ids[0]}/run.json is corrupt`);
  });

  test('a datastore root the run record cannot be written to fails with one line, exit 1', () => {
    const dir = tempDir('mfcdk-cli-');
    const file = writeFlow(dir, 'ok.ts', `{ name: 'Ok', steps: [{ name: 'start', command: sh('true'), next: 'end' }, { name: 'end', command: sh('true') }] }`);
    fs.writeFileSync(path.join(dir, 'plain-file'), '');
    const r = cli(['run', file], dir, dir);
    const bad = spawnSync(process.execPath, [BIN, 'run', file, '--root', path.join(dir, 'plain-file', 'root')], { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' } });
    expect(r.code).toBe(0);
    expect(bad.status).toBe(1);
    // The datastore root is checked before the run starts, so this is caught there, in one line.
    expect(bad.stderr.trim()).toMatch(/^metaflow-cdk: datastore root \S+plain-file\/root cannot be a directory: a part of its path is a file$/);
    noStack(bad.stderr);
  });
});

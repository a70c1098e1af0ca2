import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../../runner/cli/main';
import { LocalComputeLayer, LocalComputeOptions } from '../../../runner/compute/local';
import { LocalDatastore } from '../../../runner/datastore/local';
import { RunRecord, TaskRecord } from '../../../runner/datastore/types';
import { defineFlow, FlowSpec, StepSpec } from '../../../runner/flow/model';
import { resolveParameters } from '../../../runner/flow/parameters';
import { validateFlow } from '../../../runner/flow/validate';
import { Clock } from '../../../runner/orchestrator/clock';
import { RunEvent } from '../../../runner/orchestrator/events';
import { runFlow, RunOptions } from '../../../runner/orchestrator/orchestrator';

export const sh = (script: string): string[] => ['/bin/sh', '-c', script];

/** A clock whose sleep returns at once and remembers what it was asked to wait. */
export function fakeClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return { sleeps, now: () => Date.now(), sleep: async (ms) => void sleeps.push(ms) };
}

export function tempDir(prefix = 'mfcdk-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestRun {
  record: RunRecord;
  events: RunEvent[];
  datastore: LocalDatastore;
  task(pathspec: string): TaskRecord;
  outputs(pathspec: string): unknown;
  log(pathspec: string, attempt?: number): string;
}

export async function runSteps(
  steps: StepSpec[],
  options: {
    flow?: Partial<FlowSpec>;
    params?: string[];
    layer?: LocalComputeOptions;
    root?: string;
    run?: Partial<RunOptions>;
  } = {},
): Promise<TestRun> {
  const flow = defineFlow({ name: 'TestFlow', steps, ...options.flow });
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const { values, problems } = resolveParameters(flow, options.params ?? []);
  if (problems.length) throw new Error(problems.join('\n'));
  const datastore = new LocalDatastore(options.root ?? tempDir());
  const events: RunEvent[] = [];
  const record = await runFlow({
    graph: v.graph,
    layer: new LocalComputeLayer({ maxWorkers: 4, killGraceMs: 300, ...options.layer }),
    datastore,
    parameters: values,
    clock: fakeClock(),
    onEvent: (e) => events.push(e),
    ...options.run,
  });
  const dir = (p: string) => path.join(datastore.root, record.flow, record.runId, p);
  return {
    record,
    events,
    datastore,
    task: (p) => {
      const t = record.tasks.find((x) => `${x.step}/${x.taskId}` === p);
      if (!t) throw new Error(`no task ${p} in ${record.tasks.map((x) => `${x.step}/${x.taskId}`).join(' ')}`);
      return t;
    },
    outputs: (p) => JSON.parse(fs.readFileSync(path.join(dir(p), 'outputs.json'), 'utf8')),
    log: (p, attempt = 0) => fs.readFileSync(path.join(dir(p), `attempt-${attempt}.log`), 'utf8'),
  };
}

/** Is a process with this pid alive? A zombie (killed, not yet reaped by init) is not. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The CLI in-process (main() with captured output, CI set): its exit code, stdout and stderr. */
export async function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'metaflow-cdk', ...args], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env: { ...process.env, CI: 'true' },
  });
  return { code, stdout, stderr };
}

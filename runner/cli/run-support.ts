import { describeValue } from '../../core/describe-value';
import { LocalComputeLayer } from '../compute/local';
import { taskBaseEnvironment } from '../compute/task-environment';
import { ComputeLayer } from '../compute/types';
import { CodePackageRef, Datastore, RunRecord, RunStatus } from '../datastore/types';
import { FlowLoadError, loadFlowFile } from '../flow/load';
import { resolveParameters } from '../flow/parameters';
import { FlowGraph, validateFlow } from '../flow/validate';
import { LayerCheckError, runFlow } from '../orchestrator/orchestrator';
import { ProgressReporter, wantsLiveView } from '../progress/reporter';
import { resumeSummary } from '../progress/resume-summary';
import { formatDuration } from '../progress/table';
import { CommandContext } from './commands';
import { startRegistration } from './metadata-support';
import { currentUser } from '../config/user';
import { CommandFailedError, EXIT_CODES, UserInputError } from '../errors';
import type { BatchLogMode } from '../batch/layer';
import type { BatchSettingFlags } from '../batch/settings';

export function parseMaxWorkers(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1) {
    throw new UserInputError(`--max-workers must be a whole number ≥ 1, got ${describeValue(value)}`);
  }
  return n;
}

/** Flags of `run` that choose and configure the compute layer. */
export interface LayerFlags extends BatchSettingFlags {
  readonly compute?: string;
  /** `--logs all|failed|none` (Batch). */
  readonly logs?: string;
  /** `--poll-interval <seconds>` (Batch: the shortest time between two looks at a job). */
  readonly pollInterval?: string;
  /** `--inherit-env` (local: tasks get the runner's whole environment). */
  readonly inheritEnv?: boolean;
}

/** `--poll-interval` in seconds (0.1–120) → milliseconds; undefined keeps the watcher's 5 s. */
export function parsePollInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || seconds < 0.1 || seconds > 120) {
    throw new UserInputError(`--poll-interval must be a number of seconds from 0.1 to 120, got ${describeValue(value)}`);
  }
  return Math.round(seconds * 1000);
}

const COMPUTE_LAYERS = ['local', 'batch'];

/** What a compute layer gets that is known only once the flow is loaded (and, for Batch, its code packaged). */
export interface LayerExtras {
  /** Local: the tasks' working directory (the flow's package root). @default the current directory */
  readonly cwd?: string;
  /** Batch: where the run's code package is. @default - none */
  readonly codePackageUrl?: string;
}

/** The compute layer of a run, with its extras. */
export function makeLayer(flags: LayerFlags, maxWorkers: number | undefined, context: Pick<CommandContext, 'env' | 'stderr'>, extras: LayerExtras = {}): ComputeLayer {
  return layerMaker(flags, maxWorkers, context)(extras);
}

/**
 * Check the layer flags now (bad ones throw UserInputError, reported with the other input
 * problems) and make the layer later, once its extras are known.
 */
export function layerMaker(flags: LayerFlags, maxWorkers: number | undefined, context: Pick<CommandContext, 'env' | 'stderr'>): (extras?: LayerExtras) => ComputeLayer {
  const name = flags.compute ?? 'local';
  const batchOnly = (['queue', 'gpuQueue', 'jobRole', 'executionRole', 'region', 'logs', 'pollInterval', 'team'] as const).filter((k) => flags[k] !== undefined);
  if (name === 'local') {
    if (batchOnly.length) throw new UserInputError(`${batchOnly.map(flagName).join(', ')} only appl${batchOnly.length === 1 ? 'ies' : 'y'} to --compute batch`);
    return (extras = {}) => new LocalComputeLayer({ maxWorkers, cwd: extras.cwd, baseEnv: flags.inheritEnv ? context.env : taskBaseEnvironment(context.env) });
  }
  if (name === 'batch') {
    if (flags.inheritEnv) throw new UserInputError('--inherit-env only applies to --compute local (a Batch task gets its image\'s environment, the contract and the step\'s env)');
    // Loaded only for Batch: the AWS SDK stays out of the CLI's start-up (test/package/cli-startup.test.ts).
    const { AwsClients } = require('../aws/clients') as typeof import('../aws/clients');
    const { BATCH_LOG_MODES, BatchComputeLayer } = require('../batch/layer') as typeof import('../batch/layer');
    const { batchSettings } = require('../batch/settings') as typeof import('../batch/settings');
    const { readMetaflowConfig } = require('../config/metaflow-config') as typeof import('../config/metaflow-config');
    const logMode = flags.logs ?? 'all';
    if (!BATCH_LOG_MODES.includes(logMode as BatchLogMode)) throw new UserInputError(`--logs must be one of ${BATCH_LOG_MODES.join(', ')}, got ${describeValue(logMode)}`);
    const pollMs = parsePollInterval(flags.pollInterval);
    const settings = batchSettings(readMetaflowConfig(context.env), flags);
    return (extras = {}) => {
      const clients = new AwsClients({ region: settings.region });
      return new BatchComputeLayer({
        settings,
        batch: clients.batch,
        logs: clients.logs,
        logMode: logMode as BatchLogMode,
        user: currentUser(context.env),
        ...(settings.region ? { s3Region: settings.region } : {}),
        ...(pollMs !== undefined ? { watcher: { minIntervalMs: pollMs } } : {}),
        ...(extras.codePackageUrl !== undefined ? { codePackageUrl: extras.codePackageUrl } : {}),
        notice: (line) => context.stderr.write(`metaflow-cdk: ${line}\n`),
      });
    };
  }
  throw new UserInputError(`--compute ${describeValue(name)}: unknown compute layer (available: ${COMPUTE_LAYERS.join(', ')})`);
}

const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Load and validate a flow file; every problem becomes a UserInputError (exit 2). */
export function prepareFlow(file: string): { graph: FlowGraph; file: string } {
  let loaded;
  try {
    loaded = loadFlowFile(file);
  } catch (err) {
    if (err instanceof FlowLoadError) throw new UserInputError(err.message);
    throw err;
  }
  const result = validateFlow(loaded.flow);
  if (!result.ok) {
    const n = result.problems.length;
    throw new UserInputError(`flow "${loaded.flow.name}" in ${file} has ${n} problem${n > 1 ? 's' : ''}:\n${result.problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return { graph: result.graph, file: loaded.file };
}

/**
 * Gathers input problems so that a command reports all of them at once:
 * `check(() => parse(...))` returns undefined when the parse threw a UserInputError.
 */
export class InputProblems {
  private readonly problems: string[] = [];

  check<T>(f: () => T): T | undefined {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof UserInputError)) throw err;
      this.problems.push(err.message);
      return undefined;
    }
  }

  /** Record problems found without a throw. */
  add(problems: readonly string[]): void {
    this.problems.push(...problems);
  }

  /** Throw one UserInputError listing every problem, each on its own `metaflow-cdk:` line. */
  throwIfAny(): void {
    if (this.problems.length) throw new UserInputError(this.problems.join('\nmetaflow-cdk: '));
  }
}

export function parametersOrThrow(graph: FlowGraph, given: readonly string[]): Record<string, unknown> {
  const { values, problems } = resolveParameters(graph.flow, given);
  if (problems.length) throw new UserInputError(problems.join('\nmetaflow-cdk: '));
  return values;
}

const EXIT_FOR: Record<RunStatus, number> = {
  succeeded: EXIT_CODES.SUCCESS,
  failed: EXIT_CODES.FAILED,
  interrupted: EXIT_CODES.INTERRUPTED,
  running: EXIT_CODES.FAILED,
  stopped: EXIT_CODES.INTERRUPTED,
  'timed out': EXIT_CODES.FAILED,
};

export interface ExecuteOptions {
  readonly graph: FlowGraph;
  readonly flowFile: string;
  readonly parameters: Record<string, unknown>;
  readonly withRetry: boolean;
  readonly layer: ComputeLayer;
  readonly datastore: Datastore;
  readonly json: boolean;
  readonly origin?: RunRecord;
  /** Resume: rerun this step and every step after it (RunOptions.resumeFrom). @default - none */
  readonly resumeFrom?: string;
  /** The run's code package (Batch), recorded in the run record. @default - none */
  readonly codePackage?: CodePackageRef;
  /** The datastore flags `show`/`resume` need to find this run (followUpDatastoreFlags). */
  readonly datastoreFlags?: string;
  /** The run's tags (runTags: `user:<name>` and the `--tag`s). */
  readonly tags?: readonly string[];
}

/**
 * Signals that stop a run: Ctrl-C, `kill`, and the terminal being closed. The first stops every
 * task and records the run as interrupted; a second quits at once.
 */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Run the flow with a progress view and signal handling; returns the exit code. */
export async function executeRun(options: ExecuteOptions, context: CommandContext): Promise<number> {
  // With --json, stdout carries only the final record: progress goes to stderr.
  const progressOut = options.json ? context.stderr : context.stdout;
  const reporter = new ProgressReporter({ out: progressOut, live: !options.json && wantsLiveView(progressOut, context.env) });
  const abort = new AbortController();
  let interrupts = 0;
  let started: { flow: string; runId: string } | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      const by = signal === 'SIGINT' ? '' : ` by ${signal}${signal === 'SIGHUP' ? ' (terminal closed)' : ''}`;
      context.stderr.write(`\nmetaflow-cdk: interrupted${by}, stopping all tasks (Ctrl-C again to quit at once)\n`);
      abort.abort();
    } else {
      layer.forceStop();
      if (started) options.datastore.markInterruptedSync?.(started.flow, started.runId);
      process.exit(EXIT_CODES.INTERRUPTED);
    }
  };
  const layer = options.layer;
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  if (layer.lookUp) {
    try {
      await layer.lookUp(options.graph);
    } catch (err) {
      throw new CommandFailedError(`the ${layer.name} compute layer could not look up what it needs: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const where = layer.description;
  const problems = layer.check(options.graph);
  if (problems.length) throw new UserInputError(new LayerCheckError(layer.name, problems).message);
  // Registration with a Metaflow metadata service, when the config names one (runner/metadata).
  const registration = await startRegistration(
    { graph: options.graph, flowFile: options.flowFile, parameters: options.parameters, datastore: options.datastore, layer, tags: options.tags },
    context,
  );
  let record: RunRecord;
  try {
    record = await runFlow({
      graph: options.graph,
      layer,
      datastore: options.datastore,
      parameters: options.parameters,
      withRetry: options.withRetry,
      flowFile: options.flowFile,
      origin: options.origin,
      resumeFrom: options.resumeFrom,
      codePackage: options.codePackage,
      tags: options.tags,
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'run-started') {
          started = e;
          const from = e.originRunId ? `, resuming run ${e.originRunId}` : '';
          progressOut.write(`Running ${e.flow} run ${e.runId} (${where}${from}); datastore ${options.datastore.root}\n`);
        }
        reporter.onEvent(e);
        registration?.onEvent(e);
      },
    });
    await registration?.finish();
  } catch (err) {
    if (err instanceof LayerCheckError) throw new UserInputError(err.message);
    // The datastore refused the run record itself (read-only root, full disk): one line, exit 1.
    throw new CommandFailedError(`could not record the run in ${options.datastore.root}: ${(err as Error).message}`);
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    reporter.close();
  }
  for (const line of resumeSummary(record, [...options.graph.steps.keys()])) progressOut.write(`${line}\n`);
  return reportRunEnd(record, layer.summary?.() ?? [], context, options.json, options.datastoreFlags);
}

/**
 * What a command prints when a run has ended (`run`, `resume`, `watch`): the status line (stdout,
 * or stderr with `--json`, which puts the record on stdout), the layer's lines (API calls), and
 * where to look next when it did not succeed, with the datastore flags that find the run
 * (`datastoreFlags`, from followUpDatastoreFlags). Returns the exit code for the run's status.
 */
export function reportRunEnd(record: RunRecord, layerLines: readonly string[], context: CommandContext, json: boolean, datastoreFlags = ''): number {
  const summary = `${record.flow} run ${record.runId} ${record.status} in ${formatDuration(record.durationMs)}${record.error ? `: ${record.error}` : ''}`;
  if (json) {
    context.stdout.write(JSON.stringify(record, null, 2) + '\n');
    context.stderr.write(`${summary}\n`);
  } else context.stdout.write(`${summary}\n`);
  for (const line of layerLines) context.stderr.write(`metaflow-cdk: ${line}\n`);
  if (record.status !== 'succeeded') {
    context.stderr.write(`metaflow-cdk: see \`metaflow-cdk show ${record.runId}${datastoreFlags}\`; \`metaflow-cdk resume ${record.runId}${datastoreFlags}\` reruns what did not succeed\n`);
  }
  return EXIT_FOR[record.status];
}

const WITH = ['retry'];

/** `--with` values: only `retry` (the default retry policy for steps without one) exists. */
export function parseWith(values: readonly string[]): boolean {
  const bad = values.filter((w) => !WITH.includes(w));
  if (bad.length) throw new UserInputError(`--with ${bad.map((b) => describeValue(b)).join(', ')}: unknown policy (available: ${WITH.join(', ')})`);
  return values.includes('retry');
}

/** commander's accumulator for a repeatable option (`--param a=1 --param b=2`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

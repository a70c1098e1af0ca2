/**
 * The CLI's side of registering runs with a Metaflow metadata service (runner/metadata): whether
 * the config names one, the first contact, the warning lines, and the last line of a run.
 */
import type { Datastore, RunRecord } from '../datastore/types';
import type { FlowGraph } from '../flow/validate';
import type { RunEventListener } from '../orchestrator/events';
import { UserInputError } from '../errors';
import type { CommandContext } from './commands';
import type { AttemptMetadata, BatchLogSettings } from '../metadata';

/** A run's registration, as `run`/`resume` use it. */
export interface Registration {
  readonly onEvent: RunEventListener;
  /** After the run: register what is left, print a line; resolves when done (bounded wait). */
  finish(): Promise<void>;
}

/** What a registration of a run needs from the command. */
export interface RegistrationInput {
  /** The validated flow. @default - none: `graphInfo` is the DAG (a Step Functions run) */
  readonly graph?: FlowGraph;
  /** `_graph_info` as the run's code package holds it. @default - drawn from `graph` */
  readonly graphInfo?: Record<string, unknown>;
  /** Each step's catch var as the run's code package holds it. @default - from `graph` */
  readonly catchVars?: Readonly<Record<string, string>>;
  readonly flowFile?: string;
  readonly parameters?: Record<string, unknown>;
  readonly datastore: Datastore;
  /**
   * The run's compute layer: a Batch layer's jobs get Metaflow's @batch task metadata (job id,
   * log group and stream). @default - the record's `compute` (register), else none
   */
  readonly layer?: { readonly name: string; readonly jobLogs?: BatchLogSettings };
  /** The recorded run's compute layer name (register), when there is no layer object. @default - none */
  readonly compute?: string;
  /** The run's tags (runTags); `user:` ones are sent as system tags, the rest as user tags. @default - none */
  readonly tags?: readonly string[];
  /** The layer's metadata of each attempt, instead of the one `layer`/`compute` implies. @default - from `layer`/`compute` */
  readonly attemptMetadata?: AttemptMetadata;
  /** Who the run is registered for, instead of the config's user. @default - METAFLOW_USER, else the OS user */
  readonly user?: string;
}

/**
 * How long a run's end waits for a metadata service that is down before it gives up (and says
 * how to register the rest later), in ms: METAFLOW_CDK_REGISTER_WAIT_MS, else 30 s.
 */
function drainTimeout(env: NodeJS.ProcessEnv): number {
  const raw = env.METAFLOW_CDK_REGISTER_WAIT_MS;
  if (raw === undefined || raw === '') return 30_000;
  if (!/^\d+$/.test(raw)) throw new UserInputError(`METAFLOW_CDK_REGISTER_WAIT_MS must be a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** The service client and registrar for this command, or undefined when the config names no service. */
function open(input: RegistrationInput, context: Pick<CommandContext, 'env' | 'stderr'>) {
  // Loaded only when needed, like the AWS SDK: the CLI's start-up stays small.
  const { readMetaflowConfig } = require('../config/metaflow-config') as typeof import('../config/metaflow-config');
  const m = require('../metadata') as typeof import('../metadata');
  const config = readMetaflowConfig(context.env);
  const configured = m.serviceSettings(config, context.env);
  if (!configured) return undefined;
  const settings = input.user ? { ...configured, user: input.user } : configured;
  // A recorded Batch run (register): its jobs logged where the config's log group says, else Batch's default.
  const recordedBatch =
    input.compute === 'batch'
      ? { logGroup: config.profile.BATCH_JOB_LOG_GROUP || (require('../batch/log-tailer') as typeof import('../batch/log-tailer')).BATCH_LOG_GROUP }
      : undefined;
  const jobLogs = input.layer?.jobLogs ?? recordedBatch;
  const timeoutMs = drainTimeout(context.env);
  const client = new m.MetadataServiceClient(settings);
  const registrar = new m.RunRegistrar({
    client,
    blobs: m.blobWriterFor(input.datastore),
    datastore: input.datastore,
    graph: input.graph,
    graphInfo: input.graphInfo,
    ...(input.catchVars ? { catchVars: input.catchVars } : {}),
    flowFile: input.flowFile,
    parameters: input.parameters,
    tags: (input.tags ?? []).filter((t) => !t.startsWith('user:')),
    ...(input.attemptMetadata ? { attemptMetadata: input.attemptMetadata } : jobLogs ? { attemptMetadata: m.batchAttemptMetadata(jobLogs) } : {}),
    warn: (line) => context.stderr.write(`metaflow-cdk: ${line}\n`),
  });
  return { m, settings, client, registrar, timeoutMs };
}

/** Start registering a run when the Metaflow config names a service; bad config throws UserInputError. */
export async function startRegistration(input: RegistrationInput & { readonly graph: FlowGraph }, context: Pick<CommandContext, 'env' | 'stderr'>): Promise<Registration | undefined> {
  const opened = open(input, context);
  if (!opened) return undefined;
  const { m, registrar, timeoutMs, settings } = opened;
  try {
    await registrar.preflight(input.graph.flow.name);
  } catch (err) {
    if (err instanceof m.ServiceConfigError || err instanceof m.ServiceRequestError) throw new UserInputError(err.message);
    throw err;
  }
  return {
    onEvent: registrar.onEvent,
    async finish() {
      const s = await registrar.finish(timeoutMs);
      const calls = Object.values(s.calls).reduce((a, b) => a + b, 0);
      if (!s.stopped) context.stderr.write(`metaflow-cdk: metadata service ${settings.url}: ${s.registered} of ${s.tasks} tasks registered (${calls} calls)\n`);
    },
  };
}

/** What `register` says when the Metaflow config names no service. */
export const NO_SERVICE = 'no metadata service configured: set METAFLOW_SERVICE_URL (and METAFLOW_DEFAULT_METADATA=service), or run metaflow-cdk configure';

/** `metaflow-cdk register`: register a recorded run with the service; returns how many tasks are left out. */
export async function registerRecordedRun(record: RunRecord, input: RegistrationInput, context: CommandContext): Promise<number> {
  const opened = open(input, context);
  if (!opened) {
    throw new UserInputError(NO_SERVICE);
  }
  const { m, registrar, timeoutMs, settings } = opened;
  let s;
  try {
    s = await registrar.registerRecord(record, timeoutMs);
  } catch (err) {
    if (err instanceof m.ServiceConfigError) throw new UserInputError(err.message);
    throw err;
  }
  // What was sent (creates, metadata, artifacts): none when the service had everything already.
  const sent = Object.entries(s.calls).filter(([kind]) => kind.startsWith('POST ')).reduce((n, [, c]) => n + c, 0);
  const what = s.registered < s.tasks ? '' : sent ? ` (${sent} requests sent)` : ' (nothing was missing)';
  context.stdout.write(`${record.flow} run ${record.runId}: ${s.registered} of ${s.tasks} tasks registered with ${settings.url}${what}\n`);
  return s.tasks - s.registered;
}

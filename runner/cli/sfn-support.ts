/**
 * What the `metaflow-cdk sfn …` commands share: the flags that replace Step Functions config keys,
 * opening the SFN and EventBridge clients with the settings (the AWS SDK and the deployer load
 * only when a command runs, so the CLI's start-up stays light), and turning a command's
 * `<flow-file|name>` argument into a state machine name.
 */
import type { Command } from 'commander';
import type { AwsClients } from '../aws/clients';
import type { BatchSettingFlags, BatchSettings } from '../batch/settings';
import type { MetaflowConfig } from '../config/metaflow-config';
import type { FlowGraph } from '../flow/validate';
import type { CommandContext } from './commands';
import type { SfnContext } from '../sfn/context';
import type { SfnSettings } from '../sfn/settings';
import type { CompileOptions, MetadataServiceTarget, QueuePlatform } from '../sfn/compiler/types';
import { CommandFailedError, UserInputError } from '../errors';
import { foreachParameterProblems, parseGivenParameters } from '../flow/parameters';
import { collect, parseWith, prepareFlow } from './run-support';

/** Flags of every `sfn` subcommand that replace Metaflow config keys (see runner/sfn/settings.ts). */
export interface SfnFlags {
  /** Replaces SFN_STATE_MACHINE_PREFIX. */
  readonly prefix?: string;
  /** Replaces SFN_IAM_ROLE. */
  readonly role?: string;
  /** Replaces EVENTS_SFN_ACCESS_IAM_ROLE (`sfn schedule`). */
  readonly eventsRole?: string;
  /** Replaces SFN_EXECUTION_LOG_GROUP_ARN (`sfn deploy`). */
  readonly logGroupArn?: string;
  /** @default the SDK's region resolution (AWS_REGION, the profile) */
  readonly region?: string;
}

/** Add the flags every `sfn` subcommand takes: --prefix, --role, --region. */
export function addSfnOptions(cmd: Command): Command {
  return cmd
    .option('--prefix <prefix>', 'state machine name prefix (default: METAFLOW_SFN_STATE_MACHINE_PREFIX)')
    .option('--role <arn>', "the state machines' IAM role, whose account they live in (default: METAFLOW_SFN_IAM_ROLE)")
    .option('--region <region>', 'AWS region (default: AWS_REGION or the profile)');
}

/** An open Step Functions session: the deployer's context, the config it came from, the clients. */
export interface SfnSession {
  readonly ctx: SfnContext;
  readonly config: MetaflowConfig;
  readonly clients: AwsClients;
}

/**
 * Run `f` with the Step Functions clients and settings (Metaflow config, flags replacing keys);
 * the clients are closed afterwards. Settings are checked when first read: a missing or bad key is
 * one line naming it.
 */
export async function withSfn<T>(flags: SfnFlags, context: CommandContext, f: (session: SfnSession) => Promise<T>): Promise<T> {
  // Loaded only when a command runs: the AWS SDK stays out of the CLI's start-up
  // (test/package/cli-startup.test.ts).
  const { AwsClients } = require('../aws/clients') as typeof import('../aws/clients');
  const { readMetaflowConfig } = require('../config/metaflow-config') as typeof import('../config/metaflow-config');
  const { SfnSettings } = require('../sfn/settings') as typeof import('../sfn/settings');
  const config = readMetaflowConfig(context.env);
  const settings = new SfnSettings(config, flags);
  const clients = new AwsClients({ region: flags.region || undefined });
  try {
    // The clients are built on first use, so input rejected before any call builds none.
    const ctx: SfnContext = {
      get sfn() {
        return clients.sfn;
      },
      get events() {
        return clients.events;
      },
      settings,
    };
    return await f({ ctx, config, clients });
  } catch (err) {
    throw awsFailure(err) ?? err;
  } finally {
    clients.destroy();
  }
}

/**
 * An AWS error (a service's answer, or no credentials) as one line with exit 1; undefined for
 * anything else. Throttling never reaches here: the SDK's retry strategy absorbs it.
 */
export function awsFailure(err: unknown): Error | undefined {
  const e = err as { name?: unknown; message?: unknown; $metadata?: unknown } | undefined;
  if (!(err instanceof Error) || (e?.$metadata === undefined && e?.name !== 'CredentialsProviderError')) return undefined;
  const message = String(e.message ?? '').split('\n')[0];
  const name = String(e.name);
  return new CommandFailedError(`AWS ${name === 'Error' ? 'call failed' : name}${message ? `: ${message}` : ''}`);
}

/** What a `<flow-file|name>` argument names: the state machine, and the flow when a file was given. */
export interface SfnTarget {
  /** The state machine: `<prefix>_<flow>`. */
  readonly name: string;
  /** The loaded and validated flow, when the argument was a flow file. */
  readonly flow?: { readonly graph: FlowGraph; readonly file: string };
}

/**
 * Flow names and state machine names are `[A-Za-z0-9_-]`: an argument with `.`, `/` or `\` is a
 * flow file.
 */
export function isFlowFileArgument(arg: string): boolean {
  return /[./\\]/.test(arg);
}

/**
 * Resolve `<flow-file|name>`: a flow file is loaded and validated (its state machine is
 * `<prefix>_<flow name>`); a name that starts with `<prefix>_` is a state machine name; any other
 * name is a flow name, prefixed. Every problem is one line (UserInputError).
 */
export function resolveTarget(arg: string, settings: SfnSettings): SfnTarget {
  const { checkStateMachineName, flowStateMachineName } = require('../sfn/names') as typeof import('../sfn/names');
  const { stateMachineName } = require('../../core/state-machine-names') as typeof import('../../core/state-machine-names');
  if (isFlowFileArgument(arg)) {
    const flow = prepareFlow(arg);
    return { name: flowStateMachineName(settings.prefix, flow.graph.flow.name), flow };
  }
  const prefix = settings.prefix;
  if (arg.startsWith(stateMachineName(prefix, ''))) return { name: checkStateMachineName(prefix, arg) };
  return { name: flowStateMachineName(prefix, arg) };
}

/**
 * The `--param` values given, checked and typed against the flow as `run` does (unknown name,
 * given twice, bad value, a foreach over a value that is not a non-empty list), but without the
 * parameters that were not given: a deployed state machine holds the defaults (the flow's, or
 * `sfn deploy --param`'s) and one without any value stops an execution that lacks it. Problems are
 * one UserInputError, a line each.
 */
export function givenParametersOrThrow(graph: FlowGraph, given: readonly string[]): Record<string, unknown> {
  const parsed = parseGivenParameters(graph.flow, given);
  const problems = [...parsed.problems, ...foreachParameterProblems(graph.flow, parsed.values)];
  if (problems.length) throw new UserInputError(problems.join('\nmetaflow-cdk: '));
  return parsed.values;
}

/** `--param name=value` items as a record (after they were checked: no name twice). */
export function paramRecord(given: readonly string[]): Record<string, string> {
  return Object.fromEntries(given.map((item) => [item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1)]));
}


/** The flags `sfn compile` and `sfn deploy` share: parameter values and the Batch settings. */
export interface CompileFlags extends BatchSettingFlags {
  readonly param?: string[];
  readonly with?: string[];
}

/** Add the options of {@link CompileFlags} (the flags replace Metaflow config keys). */
export function addCompileOptions(cmd: Command, paramHelp: string): Command {
  return cmd
    .option('--param <name=value>', paramHelp, collect)
    .option('--with <policy>', 'apply a policy to every step that has none: retry (repeatable)', collect)
    .option('--queue <name>', 'Batch job queue (default: METAFLOW_BATCH_JOB_QUEUE)')
    .option('--gpu-queue <name>', 'job queue of GPU steps (default: METAFLOW_BATCH_JOB_QUEUE_GPU, else --queue)')
    .option('--job-role <arn>', 'role of the containers (default: METAFLOW_ECS_S3_ACCESS_IAM_ROLE)')
    .option('--execution-role <arn>', 'Fargate execution role (default: METAFLOW_ECS_FARGATE_EXECUTION_ROLE)')
    .option('--datastore-root <s3-url>', 'the S3 datastore, s3://bucket/prefix (default: METAFLOW_DATASTORE_SYSROOT_S3)')
    .option('--team <name>', "the team whose share jobs on fair-share queues use (default: METAFLOW_TEAM, else the flow's team)");
}

/** How the compiler sees the queues: each one's platform, and whether it has a fair-share scheduling policy. */
export interface CompileQueues {
  readonly platformOf: (queue: string) => QueuePlatform;
  readonly fairShare?: (queue: string) => boolean;
}

/**
 * The flow's code package (runner/package) as its S3 URL under the datastore root: `sfn compile`
 * packs it to know its sha1 (no AWS call); `sfn deploy` also stores it, once per content, before
 * anything is registered, so the deployed machine's jobs find it whenever they run. It carries
 * the flow's `_graph_info` (runner/metadata graphInfoPackageFile), which the `start` job
 * registers when the run is registered with a metadata service.
 */
export async function flowCodePackageUrl(
  graph: FlowGraph,
  flowFile: string,
  datastoreRoot: { bucket: string; prefix: string; url: string },
  context: Pick<CommandContext, 'stderr' | 'stdout'>,
  options: { store: boolean; region?: string },
): Promise<string> {
  const { graphInfoPackageFile } = require('../metadata/graph-info') as typeof import('../metadata/graph-info');
  const { taskRuntimeFiles } = require('../task-runtime') as typeof import('../task-runtime');
  const graphFile = graphInfoPackageFile(graph, flowFile);
  if (options.store) {
    const { openS3Datastore } = require('../datastore/s3') as typeof import('../datastore/s3');
    const datastore = openS3Datastore(datastoreRoot, { region: options.region });
    const { shipCodePackage } = require('./code-package') as typeof import('./code-package');
    return (await shipCodePackage(graph.flow, flowFile, datastore, context.stdout, context, graphFile)).url;
  }
  const { buildCodePackage } = require('../package/build') as typeof import('../package/build');
  const { codePackageKey } = require('../package/store') as typeof import('../package/store');
  const { packageRootOf } = require('../package/root') as typeof import('../package/root');
  const built = await buildCodePackage({
    root: packageRootOf(graph.flow, flowFile),
    include: graph.flow.package?.include,
    exclude: graph.flow.package?.exclude,
    flowFile,
    onWarning: (line) => context.stderr.write(`metaflow-cdk: warning: ${line}\n`),
    runtimeFiles: { ...taskRuntimeFiles(), ...graphFile },
  });
  await built.dispose();
  return `${datastoreRoot.url.replace(/\/$/, '')}/${codePackageKey(graph.flow.name, built.sha1)}`;
}

/** CompileOptions from the Batch settings (the team too), the flags, what the queues are and the metadata service. */
export function compileOptionsOf(
  batch: BatchSettings,
  flags: CompileFlags,
  queues: CompileQueues,
  partition: string,
  codePackageUrl: string,
  metadata?: MetadataServiceTarget,
): CompileOptions {
  return {
    queue: batch.queue,
    gpuQueue: batch.gpuQueue,
    platformOf: queues.platformOf,
    fairShare: queues.fairShare,
    team: batch.team,
    jobRoleArn: batch.jobRoleArn,
    executionRoleArn: batch.executionRoleArn,
    datastoreRoot: batch.datastoreRoot.url,
    partition,
    params: paramRecord(flags.param ?? []),
    withRetry: parseWith(flags.with ?? []),
    codePackageUrl,
    region: batch.region,
    assignPublicIp: batch.assignPublicIp,
    ...(metadata ? { metadata } : {}),
  };
}

/**
 * The metadata service the compiled jobs register with, when the Metaflow config names one
 * (runner/metadata/config.ts jobServiceSettings: SERVICE_INTERNAL_URL, else SERVICE_URL);
 * runs are tagged `user:<who compiles>`.
 */
export function metadataTargetOf(config: MetaflowConfig, env: NodeJS.ProcessEnv): MetadataServiceTarget | undefined {
  const { jobServiceSettings } = require('../metadata/config') as typeof import('../metadata/config');
  return jobServiceSettings(config, env);
}

/**
 * The job shape every AWS path uses — the Batch layer, the Step Functions compiler and the
 * FlowStateMachine construct: ONE container per task (`containerProperties`, what
 * `batch:submitJob.sync` documents), as Metaflow and Nextflow submit them.
 *
 * - The job definition's command is a short loader: `sh` checks that the image has python3
 *   (exit {@link RUNTIME_EXIT}.noPython with one line if not), then stage 0
 *   (runner/task-runtime/python/stage0.py, zlib + base64 to save characters) downloads the flow's
 *   code package from S3 with a SigV4-signed request (credentials from the ECS container
 *   endpoint), checks its sha1, unpacks it as the working directory and runs the task runtime it
 *   carries (`_mfcdk/mfcdk_task.py`). The step's argv follows as arguments, so it is part of the
 *   definition, not of each SubmitJob.
 * - SubmitJob's `containerOverrides` carry only the environment: the task contract
 *   (runner/contract) and the runtime's I/O keys ({@link TASK_IO_ENV}).
 * - The job is RUNNING exactly while the runtime runs (fetch, the command, upload): one container,
 *   so `timeout.attemptDurationSeconds`, startedAt and live logs are the command's (Batch user
 *   guide, "Job states": RUNNING once the container started).
 * - Nothing is installed at job start: the image pull and S3 are all a job needs.
 * - What ECS receives must fit 8,192 characters ({@link ecsOverrideChars}).
 */
import { deflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerOverrides, KeyValuePair, RegisterJobDefinitionCommandInput, SubmitJobCommandInput } from '@aws-sdk/client-batch';
import { RUNTIME_SOURCE_DIR, STAGE0_FILE } from '../task-runtime';
import { batchEnvironment, BatchJobDefinitionInput, batchJobDefinition, jobDefinitionName } from '../policy/batch';

/** Env var Batch sets in each array child (0-based). Names starting with AWS_BATCH are Batch's. */
export const BATCH_ARRAY_INDEX_ENV = 'AWS_BATCH_JOB_ARRAY_INDEX';
/** Env var Batch sets in every container: the job's id (`<array job id>:<index>` in an array child). */
export const BATCH_JOB_ID_ENV = 'AWS_BATCH_JOB_ID';
/** Env var the runner sets: the foreach index of child 0 of this job (a chunk beyond 10,000, a retried child). */
export const ARRAY_INDEX_OFFSET_ENV = 'MF_ARRAY_INDEX_OFFSET';

/** The template's task-id prefix (`''` at the top, `3_` inside child 3 of an outer foreach): set on array jobs. */
export const TASK_ID_PREFIX_ENV = 'MF_TASK_ID_PREFIX';
/** Key (relative to MF_DATASTORE_ROOT) of the fan-out's items file, one JSON value per line. */
export const FOREACH_ITEMS_FILE_ENV = 'MF_FOREACH_ITEMS_FILE';

/**
 * A foreach join on Step Functions: nothing runs between the body's last array job and the join
 * to write the join's input-path list (up to 10,000 paths and more, beyond a state's 256 KiB),
 * but children are numbered, so the runtime derives it: `<MF_JOIN_INPUT_PREFIX><i>` for i = 0 …
 * MF_JOIN_INPUT_COUNT − 1, written to MF_INPUT_PATHS_FILE in the mirror.
 */
export const JOIN_INPUT_PREFIX_ENV = 'MF_JOIN_INPUT_PREFIX';
export const JOIN_INPUT_COUNT_ENV = 'MF_JOIN_INPUT_COUNT';

/** The runtime's own exit codes (mfcdk_task.py's EXIT; failures.ts explains them). */
export const RUNTIME_EXIT = { noPython: 90, uploadFailed: 91, fetchFailed: 92, codeFailed: 93, itemsUnusable: 94 } as const;

/** Where the runtime works in the container (code package, then the datastore mirror beside it). */
export const DEFAULT_WORK_DIR = '/tmp/mfcdk';
/** The task's MF_DATASTORE_ROOT in the container: the mirror of the keys it needs. */
export const MIRROR_ROOT = `${DEFAULT_WORK_DIR}/root`;

/**
 * ECS RunTask's limit on its `overrides` (8,192 characters, JSON included). Batch hands ECS the
 * container's FULL command and environment — the job definition's and SubmitJob's together — as
 * overrides: Cromwell's AWS backend documents it, and a job whose command came from its
 * definition failed with "Container Overrides length must be at most 8192" (ASFHyP3/hyp3#3041);
 * it surfaces as the job's status reason, not as a SubmitJob error (Netflix/metaflow#1482, #977).
 */
export const ECS_OVERRIDES_LIMIT = 8192;
/** What Batch adds to every container (AWS_BATCH_JOB_ID, _JQ_NAME, _CE_NAME, _JOB_ATTEMPT, array index): ~300 characters (DESIGN §4), rounded up. */
export const BATCH_ADDED_CHARS = 400;
/** Kept free below the limit, for what we cannot see (longer ARNs, Batch adding a variable). */
export const ECS_OVERRIDES_MARGIN = 512;
/** SubmitJob's own request size limit: "Job size must be less than 30 KiB" (ASFHyP3/hyp3#3041). */
export const SUBMIT_JOB_LIMIT_BYTES = 30 * 1024;

/** The runtime's I/O environment (keys relative to the datastore root; `{taskId}` / `{index}` allowed). */
export const TASK_IO_ENV = {
  /** The S3 datastore root, `s3://bucket[/prefix]`. */
  datastoreUrl: 'MF_DATASTORE_URL',
  /** The code package, `s3://bucket/…/<sha1>` (stage 0 reads it). */
  codeUrl: 'MF_CODE_URL',
  /** The datastore bucket's region, for signing (the job's region when unset). */
  region: 'MF_S3_REGION',
  /** Space-separated keys to mirror; a key ending in `/` is a task path's committed outputs (without `attempt-*`). */
  fetchKeys: 'MF_FETCH_KEYS',
  /** Space-separated step prefixes (`<flow>/<run>/<step>/`): every child's committed outputs, without the children's `attempt-*`. */
  fetchChildren: 'MF_FETCH_CHILDREN',
  /** Space-separated keys the runtime waits for before fetching (each input's status.json). */
  waitKeys: 'MF_WAIT_KEYS',
  /** How long it waits for MF_WAIT_KEYS, in seconds (default 3600). */
  waitSeconds: 'MF_WAIT_SECONDS',
  /** The attempt's output key: MF_OUTPUT_DIR is uploaded there. */
  outputKey: 'MF_OUTPUT_KEY',
  /** The task path, when no runner commits (Step Functions): outputs, then status.json, go there too. */
  commitKey: 'MF_COMMIT_KEY',
  /** Pathspecs (`step/taskId`, comma-separated) of the task's inputs, for status.json. */
  commitInputs: 'MF_COMMIT_INPUTS',
  /** Instead of MF_COMMIT_INPUTS: key (in the mirror) of a task-path list, one a line. */
  commitInputsFile: 'MF_COMMIT_INPUTS_FILE',
  /** Space-separated keys of task-path lists: each list, then each listed task's committed outputs once its status.json exists. */
  fetchLists: 'MF_FETCH_LISTS',
  /** Key of a JSON array the runtime turns into the items file (MF_FOREACH_ITEMS_FILE). */
  foreachItemsJson: 'MF_FOREACH_ITEMS_JSON',
} as const;

/** What one task (or every child of an array) moves; keys relative to the datastore root. */
export interface TaskIo {
  /** The S3 datastore root, `s3://bucket[/prefix]`. */
  readonly datastoreUrl: string;
  /** Keys to mirror; a key ending in `/` is a task path's committed outputs. */
  readonly fetchKeys: readonly string[];
  /** Step prefixes whose children's committed outputs are mirrored in one listing. @default - none */
  readonly fetchChildren?: readonly string[];
  /** Keys of task-path lists (one path a line), mirrored with each listed task. @default - none */
  readonly fetchLists?: readonly string[];
  /** Keys to wait for before fetching. @default - none */
  readonly waitKeys?: readonly string[];
  /** How long to wait for `waitKeys`, in seconds. @default 3600 */
  readonly waitSeconds?: number;
  /** The attempt's output key (`layout.attemptOutputs`). */
  readonly outputKey: string;
  /** The task path to commit to after success, when no runner commits (Step Functions). @default - none: the runner commits */
  readonly commitKey?: string;
  /** The task's inputs as pathspecs, for the status.json written with `commitKey`. @default - none */
  readonly commitInputs?: readonly string[];
  /** Instead of `commitInputs`: the mirror key of a task-path list. @default - none */
  readonly commitInputsFile?: string;
  /** Key of a JSON array turned into the items file. @default - none */
  readonly foreachItemsJson?: string;
}

/** Where the code comes from and how to sign for it. */
export interface TaskCode {
  /** The code package's S3 URL (runner/package: `<root>/<flow>/data/<sha[:2]>/<sha>`). */
  readonly codeUrl: string;
  /** The datastore bucket's region. @default - the job's region (AWS_REGION in the container) */
  readonly region?: string;
}

/** The runtime's I/O environment for one task or array: the one builder for Batch and Step Functions. */
export function taskIoEnvironment(io: TaskIo, code: TaskCode): Record<string, string> {
  if (!/^s3:\/\/[^/]+/.test(io.datastoreUrl)) throw new Error(`a Batch job needs an S3 datastore root (s3://bucket[/prefix]), got "${io.datastoreUrl}"`);
  if (!/^s3:\/\/[^/]+\/.*[0-9a-f]{40}$/.test(code.codeUrl)) throw new Error(`a Batch job needs a code package URL ending in its sha1, got "${code.codeUrl}"`);
  const bad = [...io.fetchKeys, ...(io.fetchChildren ?? []), ...(io.fetchLists ?? []), ...(io.waitKeys ?? []), io.outputKey].find((k) => k === '' || /\s/.test(k) || k.startsWith('/'));
  if (bad !== undefined) throw new Error(`task I/O keys are relative to the datastore root, without spaces, got "${bad}"`);
  const E = TASK_IO_ENV;
  return {
    [E.datastoreUrl]: io.datastoreUrl.replace(/\/$/, ''),
    [E.codeUrl]: code.codeUrl,
    ...(code.region ? { [E.region]: code.region } : {}),
    ...(io.fetchKeys.length ? { [E.fetchKeys]: [...new Set(io.fetchKeys)].join(' ') } : {}),
    ...(io.fetchChildren?.length ? { [E.fetchChildren]: io.fetchChildren.join(' ') } : {}),
    ...(io.fetchLists?.length ? { [E.fetchLists]: io.fetchLists.join(' ') } : {}),
    ...(io.waitKeys?.length ? { [E.waitKeys]: io.waitKeys.join(' ') } : {}),
    ...(io.waitSeconds !== undefined ? { [E.waitSeconds]: String(io.waitSeconds) } : {}),
    [E.outputKey]: io.outputKey,
    ...(io.commitKey !== undefined ? { [E.commitKey]: io.commitKey } : {}),
    ...(io.commitKey !== undefined && io.commitInputs?.length ? { [E.commitInputs]: io.commitInputs.join(',') } : {}),
    ...(io.commitKey !== undefined && io.commitInputsFile !== undefined ? { [E.commitInputsFile]: io.commitInputsFile } : {}),
    ...(io.foreachItemsJson !== undefined ? { [E.foreachItemsJson]: io.foreachItemsJson } : {}),
  };
}

// ---- the loader --------------------------------------------------------------------------------

let stage0Cache: string | undefined;

/** Stage 0 as the `python3 -c` program: its source, deflated and base64-encoded (no quotes to escape in JSON). */
export function stage0Program(): string {
  if (stage0Cache === undefined) {
    const source = readFileSync(join(RUNTIME_SOURCE_DIR, STAGE0_FILE));
    stage0Cache = `import zlib,base64;exec(zlib.decompress(base64.b64decode("${deflateSync(source, { level: 9 }).toString('base64')}")))`;
  }
  return stage0Cache;
}

/** The `sh` part: python3 or one line and RUNTIME_EXIT.noPython; then stage 0 with the step's argv. */
const LOADER_SH =
  `command -v python3 >/dev/null 2>&1||{ echo "metaflow-cdk: this image has no python3 on its PATH; metaflow-cdk Batch jobs need /bin/sh and python3 (3.8+)" >&2;exit ${RUNTIME_EXIT.noPython};};` +
  'p=$1;shift;exec python3 -c "$p" "$@"';

/** The job definition's command for a step's argv: the loader, then the argv as its arguments. */
export function loaderCommand(argv: readonly string[]): string[] {
  return ['sh', '-c', LOADER_SH, 'metaflow-cdk', stage0Program(), ...argv];
}

/** A Batch command argument may not be an empty string (SubmitJob / RegisterJobDefinition refuse it). */
export function emptyArgumentProblems(where: string, argv: readonly string[]): string[] {
  return argv.flatMap((a, i) => (a === '' ? [`${where}: command argument ${i + 1} is an empty string, which AWS Batch refuses (leave it out, or pass the value through env)`] : []));
}

/**
 * The one-container job definition of a step: {@link batchJobDefinition}'s resources, roles,
 * platform, retry strategy, timeout and tags, with the loader + the step's argv as its command.
 */
export function taskJobDefinition(input: BatchJobDefinitionInput, argv: readonly string[]): RegisterJobDefinitionCommandInput {
  const { jobDefinitionName: _plainName, ...plain } = batchJobDefinition(input);
  const content = { ...plain, containerProperties: { ...plain.containerProperties, command: loaderCommand(argv) } };
  return { jobDefinitionName: jobDefinitionName(input.flow, input.step, content), ...content } as RegisterJobDefinitionCommandInput;
}

// ---- what ECS receives -------------------------------------------------------------------------

/** The environment and command a container gets: the definition's, with SubmitJob's overrides on top. */
export function effectiveContainer(definition: Pick<RegisterJobDefinitionCommandInput, 'containerProperties'>, overrides?: ContainerOverrides): { command: string[]; environment: KeyValuePair[] } {
  const props = definition.containerProperties ?? {};
  const env = new Map<string, string>();
  for (const kv of props.environment ?? []) env.set(kv.name!, kv.value ?? '');
  for (const kv of overrides?.environment ?? []) env.set(kv.name!, kv.value ?? '');
  return { command: [...(overrides?.command ?? props.command ?? [])], environment: [...env].map(([name, value]) => ({ name, value })) };
}

/**
 * The characters ECS counts for one container's overrides: its full command and environment as
 * JSON (the shape of RunTask's `containerOverrides`), plus what Batch adds ({@link BATCH_ADDED_CHARS}).
 */
export function ecsOverrideChars(definition: Pick<RegisterJobDefinitionCommandInput, 'containerProperties'>, overrides?: ContainerOverrides): number {
  const c = effectiveContainer(definition, overrides);
  return JSON.stringify({ containerOverrides: [{ name: 'default', command: c.command, environment: c.environment }] }).length + BATCH_ADDED_CHARS;
}

/** The most a job may weigh by {@link ecsOverrideChars}: the limit less the margin. */
export const ECS_OVERRIDES_BUDGET = ECS_OVERRIDES_LIMIT - ECS_OVERRIDES_MARGIN;

/** The job is too big for ECS: by how much, and which variables weigh most. */
export class EcsOverridesTooLargeError extends Error {
  constructor(
    readonly what: string,
    readonly size: number,
    readonly biggest: readonly { name: string; chars: number }[],
  ) {
    super(
      `${what}: the container's command and environment come to ${size} characters as ECS counts them (definition and overrides together, ` +
        `with what Batch adds); ECS allows ${ECS_OVERRIDES_LIMIT} and metaflow-cdk keeps ${ECS_OVERRIDES_MARGIN} free; largest: ` +
        `${biggest.map((b) => `${b.name} (${b.chars})`).join(', ')} (pass large values through the datastore, not the environment)`,
    );
    this.name = 'EcsOverridesTooLargeError';
  }
}

/** The variables (and the command) that weigh most, for the error message. */
export function heaviest(command: readonly string[], env: Readonly<Record<string, string>>): { name: string; chars: number }[] {
  return [{ name: 'command', chars: JSON.stringify(command).length }, ...Object.entries(env).map(([name, value]) => ({ name, chars: name.length + value.length }))]
    .sort((a, b) => b.chars - a.chars)
    .slice(0, 3);
}

/** Throws {@link EcsOverridesTooLargeError} when a container would not fit ECS's limit with our margin. */
export function checkEcsBudget(what: string, definition: Pick<RegisterJobDefinitionCommandInput, 'containerProperties'>, overrides?: ContainerOverrides): number {
  const size = ecsOverrideChars(definition, overrides);
  if (size > ECS_OVERRIDES_BUDGET) {
    const c = effectiveContainer(definition, overrides);
    throw new EcsOverridesTooLargeError(what, size, heaviest(c.command, Object.fromEntries(c.environment.map((kv) => [kv.name!, kv.value!]))));
  }
  return size;
}

/** Throws when a SubmitJob request is over Batch's 30 KiB. */
export function checkSubmitJobSize(what: string, input: SubmitJobCommandInput): void {
  const bytes = Buffer.byteLength(JSON.stringify(input));
  if (bytes > SUBMIT_JOB_LIMIT_BYTES) throw new Error(`${what}: the SubmitJob request is ${bytes} bytes, AWS Batch allows ${SUBMIT_JOB_LIMIT_BYTES} ("Job size must be less than 30 KiB")`);
}

/** Names starting with AWS_BATCH are Batch's own. */
export function reservedNames(env: Readonly<Record<string, string>>): string[] {
  return Object.keys(env).filter((name) => name.startsWith('AWS_BATCH'));
}

/**
 * SubmitJob's `containerOverrides` for one task or array: the task environment (its
 * MF_DATASTORE_ROOT / MF_OUTPUT_DIR are the runtime's to set) and the runtime's I/O keys, checked
 * against ECS's budget together with the definition's command.
 */
export function taskContainerOverrides(
  what: string,
  definition: Pick<RegisterJobDefinitionCommandInput, 'containerProperties'>,
  taskEnv: Readonly<Record<string, string>>,
  io: TaskIo,
  code: TaskCode,
): ContainerOverrides {
  const reserved = reservedNames(taskEnv);
  if (reserved.length > 0) throw new Error(`${what}: environment names starting with AWS_BATCH are reserved by Batch: ${reserved.join(', ')}`);
  const { MF_DATASTORE_ROOT: _root, MF_OUTPUT_DIR: _out, ...contract } = taskEnv;
  const overrides: ContainerOverrides = { environment: batchEnvironment({ ...contract, ...taskIoEnvironment(io, code) }) };
  checkEcsBudget(what, definition, overrides);
  return overrides;
}

/** A container's environment in an override, as a map (for tests and diagnostics). */
export function environmentMap(env: readonly KeyValuePair[] | undefined): Record<string, string> {
  return Object.fromEntries((env ?? []).map((kv) => [kv.name!, kv.value!]));
}

/**
 * Output passing v2: how a Batch container (the Batch layer AND Step Functions) reads its inputs
 * and writes its outputs when the step's image has nothing but a POSIX shell (busybox,
 * python:3.12-slim: no AWS CLI, no boto3) and the datastore is S3. One Batch multi-container job
 * (`ecsProperties`, EC2 and Fargate) per task or array, three containers sharing a task-scoped
 * volume mounted at `/metaflow`; the task sees a LOCAL MIRROR of exactly the datastore keys it
 * needs at `/metaflow/root`, so the task contract (and the child bootstrap) is unchanged:
 *
 * 1. `fetch` (helper image, non-essential): waits for MF_WAIT_KEYS, mirrors MF_FETCH_KEYS from
 *    MF_DATASTORE_URL to `/metaflow/root/<key>`, turns MF_FOREACH_ITEMS_JSON into the items file,
 *    creates the output directory, marks success.
 * 2. `main` (the step's image, non-essential, starts when `fetch` COMPLETEs): runs the user's
 *    argv (behind the child bootstrap for an array) only when fetch succeeded, with
 *    MF_DATASTORE_ROOT=/metaflow/root and MF_OUTPUT_DIR=/metaflow/root/<output key>, and records
 *    its exit code in the volume.
 * 3. `upload` (helper image, the only essential container, starts when `main` COMPLETEs): copies
 *    the output directory to `<MF_DATASTORE_URL>/<MF_OUTPUT_KEY>/` (and, with MF_COMMIT_KEY, to the
 *    task path followed by the task's status.json; a failed attempt gets a failed status.json
 *    and no commit) and exits with `main`'s exit code, so the job's
 *    status and exit code are the user's command's.
 *
 * Keys are relative to the datastore root; `{taskId}` becomes the child's task id
 * (MF_TASK_ID_PREFIX + index) and `{index}` its index (MF_ARRAY_INDEX_OFFSET +
 * AWS_BATCH_JOB_ARRAY_INDEX). Batch only allows COMPLETE/SUCCESS dependencies on non-essential
 * containers, hence this shape; COMPLETE (not SUCCESS) on `fetch` lets the chain always reach
 * `upload`, so a failed fetch fails the attempt with a message instead of leaving the job hanging.
 * The helper image needs a POSIX shell and either the AWS CLI or `dnf` (the default, Amazon Linux
 * 2023, installs `awscli-2` on start; set `helperImage` to an image with the CLI to skip that).
 */
import type { EcsPropertiesOverride, KeyValuePair, RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { batchEnvironment, BatchJobDefinitionInput, batchJobDefinition, jobDefinitionName } from '../policy/batch';
import { FOREACH_ITEMS_FILE_ENV, TASK_ID_PREFIX_ENV } from './child-bootstrap';
import { FETCH_CONTAINER, HELPER_EXIT, MAIN_CONTAINER, UPLOAD_CONTAINER } from './failures';
import { ARRAY_INDEX_OFFSET_ENV, BATCH_ARRAY_INDEX_ENV, BATCH_JOB_ID_ENV, containerOverridesSize, ContainerOverridesTooLargeError, largestVariables, MAX_CONTAINER_OVERRIDES_CHARS } from './overrides';

/** Helper image: a POSIX shell and `dnf` to install the AWS CLI (or the CLI itself); python3 for MF_FOREACH_ITEMS_JSON. */
export const DEFAULT_HELPER_IMAGE = 'public.ecr.aws/amazonlinux/amazonlinux:2023';
/** The shared volume and where every container mounts it. */
export const SHARED_VOLUME = 'metaflow';
export const SHARED_PATH = '/metaflow';
/** Where the datastore keys the task needs are mirrored: the task's MF_DATASTORE_ROOT. */
export const MIRROR_ROOT = `${SHARED_PATH}/root`;

/** The helpers' environment (all keys relative to the datastore root, placeholders allowed). */
export const OUTPUT_PASSING_ENV = {
  /** The S3 datastore root, `s3://bucket[/prefix]`. */
  datastoreUrl: 'MF_DATASTORE_URL',
  /** Space-separated keys to mirror; a key ending in `/` is a prefix (without `attempt-*`). */
  fetchKeys: 'MF_FETCH_KEYS',
  /** Space-separated step prefixes (`<flow>/<run>/<step>/`): every child task path's committed outputs under each, without the children's `attempt-*`. */
  fetchChildren: 'MF_FETCH_CHILDREN',
  /** Space-separated keys fetch waits for before fetching (e.g. each input's status.json). */
  waitKeys: 'MF_WAIT_KEYS',
  /** How long fetch waits for MF_WAIT_KEYS, in seconds (default 3600). */
  waitSeconds: 'MF_WAIT_SECONDS',
  /** The attempt's output key: upload copies the output directory there. */
  outputKey: 'MF_OUTPUT_KEY',
  /** The task path, when no runner commits (Step Functions): outputs, then status.json, go there too. */
  commitKey: 'MF_COMMIT_KEY',
  /** Pathspecs (`step/taskId`, comma-separated) of the task's inputs, for the status.json upload writes. */
  commitInputs: 'MF_COMMIT_INPUTS',
  /** Instead of MF_COMMIT_INPUTS: key (in the mirror) of a task-path list, one a line (a foreach join's input-paths file on Step Functions). */
  commitInputsFile: 'MF_COMMIT_INPUTS_FILE',
  /** Space-separated keys of task-path lists (one per line): fetch mirrors each list, and each task's committed outputs once its status.json exists. */
  fetchLists: 'MF_FETCH_LISTS',
  /** Key of a JSON array object that fetch turns into the items file (MF_FOREACH_ITEMS_FILE). */
  foreachItemsJson: 'MF_FOREACH_ITEMS_JSON',
} as const;

/** Names of the task environment the helpers read too (to resolve `{taskId}` and `{index}`). */
export const HELPER_ENV_FROM_TASK = [ARRAY_INDEX_OFFSET_ENV, TASK_ID_PREFIX_ENV] as const;

export { HELPER_EXIT };

const E = OUTPUT_PASSING_ENV;
const ENSURE_CLI = `command -v aws >/dev/null 2>&1 || dnf install -y -q awscli-2 >/dev/null 2>&1 || { echo "metaflow: the helper image has no AWS CLI and dnf could not install awscli-2" >&2; exit ${HELPER_EXIT.noCli}; }`;

/** Shell lines both helpers start with: the child's index, task id, and `sub` for placeholders. */
const PLACEHOLDERS = [
  `i=$(( \${${ARRAY_INDEX_OFFSET_ENV}:-0} + \${${BATCH_ARRAY_INDEX_ENV}:-0} ))`,
  `t="\${${TASK_ID_PREFIX_ENV}:-}$i"`,
  'sub() { printf %s "$1" | sed -e "s/{taskId}/$t/g" -e "s/{index}/$i/g"; }',
];

/** Turns a JSON array file ($1) into one compact JSON value per line ($2), as the contract's items file. */
const ITEMS_PY = [
  'import json, sys',
  'items = json.load(open(sys.argv[1]))',
  'if not isinstance(items, list): sys.exit("metaflow: %s is not a JSON array" % sys.argv[3])',
  'open(sys.argv[2], "w").write("".join(json.dumps(x, separators=(",", ":"), ensure_ascii=False) + "\\n" for x in items))',
].join('\n');

/** The `fetch` container's script. `vol` is the shared path (tests run it elsewhere). */
export function fetchScript(vol = SHARED_PATH): string {
  const root = `${vol}/root`;
  return [
    'set -u',
    // the reason goes to the volume too, so main says it in the task's own log
    `fail() { echo "metaflow: $*" >&2; echo "$*" > ${vol}/fetch_error; exit 1; }`,
    ENSURE_CLI.replace('>&2;', `>&2; echo "the helper image has no AWS CLI and dnf could not install awscli-2" > ${vol}/fetch_error;`),
    ...PLACEHOLDERS,
    `[ -n "\${${E.datastoreUrl}:-}" ] || fail "${E.datastoreUrl} is not set"`,
    `url=$${E.datastoreUrl}; u=\${url#s3://}; bucket=\${u%%/*}; base=; case "$u" in */?*) base=\${u#*/}/;; esac`,
    `mkdir -p ${root}`,
    // wait (polling 1 s, doubling to 30 s) for keys another job commits, e.g. each input's status.json
    `limit=\${${E.waitSeconds}:-3600}; waited=0; delay=1`,
    'wait_key() {',
    '  until aws s3api head-object --bucket "$bucket" --key "$base$1" >/dev/null 2>&1; do',
    '    [ "$waited" -lt "$limit" ] || fail "$url/$1 does not exist after waiting ${waited}s for it"',
    '    sleep "$delay"; waited=$((waited + delay)); delay=$((delay * 2)); [ "$delay" -le 30 ] || delay=30',
    '  done',
    '}',
    'fetch_key() {',
    '  case "$1" in',
    `    */) aws s3 cp --recursive --only-show-errors --exclude 'attempt-*' "$url/$1" "${root}/$1" || fail "could not fetch $url/$1"`,
    `        [ -n "$(ls -A "${root}/$1" 2>/dev/null)" ] || fail "nothing to fetch at $url/$1 (an input of this task is missing from the datastore)";;`,
    `    *) mkdir -p "$(dirname "${root}/$1")"; aws s3 cp --only-show-errors "$url/$1" "${root}/$1" || fail "could not fetch $url/$1 (missing from the datastore?)";;`,
    '  esac',
    '}',
    `for k in \${${E.waitKeys}:-}; do wait_key "$(sub "$k")"; done`,
    `for k in \${${E.fetchKeys}:-}; do fetch_key "$(sub "$k")"; done`,
    // a step's children in one copy: drop <child>/attempt-* (later filters win: deeper attempt-* of the user's stay)
    `for k in \${${E.fetchChildren}:-}; do k=$(sub "$k")`,
    `  aws s3 cp --recursive --only-show-errors --exclude '*/attempt-*' --include '*/*/*attempt-*' "$url/$k" "${root}/$k" || fail "could not fetch $url/$k"`,
    `  [ -n "$(ls -A "${root}/$k" 2>/dev/null)" ] || fail "nothing to fetch at $url/$k (the inputs of this task are missing from the datastore)"`,
    'done',
    // lists of task paths (a wide join's input-paths file): the list, then each task's status.json and committed outputs
    `for l in \${${E.fetchLists}:-}; do`,
    '  l=$(sub "$l"); fetch_key "$l"',
    `  while read -r p || [ -n "$p" ]; do [ -z "$p" ] || { wait_key "$p/status.json"; fetch_key "$p/"; }; done < "${root}/$l"`,
    'done',
    `if [ -n "\${${E.foreachItemsJson}:-}" ]; then`,
    `  [ -n "\${${FOREACH_ITEMS_FILE_ENV}:-}" ] || fail "${E.foreachItemsJson} needs ${FOREACH_ITEMS_FILE_ENV}"`,
    `  j=$(sub "$${E.foreachItemsJson}"); f=$(sub "$${FOREACH_ITEMS_FILE_ENV}")`,
    '  command -v python3 >/dev/null 2>&1 || fail "the helper image has no python3 to turn $url/$j into the foreach items file"',
    `  mkdir -p "$(dirname "${root}/$f")"`,
    `  aws s3 cp --only-show-errors "$url/$j" ${vol}/items.json || fail "could not fetch the foreach items $url/$j"`,
    `  python3 -c '${ITEMS_PY}' ${vol}/items.json "${root}/$f" "$url/$j" || fail "could not turn $url/$j into the foreach items file"`,
    'fi',
    `mkdir -p "${root}/$(sub "$${E.outputKey}")"`,
    `touch ${vol}/fetch_ok`,
  ].join('\n');
}

/** The `main` container's wrapper; the command to run (bootstrap + user argv, or the argv) follows as "$@". */
export function mainScript(vol = SHARED_PATH): string {
  return [
    `if [ ! -f ${vol}/fetch_ok ]; then echo "metaflow: the task's inputs were not fetched: $(cat ${vol}/fetch_error 2>/dev/null || echo "see the fetch container's log")" >&2; echo 1 > ${vol}/exit_code; exit 1; fi`,
    '"$@"',
    'code=$?',
    `echo "$code" > ${vol}/exit_code`,
    'exit "$code"',
  ].join('\n');
}

/** The `upload` container's script: outputs up (and committed, with MF_COMMIT_KEY), then `main`'s exit code. */
export function uploadScript(vol = SHARED_PATH): string {
  const root = `${vol}/root`;
  return [
    'set -u',
    ENSURE_CLI,
    `code=$(cat ${vol}/exit_code 2>/dev/null || echo ${HELPER_EXIT.killed})`,
    ...PLACEHOLDERS,
    `[ -n "\${${E.datastoreUrl}:-}" ] && [ -n "\${${E.outputKey}:-}" ] || { echo "metaflow: upload needs ${E.datastoreUrl} and ${E.outputKey}" >&2; exit ${HELPER_EXIT.uploadFailed}; }`,
    `url=$${E.datastoreUrl}; out=$(sub "$${E.outputKey}"); dir="${root}/$out"`,
    'has_outputs() { [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; }',
    'put() { aws s3 cp --recursive --only-show-errors "$dir" "$url/$1/"; }',
    'if has_outputs; then',
    `  put "$out" || { echo "metaflow: uploading outputs to $url/$out/ failed" >&2; [ "$code" = 0 ] && code=${HELPER_EXIT.uploadFailed}; }`,
    'fi',
    // Step Functions: no runner commits, so the task path gets the outputs, then status.json (last: it means "committed");
    // a failed attempt commits no outputs but still leaves its status.json (attempt, exit code, Batch job id) for `show` and `logs`
    `if [ -n "\${${E.commitKey}:-}" ]; then`,
    `  st=succeeded; reason=; [ "$code" = 0 ] || { st=failed; reason=",\\"reason\\":\\"exit code $code\\""; }`,
    `  job=; [ -z "\${${BATCH_JOB_ID_ENV}:-}" ] || job=",\\"externalId\\":\\"$${BATCH_JOB_ID_ENV}\\""`,
    `  c=$(sub "$${E.commitKey}"); attempt=\${out##*/attempt-}; step=\${c%/*}; step=\${step##*/}`,
    `  inputs=$(sub "\${${E.commitInputs}:-}" | sed -e 's/[^,][^,]*/"&"/g')`,
    // a task-path list (`<flow>/<run>/<step>/<taskId>` a line) gives the pathspecs `<step>/<taskId>`
    `  if [ -n "\${${E.commitInputsFile}:-}" ]; then inputs=$(sed -n -e 's#^.*/\\([^/][^/]*/[^/][^/]*\\)$#"\\1"#p' "${root}/$(sub "$${E.commitInputsFile}")" | tr '\\n' , | sed -e 's/,$//'); fi`,
    '  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)',
    `  fi_=; [ -z "\${${ARRAY_INDEX_OFFSET_ENV}:-}" ] || fi_=",\\"foreachIndex\\":$i"`,
    '  status="{\\"step\\":\\"$step\\",\\"taskId\\":\\"${c##*/}\\",\\"status\\":\\"$st\\",\\"inputs\\":[$inputs]$fi_,\\"attempts\\":[{\\"attempt\\":$attempt,\\"status\\":\\"$st\\",\\"exitCode\\":$code,\\"finishedAt\\":\\"$now\\"$reason$job}]}"',
    '  { [ "$st" = failed ] || ! has_outputs || put "$c"; } && printf %s "$status" | aws s3 cp --only-show-errors - "$url/$c/status.json" ||',
    `    { echo "metaflow: committing outputs to $url/$c/ failed" >&2; [ "$st" = failed ] || code=${HELPER_EXIT.uploadFailed}; }`,
    'fi',
    'exit "$code"',
  ].join('\n');
}

/** The command of `main` for a command to run (the child bootstrap + argv for an array, else the argv). */
export function mainCommand(argv: readonly string[]): string[] {
  return ['sh', '-c', mainScript(), 'metaflow-task', ...argv];
}

export interface OutputPassingOptions {
  /** @default DEFAULT_HELPER_IMAGE */
  readonly helperImage?: string;
}

/**
 * The multi-container job definition for a step: the same resources, roles, platform, retry
 * strategy, timeout and tags as {@link batchJobDefinition}, in `ecsProperties` form.
 */
export function outputPassingJobDefinition(input: BatchJobDefinitionInput, options: OutputPassingOptions = {}): RegisterJobDefinitionCommandInput {
  const plain = batchJobDefinition(input);
  const container = plain.containerProperties!;
  const helper = options.helperImage ?? DEFAULT_HELPER_IMAGE;
  const mountPoints = [{ sourceVolume: SHARED_VOLUME, containerPath: SHARED_PATH }];
  const content = {
    type: 'container' as const,
    platformCapabilities: plain.platformCapabilities,
    ecsProperties: {
      taskProperties: [
        {
          ...(container.jobRoleArn ? { taskRoleArn: container.jobRoleArn } : {}),
          ...(container.executionRoleArn ? { executionRoleArn: container.executionRoleArn } : {}),
          ...(container.ephemeralStorage ? { ephemeralStorage: container.ephemeralStorage } : {}),
          ...(container.networkConfiguration ? { networkConfiguration: container.networkConfiguration } : {}),
          volumes: [{ name: SHARED_VOLUME }],
          containers: [
            { name: FETCH_CONTAINER, image: helper, essential: false, command: ['sh', '-c', fetchScript()], mountPoints },
            {
              name: MAIN_CONTAINER,
              image: input.image,
              essential: false,
              dependsOn: [{ containerName: FETCH_CONTAINER, condition: 'COMPLETE' }],
              command: mainCommand([]),
              resourceRequirements: container.resourceRequirements,
              ...(container.linuxParameters ? { linuxParameters: container.linuxParameters } : {}),
              mountPoints,
            },
            {
              name: UPLOAD_CONTAINER,
              image: helper,
              essential: true,
              dependsOn: [{ containerName: MAIN_CONTAINER, condition: 'COMPLETE' }],
              command: ['sh', '-c', uploadScript()],
              mountPoints,
            },
          ],
        },
      ],
    },
    retryStrategy: plain.retryStrategy,
    ...(plain.timeout ? { timeout: plain.timeout } : {}),
    propagateTags: true,
    tags: plain.tags,
  };
  return { jobDefinitionName: jobDefinitionName(input.flow, `${input.step}-io`, content), ...content } as RegisterJobDefinitionCommandInput;
}

/** What a task's helpers move; keys relative to the datastore root, `{taskId}` / `{index}` allowed. */
export interface OutputPassingIo {
  /** The S3 datastore root, `s3://bucket[/prefix]`. */
  readonly datastoreUrl: string;
  /** Keys to mirror under MIRROR_ROOT; a key ending in `/` is a prefix (a task path's committed outputs). */
  readonly fetchKeys: readonly string[];
  /**
   * Step prefixes (`<flow>/<run>/<step>/`, a foreach join's last body step on Step Functions):
   * every child's committed outputs in one recursive copy, without each child's `attempt-*`.
   * @default - none
   */
  readonly fetchChildren?: readonly string[];
  /**
   * Keys of task-path lists (an input-paths file, one task path per line): each list is mirrored,
   * and each listed task's committed outputs once its status.json exists (like a wait key).
   * @default - none
   */
  readonly fetchLists?: readonly string[];
  /**
   * Keys fetch waits for before fetching (each input's status.json for a later foreach body step).
   * @default - none
   */
  readonly waitKeys?: readonly string[];
  /**
   * How long fetch waits for `waitKeys`, in seconds.
   * @default 3600
   */
  readonly waitSeconds?: number;
  /** The attempt's output key (`layout.attemptOutputs`). */
  readonly outputKey: string;
  /**
   * The task path to commit to after success, when no runner commits (Step Functions).
   * @default - none: the runner commits
   */
  readonly commitKey?: string;
  /**
   * The task's inputs as pathspecs (`step/taskId`), for the status.json written with `commitKey`.
   * @default - none (an empty list)
   */
  readonly commitInputs?: readonly string[];
  /**
   * Instead of `commitInputs`: the key, relative to the mirror, of a task-path list the task
   * writes before upload runs (a foreach join's input-paths file on Step Functions, where the
   * list is only known in the container); status.json lists its entries as pathspecs.
   * @default - none
   */
  readonly commitInputsFile?: string;
  /**
   * Key of a JSON array that fetch turns into the items file named by the task's
   * MF_FOREACH_ITEMS_FILE (Step Functions, where the items come from a step's outputs).
   * @default - none
   */
  readonly foreachItemsJson?: string;
}

/** The helpers' environment for one task or array (the one builder the Batch layer and the Step Functions compiler call). */
export function outputPassingEnvironment(io: OutputPassingIo): Record<string, string> {
  if (!/^s3:\/\/[^/]+/.test(io.datastoreUrl)) throw new Error(`output passing needs an S3 datastore root (s3://bucket[/prefix]), got "${io.datastoreUrl}"`);
  const bad = [...io.fetchKeys, ...(io.fetchChildren ?? []), ...(io.fetchLists ?? []), ...(io.waitKeys ?? []), io.outputKey].find((k) => k === '' || /\s/.test(k) || k.startsWith('/'));
  if (bad !== undefined) throw new Error(`output passing keys are relative to the datastore root, without spaces, got "${bad}"`);
  return {
    [E.datastoreUrl]: io.datastoreUrl.replace(/\/$/, ''),
    [E.fetchKeys]: [...new Set(io.fetchKeys)].join(' '),
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

/** The task environment `main` sees: the mirror as MF_DATASTORE_ROOT, the output key's mirror as MF_OUTPUT_DIR. */
export function mainEnvironment(taskEnv: Readonly<Record<string, string>>, outputKey: string): Record<string, string> {
  return { ...taskEnv, MF_DATASTORE_ROOT: MIRROR_ROOT, MF_OUTPUT_DIR: `${MIRROR_ROOT}/${outputKey}` };
}

/** Names `upload` reads (fetch gets the whole helper environment). */
const UPLOAD_ENV: readonly string[] = [E.datastoreUrl, E.outputKey, E.commitKey, E.commitInputs, E.commitInputsFile, ...HELPER_ENV_FROM_TASK];
const FETCH_ENV_FROM_TASK: readonly string[] = [...HELPER_ENV_FROM_TASK, FOREACH_ITEMS_FILE_ENV];

/**
 * SubmitJob's `ecsPropertiesOverride` for one task or array: `command` (the user's argv, behind
 * the child bootstrap for an array) and the task environment for `main`, with MF_DATASTORE_ROOT
 * and MF_OUTPUT_DIR pointing into the mirror; the helper environment for `fetch` and `upload`.
 * Within 8,192 characters in all, like container overrides.
 */
export function outputPassingOverrides(what: string, command: readonly string[], taskEnv: Readonly<Record<string, string>>, io: OutputPassingIo): EcsPropertiesOverride {
  const helper = outputPassingEnvironment(io);
  const fromTask = (names: readonly string[]) => Object.fromEntries(names.filter((n) => taskEnv[n] !== undefined).map((n) => [n, taskEnv[n]]));
  const fetchEnv = { ...fromTask(FETCH_ENV_FROM_TASK), ...helper };
  const uploadEnv = Object.fromEntries(Object.entries({ ...fromTask(HELPER_ENV_FROM_TASK), ...helper }).filter(([n]) => UPLOAD_ENV.includes(n)));
  const main = mainEnvironment(taskEnv, io.outputKey);
  const reserved = Object.keys(main).filter((name) => name.startsWith('AWS_BATCH'));
  if (reserved.length > 0) throw new Error(`${what}: environment names starting with AWS_BATCH are reserved by Batch: ${reserved.join(', ')}`);
  const override: EcsPropertiesOverride = {
    taskProperties: [
      {
        containers: [
          { name: FETCH_CONTAINER, environment: batchEnvironment(fetchEnv) },
          { name: MAIN_CONTAINER, command: mainCommand(command), environment: batchEnvironment(main) },
          { name: UPLOAD_CONTAINER, environment: batchEnvironment(uploadEnv) },
        ],
      },
    ],
  };
  const size = containerOverridesSize(override);
  if (size > MAX_CONTAINER_OVERRIDES_CHARS) throw new ContainerOverridesTooLargeError(what, size, largestVariables({ ...main, ...fetchEnv }));
  return override;
}

/** A container's environment in an override, as a map (for tests and diagnostics). */
export function environmentMap(env: readonly KeyValuePair[] | undefined): Record<string, string> {
  return Object.fromEntries((env ?? []).map((kv) => [kv.name!, kv.value!]));
}

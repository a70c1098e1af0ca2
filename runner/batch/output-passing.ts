/**
 * How a task's inputs and outputs cross S3 when the step's image has nothing but a POSIX shell
 * (busybox, python:3.12-slim: no AWS CLI, no boto3). One Batch multi-container job
 * (`ecsProperties`, EC2 and Fargate) per task, three containers sharing a task-scoped volume:
 *
 * 1. `fetch` (helper image, non-essential): computes the child's foreach index, downloads the
 *    parents' outputs and the foreach item into the volume, marks success.
 * 2. `main` (the step's image, non-essential, starts when `fetch` COMPLETEs): a shell wrapper runs
 *    the user's command only when the inputs arrived, with MF_INPUT_DIR / MF_OUTPUT_DIR /
 *    MF_FOREACH_INDEX set, and records its exit code in the volume.
 * 3. `upload` (helper image, the only essential container, starts when `main` COMPLETEs): uploads
 *    the output dir (outputs.json + files) to the attempt's prefix and exits with `main`'s exit
 *    code, so the job's status and exit code are the user's command's.
 *
 * Batch only allows COMPLETE/SUCCESS dependencies on non-essential containers, hence this shape;
 * COMPLETE (not SUCCESS) on `fetch` lets the chain always reach `upload`, so a failed download
 * fails the attempt with a message instead of leaving the job hanging. The helper image needs a
 * POSIX shell and either the AWS CLI or `dnf` (the default, Amazon Linux 2023, installs
 * `awscli-2` on start; set `helperImage` to an image with the CLI to skip that).
 */
import type { EcsPropertiesOverride, RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { batchEnvironment, BatchJobDefinitionInput, batchJobDefinition, jobDefinitionName } from '../policy/batch';
import { MAIN_CONTAINER } from './failures';
import { ARRAY_INDEX_OFFSET_ENV, BATCH_ARRAY_INDEX_ENV, containerOverridesSize, ContainerOverridesTooLargeError, largestVariables, MAX_CONTAINER_OVERRIDES_CHARS } from './overrides';

/** Helper image: a POSIX shell and `dnf` to install the AWS CLI (or the CLI itself). */
export const DEFAULT_HELPER_IMAGE = 'public.ecr.aws/amazonlinux/amazonlinux:2023';
/** The shared volume and where every container mounts it. */
export const SHARED_VOLUME = 'metaflow';
export const SHARED_PATH = '/metaflow';

/** Env the runner sets for the helpers: `name=s3://…/` pairs (space-separated) and the output prefix; `{index}` is replaced by the child's index. */
export const INPUT_URLS_ENV = 'MF_INPUT_URLS';
export const OUTPUT_URL_ENV = 'MF_OUTPUT_URL';

/** Exit codes of the helpers' own failures (beside the user's). */
export const HELPER_EXIT = { noCli: 90, uploadFailed: 91, killed: 137 } as const;

const ENSURE_CLI = `command -v aws >/dev/null 2>&1 || dnf install -y -q awscli-2 >/dev/null 2>&1 || { echo "metaflow: the helper image has no AWS CLI and dnf could not install awscli-2" >&2; exit ${HELPER_EXIT.noCli}; }`;

/** The `fetch` container's script. `root` is the shared path (tests run it elsewhere). */
export function fetchScript(root = SHARED_PATH): string {
  return [
    'set -eu',
    ENSURE_CLI,
    `i=$(( \${${ARRAY_INDEX_OFFSET_ENV}:-0} + \${${BATCH_ARRAY_INDEX_ENV}:-0} ))`,
    `mkdir -p ${root}/in ${root}/out`,
    `echo "$i" > ${root}/index`,
    `for entry in \${${INPUT_URLS_ENV}:-}; do`,
    '  name=${entry%%=*}; src=$(printf %s "${entry#*=}" | sed "s/{index}/$i/g")',
    `  aws s3 cp --recursive --only-show-errors "$src" "${root}/in/$name/"`,
    'done',
    `touch ${root}/fetch_ok`,
  ].join('\n');
}

/** The `main` container's wrapper; the user's argv follows as "$@". */
export function mainScript(root = SHARED_PATH): string {
  return [
    `if [ ! -f ${root}/fetch_ok ]; then echo "metaflow: the task's inputs were not downloaded (see the fetch container's log)" >&2; echo 1 > ${root}/exit_code; exit 1; fi`,
    `MF_FOREACH_INDEX=$(cat ${root}/index) MF_INPUT_DIR=${root}/in MF_OUTPUT_DIR=${root}/out`,
    'export MF_FOREACH_INDEX MF_INPUT_DIR MF_OUTPUT_DIR',
    '"$@"',
    'code=$?',
    `echo "$code" > ${root}/exit_code`,
    'exit "$code"',
  ].join('\n');
}

/** The `upload` container's script: outputs up, then `main`'s exit code. */
export function uploadScript(root = SHARED_PATH): string {
  return [
    'set -u',
    ENSURE_CLI,
    `code=$(cat ${root}/exit_code 2>/dev/null || echo ${HELPER_EXIT.killed})`,
    `i=$(cat ${root}/index 2>/dev/null || echo 0)`,
    `dest=$(printf %s "$${OUTPUT_URL_ENV}" | sed "s/{index}/$i/g")`,
    `if [ -d ${root}/out ] && [ -n "$(ls -A ${root}/out)" ]; then`,
    `  aws s3 cp --recursive --only-show-errors ${root}/out "$dest" || { echo "metaflow: uploading outputs to $dest failed" >&2; [ "$code" = 0 ] && code=${HELPER_EXIT.uploadFailed}; }`,
    'fi',
    'exit "$code"',
  ].join('\n');
}

/** The command of `main` for a user argv. */
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
            { name: 'fetch', image: helper, essential: false, command: ['sh', '-c', fetchScript()], mountPoints },
            {
              name: MAIN_CONTAINER,
              image: input.image,
              essential: false,
              dependsOn: [{ containerName: 'fetch', condition: 'COMPLETE' }],
              command: mainCommand([]),
              resourceRequirements: container.resourceRequirements,
              ...(container.linuxParameters ? { linuxParameters: container.linuxParameters } : {}),
              mountPoints,
            },
            {
              name: 'upload',
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

/**
 * SubmitJob's `ecsPropertiesOverride` for one task or group: the user's argv and the task
 * environment for `main`; the index offset and input/output URLs for the helpers. Within 8,192
 * characters in all, like container overrides.
 */
export function outputPassingOverrides(
  what: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  io: { readonly inputs: Readonly<Record<string, string>>; readonly output: string },
): EcsPropertiesOverride {
  const offset = env[ARRAY_INDEX_OFFSET_ENV];
  const helperEnv = batchEnvironment({
    ...(offset !== undefined ? { [ARRAY_INDEX_OFFSET_ENV]: offset } : {}),
    [INPUT_URLS_ENV]: Object.entries(io.inputs).map(([name, url]) => `${name}=${url}`).join(' '),
    [OUTPUT_URL_ENV]: io.output,
  });
  const override: EcsPropertiesOverride = {
    taskProperties: [
      {
        containers: [
          { name: 'fetch', environment: helperEnv },
          { name: MAIN_CONTAINER, command: mainCommand(argv), environment: batchEnvironment(env) },
          { name: 'upload', environment: helperEnv },
        ],
      },
    ],
  };
  const size = containerOverridesSize(override);
  if (size > MAX_CONTAINER_OVERRIDES_CHARS) {
    throw new ContainerOverridesTooLargeError(what, size, largestVariables(env));
  }
  return override;
}

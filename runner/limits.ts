/**
 * Every limit a flow is validated against, in one module: flow validation checks them before
 * anything runs, and the compute layers (local, AWS Batch) and the Step Functions compiler import
 * the same constants to build names and settings that are then sure to fit. docs/runner.md
 * ("Limits") lists them with their reasons.
 */

// ---------------------------------------------------------------------------------------------
// Names. A flow's and a step's names end up in AWS Batch job names, Step Functions state and
// state machine names, and datastore paths; the lengths below leave room for what each layer adds.
// ---------------------------------------------------------------------------------------------

/** AWS Batch job names: 1–128 characters of `[A-Za-z0-9_-]`. */
export const BATCH_JOB_NAME_MAX_LENGTH = 128;
/** Characters allowed in an AWS Batch job name. */
export const BATCH_JOB_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Step Functions state names: 1–80 characters. */
export const SFN_STATE_NAME_MAX_LENGTH = 80;
/** Step Functions state machine names: 1–80 characters. */
export const SFN_STATE_MACHINE_NAME_MAX_LENGTH = 80;
/** A file or directory name on common filesystems (ext4, APFS, NTFS; S3 keys allow more). */
export const PATH_COMPONENT_MAX_LENGTH = 255;

/** Longest flow name: letters, digits, `_` and `-`. */
export const FLOW_NAME_MAX_LENGTH = 40;
/** Flow names: what a Batch job name and a state machine name may hold. */
export const FLOW_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Longest step name (an identifier). */
export const STEP_NAME_MAX_LENGTH = 40;
/**
 * Longest run id any layer may generate (today's local ids, `20260101-120000-abc123`, are 22).
 * Reserved in the Batch job name budget.
 */
export const RUN_ID_MAX_LENGTH = 32;
/**
 * What a layer may append to `<flow>-<step>-<run>` in a Batch job name (a task id or attempt
 * suffix such as `-a9`, an array job's `-g12`), separator included.
 */
export const JOB_NAME_SUFFIX_MAX_LENGTH =
  BATCH_JOB_NAME_MAX_LENGTH - (FLOW_NAME_MAX_LENGTH + 1 + STEP_NAME_MAX_LENGTH + 1 + RUN_ID_MAX_LENGTH);
/**
 * The folder under a flow's name that holds its code packages (`<flow>/data/<sha[:2]>/<sha>`,
 * Metaflow's layout) beside its runs (`<flow>/<run id>/`).
 */
export const PACKAGE_DATA_FOLDER = 'data';
/** Run ids no run may have: they are folders of a flow that are not runs. */
export const RESERVED_RUN_IDS: readonly string[] = [PACKAGE_DATA_FOLDER];
/**
 * Longest prefix a layer may put before a flow name in a state machine name
 * (`<prefix><flow>`, e.g. the stack's SFN_STATE_MACHINE_PREFIX plus a separator).
 */
export const STATE_MACHINE_PREFIX_MAX_LENGTH = SFN_STATE_MACHINE_NAME_MAX_LENGTH - FLOW_NAME_MAX_LENGTH;
/** Longest suffix the Step Functions compiler may add to a step name to make a state name. */
export const STATE_NAME_SUFFIX_MAX_LENGTH = SFN_STATE_NAME_MAX_LENGTH - STEP_NAME_MAX_LENGTH;

// ---------------------------------------------------------------------------------------------
// Resources (@resources). Upper bounds from large EC2 sizes: generous, but they catch unit
// mistakes (bytes or KiB given as MiB). The Batch layer's check(flow) narrows them to its compute
// environments (Fargate: at most 16 vCPU and 120 GiB, fractional vCPUs, no GPU).
// ---------------------------------------------------------------------------------------------

/** Most vCPUs one task may ask for: the 48xlarge EC2 sizes (m7i, c7i, r7i, g6e: 192 vCPUs). */
export const MAX_CPU = 192;
/** Most memory one task may ask for, in MiB: 4 TiB (x2iedn.32xlarge). */
export const MAX_MEMORY_MIB = 4 * 1024 * 1024;
/** Most GPUs one task may ask for: 8 (p4d, p5, g5.48xlarge, g6.48xlarge; DESIGN §4 families). */
export const MAX_GPU = 8;
/** Fargate ephemeral storage, GiB (DESIGN §3). */
export const MIN_EPHEMERAL_STORAGE_GIB = 21;
export const MAX_EPHEMERAL_STORAGE_GIB = 200;

// ---------------------------------------------------------------------------------------------
// Time (@timeout, @retry). A Node.js timer holds at most 2^31-1 ms (24.8 days); a longer one
// fires after 1 ms. The caps stay below that, so every layer's timer and sleep is exact.
// ---------------------------------------------------------------------------------------------

/** Longest per-attempt timeout: 24 days, in seconds. */
export const MAX_TIMEOUT_SECONDS = 24 * 24 * 3600;
/** Longest delay between retries: 24 days, in minutes. */
export const MAX_RETRY_DELAY_MINUTES = 24 * 24 * 60;
/** Retries after the first attempt (DESIGN §3; Batch allows 10 attempts in all). */
export const MAX_RETRY_TIMES = 9;

// ---------------------------------------------------------------------------------------------
// The task environment.
// ---------------------------------------------------------------------------------------------

/** Environment names a flow may set: a shell identifier. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Prefix of the task contract's variables (MF_FLOW, MF_PARAM_*, …); flows may not set these. */
export const RESERVED_ENV_PREFIX = 'MF_';

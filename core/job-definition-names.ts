/**
 * Prefix of the Batch job definitions Metaflow (and this project's runner) registers: Metaflow
 * names them `metaflow_<sha1 of the definition>`. The underscore keeps grants on
 * `job-definition/metaflow_*` from matching other names that merely start with "metaflow".
 * A pure module (no CDK import): the constructs' grants and the runner's Batch mapping share it.
 */
export const METAFLOW_JOB_DEFINITION_PREFIX = 'metaflow_';

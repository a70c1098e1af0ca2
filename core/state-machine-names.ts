/**
 * How Step Functions state machines of a Metaflow deployment are named. A pure module (no CDK
 * import): the constructs (lib/step-functions) and the runner's Step Functions commands
 * (runner/sfn) share it.
 */

/**
 * What joins SFN_STATE_MACHINE_PREFIX and a flow name: Metaflow names a state machine
 * `<prefix>_<flow>` (and its EventBridge schedule rule after the state machine). Prefixes may not
 * contain it, so the grant `stateMachine:Metaflow_*` never matches a `Metaflow-dev` stack's
 * `Metaflow-dev_<flow>` machines.
 */
export const STATE_MACHINE_NAME_SEPARATOR = '_';

/**
 * What SFN_STATE_MACHINE_PREFIX may be: 1–40 letters, digits or "-" (never the separator), shared
 * by the construct and the runner's Step Functions deployer.
 */
export const STATE_MACHINE_PREFIX_PATTERN = /^[A-Za-z0-9-]{1,40}$/;

/** The state machine name Metaflow (and this project's runner) gives a flow under a prefix. */
export function stateMachineName(prefix: string, flowName: string): string {
  return `${prefix}${STATE_MACHINE_NAME_SEPARATOR}${flowName}`;
}

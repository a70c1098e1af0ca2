/**
 * The Step Functions deployer: deploy an already-compiled ASL definition, trigger, status, list,
 * delete, schedule. The compiler (flow → ASL) and the `metaflow-cdk sfn …` commands build on it.
 */
export type { SfnContext } from './context';
export { SfnSettings } from './settings';
export type { SfnSettingFlags } from './settings';
export { deployStateMachine, serializeDefinition, DEPLOYED_BY_TAG, SFN_DEFINITION_MAX_LENGTH } from './deploy';
export type { AslDefinition, DeployOptions, DeployResult } from './deploy';
export { triggerExecution, SFN_PAYLOAD_MAX_BYTES } from './trigger';
export type { TriggerOptions, TriggerResult } from './trigger';
export { executionStatus } from './status';
export type { ExecutionStatus } from './status';
export { summarizeHistory } from './history';
export type { StateView, StateStatus } from './history';
export { listStateMachines, deleteStateMachine } from './listing';
export type { DeployedStateMachine, LatestExecution, DeleteResult } from './listing';
export { scheduleStateMachine, unscheduleStateMachine, SCHEDULE_TARGET_ID } from './schedule';
export type { ScheduleResult } from './schedule';
export { checkScheduleExpression } from './cron';
export {
  checkStateMachineName,
  flowStateMachineName,
  scheduleRuleName,
  runIdOfExecution,
  executionNameOfRunId,
} from './names';

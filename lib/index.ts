/** metaflow-cdk: constructs for a Metaflow-style compute layer on AWS. */
export * from './validation';
export * from './network/metaflow-network';
export * from './datastore/metaflow-datastore';
export * from './compute/environment-options';
export * from './compute/instance-types';
export * from './compute/batch-launch-template';
export * from './compute/batch-roles';
export * from './compute/metaflow-job-queue';
export * from './compute/metaflow-batch-compute';
export * from '../core/metaflow-config-keys';
export * from './config/metaflow-config-outputs';
export * from './config/metaflow-profile';
export * from './stack/metaflow-stack';
export * from './stack/stack-context';
export * from './fargate-size';
export * from './metadata/database-environment';
export * from './metadata/metadata-database';
export * from './metadata/metadata-api';
export * from './metadata/migration-runner';
export * from './metadata/metaflow-metadata-service';
export * from './step-functions/metaflow-step-functions-support';
export * from '../core/state-machine-names';
export * from './access/metaflow-user-access';
export * from './monitoring/metaflow-monitoring';
export * from './monitoring/queue-metrics-handler/contract';
export * from './stack/redundant-dependencies';
export * from './nag/acknowledgements';
export * from './ui';
// Flow definitions, for a CDK app that also defines flows. Flow files run by the CLI should import
// from 'metaflow-cdk/runner' instead, which loads no CDK code.
export { defineFlow } from '../runner/flow/model';
export type { Flow, FlowSpec, StepSpec, ParameterSpec, ParameterType, ForeachSource, FlowTrigger } from '../runner/flow/model';
// Flows deployed as Step Functions state machines by a CDK app (the compiler the CLI uses).
export * from './step-functions/flow-state-machine';
export { RunStatusRecorder } from './step-functions/flow-event-rules';
export type { RunStatusRecorderProps } from './step-functions/flow-event-rules';

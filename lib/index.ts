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
export * from './config/metaflow-config-keys';
export * from './config/metaflow-config-outputs';
export * from './stack/metaflow-stack';
export * from './stack/stack-context';
export * from './stack/metaflow-app';

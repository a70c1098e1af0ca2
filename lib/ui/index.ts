export * from './metaflow-ui';
export * from './metaflow-ui-auth';
export { fargateMemoryChoices } from './fargate-size';

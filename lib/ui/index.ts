export * from './metaflow-ui';
export * from './metaflow-ui-auth';

/**
 * The task contract, one pure module shared by the orchestrator, every compute layer and the
 * Step Functions compiler: task identities, the task environment and its size budget, and how
 * caught failures merge at joins.
 */
export * from './names';
export * from './caught';
export * from './environment';

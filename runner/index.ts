/** The runner's public API: define flows, validate them, run them on a compute layer. */
export { defineFlow, isFlow } from './flow/model';
export type { Flow, FlowSpec, StepSpec, ParameterSpec, ParameterType, ForeachSource, PackageSpec, FlowTrigger } from './flow/model';
export { validateFlow } from './flow/validate';
export type { FlowGraph, ValidationResult } from './flow/validate';
export { resolveParameters } from './flow/parameters';
export { loadFlowFile, FlowLoadError } from './flow/load';
export { runFlow } from './orchestrator/orchestrator';
export type { RunOptions } from './orchestrator/orchestrator';
export type { RunEvent, RunEventListener } from './orchestrator/events';
export type { Clock } from './orchestrator/clock';
export { LocalComputeLayer } from './compute/local';
export type { ComputeLayer, TaskGroup, ChildAttempt, AttemptStart, AttemptResult, AttemptListener, LayerContext } from './compute/types';
export type { AttemptUsage, Capacity, Architecture } from './usage/types';
export * as contract from './contract';
export type { TaskRef, AttemptRef, TaskTemplate } from './contract';
export { LocalDatastore } from './datastore/local';
export type { Datastore, RunRecord, RunSummary, RunPage, TaskRecord, Failure, CodePackageRef } from './datastore/types';
export { CorruptRunRecordError } from './datastore/types';
export { LayerCheckError } from './orchestrator/orchestrator';
/** Step policies (resources, retry, timeout, catch): their types, validation and normalization, shared by every compute layer. */
export * as policy from './policy';

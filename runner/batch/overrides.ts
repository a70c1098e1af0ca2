/**
 * Container overrides for SubmitJob: the command and the task environment, within Batch's
 * 8,192-character limit on the overrides (DESIGN §4; Metaflow hit it: #1482). One set of
 * overrides serves every child of an array job: a child's index is
 * `MF_ARRAY_INDEX_OFFSET + AWS_BATCH_JOB_ARRAY_INDEX` (the latter absent → 0 for a plain job),
 * so chunks beyond 10,000 children and individually retried children use the same rule.
 */
import type { ContainerOverrides } from '@aws-sdk/client-batch';
import { batchEnvironment } from '../policy/batch';

/** Batch's limit on the serialized container overrides. */
export const MAX_CONTAINER_OVERRIDES_CHARS = 8192;

/** Env var Batch sets in each array child (0-based). Names starting with AWS_BATCH are reserved. */
export const BATCH_ARRAY_INDEX_ENV = 'AWS_BATCH_JOB_ARRAY_INDEX';
/** Env var Batch sets in every container: the job's id (`<array job id>:<index>` in an array child). */
export const BATCH_JOB_ID_ENV = 'AWS_BATCH_JOB_ID';
/** Env var the runner sets: the foreach index of child 0 of this job. */
export const ARRAY_INDEX_OFFSET_ENV = 'MF_ARRAY_INDEX_OFFSET';

/** POSIX shell expression giving a child's foreach index. */
export const SHELL_FOREACH_INDEX = `$(( \${${ARRAY_INDEX_OFFSET_ENV}:-0} + \${${BATCH_ARRAY_INDEX_ENV}:-0} ))`;

/** The overrides are too big for Batch: says by how much and which variables weigh most. */
export class ContainerOverridesTooLargeError extends Error {
  constructor(
    readonly what: string,
    readonly size: number,
    readonly biggest: readonly { name: string; chars: number }[],
  ) {
    super(
      `${what}: container overrides are ${size} characters, Batch allows ${MAX_CONTAINER_OVERRIDES_CHARS}; ` +
        `largest variables: ${biggest.map((b) => `${b.name} (${b.chars})`).join(', ')} ` +
        '(pass large values through the datastore, not the environment)',
    );
    this.name = 'ContainerOverridesTooLargeError';
  }
}

/** The three variables that weigh most (name + value characters), for the error message. */
export function largestVariables(env: Readonly<Record<string, string>>): { name: string; chars: number }[] {
  return Object.entries(env)
    .map(([name, value]) => ({ name, chars: name.length + value.length }))
    .sort((a, b) => b.chars - a.chars)
    .slice(0, 3);
}

/** The serialized size Batch counts. */
export function containerOverridesSize(overrides: ContainerOverrides | object): number {
  return JSON.stringify(overrides).length;
}

/**
 * Build `{command, environment}`. Throws {@link ContainerOverridesTooLargeError} when over the
 * limit, and a plain Error for a reserved `AWS_BATCH*` name. `what` names the task in messages.
 */
export function containerOverrides(what: string, command: readonly string[], env: Readonly<Record<string, string>>): ContainerOverrides {
  const reserved = Object.keys(env).filter((name) => name.startsWith('AWS_BATCH'));
  if (reserved.length > 0) throw new Error(`${what}: environment names starting with AWS_BATCH are reserved by Batch: ${reserved.join(', ')}`);
  const overrides: ContainerOverrides = { command: [...command], environment: batchEnvironment(env) };
  const size = containerOverridesSize(overrides);
  if (size > MAX_CONTAINER_OVERRIDES_CHARS) {
    const biggest = largestVariables(env);
    if (command.join(' ').length > (biggest[0]?.chars ?? 0)) biggest.unshift({ name: 'command', chars: JSON.stringify(command).length });
    throw new ContainerOverridesTooLargeError(what, size, biggest.slice(0, 3));
  }
  return overrides;
}

/**
 * What a compiled state machine definition does, read from the definition itself, so its role
 * is granted that and nothing more. Pure: no CDK, no AWS.
 */
import { describeValue } from '../../core/describe-value';

/** What the definition's states call. */
export interface DefinitionNeeds {
  /** Some Task runs a Batch job and waits for it (`batch:submitJob.sync`). */
  readonly batchJobsWaitedFor: boolean;
  /** The `JobQueue` of every Batch task (an ARN or a name, possibly a CDK token). */
  readonly jobQueues: readonly string[];
  /** The `JobDefinition` of every Batch task. */
  readonly jobDefinitions: readonly string[];
  /** Some Batch task tags the jobs it submits (`Tags`). */
  readonly tagsJobs: boolean;
  /** IAM actions of the S3 calls the definition makes (aws-sdk tasks, Map item readers and result writers). */
  readonly s3Actions: readonly string[];
  /** Some Map runs as a distributed Map (child workflow executions of this state machine). */
  readonly distributedMap: boolean;
}

/** The Task resource of Step Functions' optimized and SDK integrations: `arn:<partition>:states:::<integration>`. */
const INTEGRATION = /^arn:.+:states:::(.+)$/;

/** S3 through the SDK integration (`aws-sdk:s3:getObject`) or the optimized one Map readers use (`s3:getObject`). */
const S3_INTEGRATION = /^(aws-sdk:)?s3:/;

/** S3 calls → the IAM actions they need (Amazon S3 API reference: "Permissions"). */
const S3_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  getObject: ['s3:GetObject'],
  headObject: ['s3:GetObject'],
  putObject: ['s3:PutObject'],
  copyObject: ['s3:GetObject', 's3:PutObject'],
  deleteObject: ['s3:DeleteObject'],
  listObjectsV2: ['s3:ListBucket'],
};

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Walk every state (inside Parallel branches and Map processors too). Throws (one line naming the
 * state) on a Task whose calls cannot be granted: an integration this module does not know, or a
 * Batch queue or job definition chosen at run time (`JobQueue.$`).
 */
export function definitionNeeds(definition: unknown): DefinitionNeeds {
  const needs = {
    batchJobsWaitedFor: false,
    jobQueues: new Set<string>(),
    jobDefinitions: new Set<string>(),
    tagsJobs: false,
    s3Actions: new Set<string>(),
    distributedMap: false,
  };
  const addS3 = (where: string, call: string) => {
    const actions = S3_ACTIONS[call];
    if (!actions) throw new Error(`${where}: S3 call ${describeValue(call)} is not one whose permissions are known (${Object.keys(S3_ACTIONS).join(', ')})`);
    actions.forEach((a) => needs.s3Actions.add(a));
  };
  const integrationOf = (where: string, resource: unknown): string => {
    const match = typeof resource === 'string' ? INTEGRATION.exec(resource) : null;
    if (!match) throw new Error(`${where}: Resource must be a Step Functions service integration (arn:<partition>:states:::…), got ${describeValue(resource)}`);
    return match[1];
  };

  const walk = (machine: unknown, path: string) => {
    if (!isObject(machine) || !isObject(machine.States)) throw new Error(`${path || 'definition'}: States must be an object, got ${describeValue(isObject(machine) ? machine.States : machine)}`);
    for (const [name, state] of Object.entries(machine.States)) {
      const where = `state ${describeValue(path ? `${path}/${name}` : name)}`;
      if (!isObject(state)) throw new Error(`${where} must be an object, got ${describeValue(state)}`);
      if (state.Type === 'Task') {
        const integration = integrationOf(where, state.Resource);
        const args = (isObject(state.Parameters) ? state.Parameters : isObject(state.Arguments) ? state.Arguments : {}) as Json;
        if (integration === 'batch:submitJob' || integration === 'batch:submitJob.sync') {
          if (integration.endsWith('.sync')) needs.batchJobsWaitedFor = true;
          for (const field of ['JobQueue', 'JobDefinition'] as const) {
            const value = args[field];
            if (typeof value !== 'string') {
              throw new Error(`${where}: ${field} must be fixed in the definition (its permission is granted at deploy time), got ${describeValue(value ?? args[`${field}.$`])}`);
            }
            (field === 'JobQueue' ? needs.jobQueues : needs.jobDefinitions).add(value);
          }
          if (args.Tags !== undefined || args['Tags.$'] !== undefined) needs.tagsJobs = true;
        } else if (S3_INTEGRATION.test(integration)) {
          addS3(where, integration.replace(S3_INTEGRATION, ''));
        } else {
          throw new Error(`${where}: FlowStateMachine knows the permissions of Batch and S3 tasks only, got Resource ${describeValue(state.Resource)}`);
        }
      } else if (state.Type === 'Parallel') {
        const branches = Array.isArray(state.Branches) ? state.Branches : [];
        branches.forEach((branch, i) => walk(branch, `${path ? `${path}/` : ''}${name}[${i}]`));
      } else if (state.Type === 'Map') {
        const processor = state.ItemProcessor ?? state.Iterator;
        walk(processor, `${path ? `${path}/` : ''}${name}`);
        if (isObject(processor) && isObject(processor.ProcessorConfig) && processor.ProcessorConfig.Mode === 'DISTRIBUTED') needs.distributedMap = true;
        for (const field of ['ItemReader', 'ResultWriter'] as const) {
          const io = state[field];
          if (!isObject(io)) continue;
          const integration = integrationOf(`${where} ${field}`, io.Resource);
          if (!S3_INTEGRATION.test(integration)) throw new Error(`${where} ${field}: only S3 readers and writers are supported, got Resource ${describeValue(io.Resource)}`);
          addS3(`${where} ${field}`, integration.replace(S3_INTEGRATION, ''));
        }
      }
    }
  };
  walk(definition, '');
  return {
    batchJobsWaitedFor: needs.batchJobsWaitedFor,
    jobQueues: [...needs.jobQueues],
    jobDefinitions: [...needs.jobDefinitions],
    tagsJobs: needs.tagsJobs,
    s3Actions: [...needs.s3Actions].sort(),
    distributedMap: needs.distributedMap,
  };
}

/**
 * The Step Functions compiler's contract: what it takes and what it gives. The CLI (`metaflow-cdk
 * sfn compile|deploy`) and the FlowStateMachine construct (lib/) both call `compileFlow`.
 */
import type { RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import type { FlowGraph } from '../../flow/validate';
import type { AslDefinition } from '../deploy';

/** A Batch platform, as the first compute environment of a queue decides it. */
export type QueuePlatform = 'EC2' | 'FARGATE';

export interface CompileOptions {
  /** The default job queue (name or ARN): steps without their own queue and without GPUs. */
  readonly queue: string;
  /**
   * The queue of steps with `resources.gpu > 0`.
   * @default - the default queue
   */
  readonly gpuQueue?: string;
  /**
   * The platform of each queue the flow uses (as the queue string is given to the compiler).
   * @default - EC2 for every queue
   */
  readonly platformOf?: (queue: string) => QueuePlatform;
  /**
   * Which queues (as given to the compiler) have a fair-share scheduling policy. Every SubmitJob
   * state of a step on one carries `ShareIdentifier` (the team) and `SchedulingPriorityOverride`
   * (the step's `batch.schedulingPriority`, else {@link schedulingPriority}); states on other
   * queues carry neither (AWS Batch API reference, SubmitJob: the share is required on a
   * fair-share queue and must be left out on a FIFO one). A fair-share queue without a team is a
   * UserInputError.
   * @default - no queue is fair-share
   */
  readonly fairShare?: (queue: string) => boolean;
  /**
   * The team whose share the jobs use on fair-share queues (also their `metaflow.team` tag).
   * @default - the flow's `team`; none without it
   */
  readonly team?: string;
  /**
   * SchedulingPriorityOverride of steps without their own `batch.schedulingPriority` (0–9999,
   * higher runs first among the team's jobs).
   * @default 0
   */
  readonly schedulingPriority?: number;
  /**
   * The tasks' job role (ECS_S3_ACCESS_IAM_ROLE).
   * @default - none
   */
  readonly jobRoleArn?: string;
  /**
   * The Fargate execution role (ECS_FARGATE_EXECUTION_ROLE), required by steps on Fargate queues.
   * @default - none
   */
  readonly executionRoleArn?: string;
  /** The S3 datastore root, `s3://bucket[/prefix]` (DATASTORE_SYSROOT_S3). */
  readonly datastoreRoot: string;
  /**
   * The AWS partition of the resource ARNs in the definition.
   * @default 'aws'
   */
  readonly partition?: string;
  /**
   * Parameter values (as `--param k=v` gives them) that replace the flow's defaults in the
   * compiled definition; an execution's input still wins over both.
   * @default - the flow's defaults
   */
  readonly params?: Readonly<Record<string, string>>;
  /**
   * Give every step without a retry policy the default one (`run --with retry`).
   * @default false
   */
  readonly withRetry?: boolean;
  /**
   * The S3 URL of the flow's code package (runner/package: `<datastore root>/<flow>/data/<sha[:2]>/<sha>`),
   * which every job's loader downloads; `sfn deploy` uploads it before it deploys.
   */
  readonly codePackageUrl: string;
  /**
   * The stack's compute subnets are public (BATCH_ASSIGN_PUBLIC_IP): Fargate job definitions get a public IP to pull images.
   * @default false
   */
  readonly assignPublicIp?: boolean;
  /**
   * The datastore bucket's region, for the task runtime's signed S3 requests.
   * @default - the job's own region
   */
  readonly region?: string;
  /**
   * Register every run with this Metaflow metadata service from inside its jobs (the task
   * runtime's mfcdk_metadata.py): no runner process is alive during an execution.
   * @default - runs are not registered
   */
  readonly metadata?: MetadataServiceTarget;
}

/** The metadata service the jobs register with (runner/metadata/config.ts ServiceSettings, as the jobs reach it). */
export interface MetadataServiceTarget {
  /** The URL the jobs call: the stack's internal one (METAFLOW_SERVICE_INTERNAL_URL) when the config has it, as Metaflow's @batch does. */
  readonly url: string;
  /** Sent as `x-api-key`. @default - no header */
  readonly authKey?: string;
  /** The runs' `user:<name>` (who deployed). */
  readonly user: string;
}

/** A compiled flow: the state machine's definition and the job definitions it names. */
export interface CompiledFlow {
  /** The flow's name. */
  readonly flow: string;
  /** The Amazon States Language definition. */
  readonly definition: AslDefinition;
  /**
   * Every job definition the definition's Task states name (by `jobDefinitionName`, which is a
   * hash of the content, so registering them is idempotent), as RegisterJobDefinition inputs.
   */
  readonly jobDefinitions: readonly RegisterJobDefinitionCommandInput[];
}

/** Compile a validated flow graph. Throws UserInputError (one line) on a limit or a bad option. */
export type CompileFlow = (graph: FlowGraph, options: CompileOptions) => CompiledFlow;

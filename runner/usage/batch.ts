/**
 * An AWS Batch attempt's usage facts, from what the runner already has: the finished job's
 * DescribeJobs record (resources, Batch's own attempts with their times and hosts) and the queue
 * the QueueInspector looked up once per run (its compute environments with type, instance types
 * and ECS cluster). No extra AWS call.
 *
 * Which compute environment ran a job: DescribeJobs names the ECS task (`taskArn`) or container
 * instance (`containerInstanceArn`) of each attempt; their ARNs carry the ECS cluster name
 * (`arn:aws:ecs:<region>:<account>:task/<cluster>/<id>`, `container-instance/<cluster>/<id>`: the
 * resource types of https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html;
 * the short ARNs of before 2018 have no cluster and match nothing), and each
 * Batch compute environment has its own cluster (`ecsClusterArn` of DescribeComputeEnvironments).
 * A queue with a single compute environment needs no match.
 */
import type { AttemptDetail, ComputeEnvironmentDetail, JobDetail } from '@aws-sdk/client-batch';
import { isHostLoss, jobResources } from '../batch/failures';
import type { QueueInfo } from '../batch/queues';
import { Architecture, AttemptUsage, Capacity } from './types';

/** What a finished job's record says about its resources, host and times (kept in the watcher's TaskOutcome). */
export interface JobPlacement {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly gpus: number;
  /** The ECS cluster of the host of Batch's last attempt. */
  readonly cluster?: string;
  /** The job's runtime platform architecture (Fargate jobs), when it names one. */
  readonly architecture?: Architecture;
  /** The region of the job's ARN. */
  readonly region?: string;
  /** Milliseconds the container ran over Batch's attempts that have both times. */
  readonly runMs?: number;
  /** Of those, on hosts that were lost. */
  readonly lostMs?: number;
}

/** A step's @resources (EffectivePolicies.resources). */
type StepResources = { readonly cpu: number; readonly memory: number; readonly gpu: number };

/** `arn:aws:<service>:<region>:...` → region. */
export function regionOfArn(arn: string | undefined): string | undefined {
  const region = arn?.startsWith('arn:') ? arn.split(':')[3] : undefined;
  return region || undefined;
}

/** The ECS cluster name in a long-format task or container-instance ARN, or a cluster ARN. */
export function clusterOfArn(arn: string | undefined): string | undefined {
  const resource = arn?.split(':').slice(5).join(':');
  const parts = resource?.split('/') ?? [];
  if (parts[0] === 'cluster' && parts.length === 2) return parts[1];
  if ((parts[0] === 'task' || parts[0] === 'container-instance') && parts.length >= 3) return parts[1];
  return undefined;
}

function attemptCluster(a: AttemptDetail | undefined): string | undefined {
  const task = a?.taskProperties?.[0];
  return clusterOfArn(a?.container?.taskArn) ?? clusterOfArn(a?.container?.containerInstanceArn) ?? clusterOfArn(task?.taskArn) ?? clusterOfArn(task?.containerInstanceArn);
}

/** The placement facts of a finished job (or array child). */
export function jobPlacement(job: JobDetail): JobPlacement {
  const resources = jobResources(job);
  const attempts = job.attempts ?? [];
  let runMs: number | undefined;
  let lostMs = 0;
  for (const a of attempts) {
    if (a.startedAt === undefined || a.stoppedAt === undefined || a.stoppedAt < a.startedAt) continue;
    const ms = a.stoppedAt - a.startedAt;
    runMs = (runMs ?? 0) + ms;
    if (isHostLoss(a.statusReason)) lostMs += ms;
  }
  const cpu = (job.container?.runtimePlatform?.cpuArchitecture ?? job.ecsProperties?.taskProperties?.[0]?.runtimePlatform?.cpuArchitecture)?.toUpperCase();
  const cluster = attemptCluster(attempts.at(-1)) ?? clusterOfArn(job.container?.taskArn) ?? clusterOfArn(job.container?.containerInstanceArn);
  return {
    ...resources,
    ...(cluster ? { cluster } : {}),
    ...(cpu === 'ARM64' ? { architecture: 'arm64' as const } : cpu === 'X86_64' ? { architecture: 'x86_64' as const } : {}),
    ...(regionOfArn(job.jobArn) ? { region: regionOfArn(job.jobArn) } : {}),
    ...(runMs !== undefined ? { runMs, lostMs } : {}),
  };
}

/** The compute environment that ran a job of `queue`: by its ECS cluster, else the queue's only one. */
export function environmentOf(queue: QueueInfo | undefined, cluster: string | undefined): ComputeEnvironmentDetail | undefined {
  const environments = queue?.computeEnvironments ?? [];
  if (cluster) {
    const match = environments.find((ce) => clusterOfArn(ce.ecsClusterArn) === cluster);
    if (match) return match;
  }
  return environments.length === 1 ? environments[0] : undefined;
}

/** A compute environment's capacity: its `computeResources.type`; unmanaged ones are not known. */
export function capacityOf(ce: ComputeEnvironmentDetail | undefined): Capacity | undefined {
  const type = ce?.computeResources?.type;
  return type === 'EC2' || type === 'SPOT' || type === 'FARGATE' || type === 'FARGATE_SPOT' ? type : undefined;
}

/** The one instance type a compute environment can launch (`m5.large`; not `optimal` or a family). */
function singleInstanceType(ce: ComputeEnvironmentDetail | undefined): string | undefined {
  const types = ce?.computeResources?.instanceTypes ?? [];
  return types.length === 1 && types[0].includes('.') ? types[0] : undefined;
}

/**
 * What a Batch attempt is known to have used at its start: the step's resources and, when the
 * queue has a single compute environment, where it runs.
 */
export function batchStartUsage(resources: StepResources, queue: QueueInfo | undefined): AttemptUsage {
  return placed({ vcpus: resources.cpu, memoryMiB: resources.memory, gpus: resources.gpu }, environmentOf(queue, undefined), queue);
}

/** What the layer knows about a job besides its record: its queue, and the step's resources. */
export interface BatchUsageContext {
  /** The queue as the QueueInspector saw it. @default - none: the environment is not known */
  readonly queue?: QueueInfo;
  /** The step's resources, for what DescribeJobs does not say. @default - none */
  readonly requested?: StepResources;
}

/**
 * The attempt's usage from its finished job, its queue and the step's resources (for a vCPU or
 * memory figure DescribeJobs left out); `hostLost`: the attempt ended with its host (failures.ts
 * `host-lost`).
 */
export function batchAttemptUsage(p: JobPlacement, context: BatchUsageContext, hostLost: boolean): AttemptUsage {
  const queue = context.queue;
  const r = context.requested;
  const base = { vcpus: p.vcpus || (r?.cpu ?? 0), memoryMiB: p.memoryMiB || (r?.memory ?? 0), gpus: p.gpus || (r?.gpu ?? 0) };
  const usage = placed(base, environmentOf(queue, p.cluster), queue, p.region);
  const architecture = p.architecture ?? usage.architecture;
  return {
    ...usage,
    ...(architecture ? { architecture } : {}),
    ...(p.runMs !== undefined ? { runMs: p.runMs } : {}),
    ...(p.lostMs ? { lostMs: p.lostMs } : {}),
    ...(hostLost ? { hostLost: true } : {}),
  };
}

function placed(base: Pick<AttemptUsage, 'vcpus' | 'memoryMiB' | 'gpus'>, ce: ComputeEnvironmentDetail | undefined, queue: QueueInfo | undefined, jobRegion?: string): AttemptUsage {
  const capacity = capacityOf(ce);
  const instanceType = singleInstanceType(ce);
  const region = regionOfArn(ce?.computeEnvironmentArn) ?? regionOfArn(queue?.arn) ?? jobRegion;
  return {
    ...base,
    ...(capacity ? { capacity } : {}),
    ...(ce?.computeEnvironmentName ? { computeEnvironment: ce.computeEnvironmentName } : {}),
    ...(instanceType ? { instanceType } : {}),
    ...(region ? { region } : {}),
    // Fargate runs X86_64 unless the job definition's runtime platform says ARM64.
    ...(capacity === 'FARGATE' || capacity === 'FARGATE_SPOT' ? { architecture: 'x86_64' as const } : {}),
  };
}

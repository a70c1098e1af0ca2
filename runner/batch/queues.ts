/**
 * Job queues: existence and state for `check(flow)`, the platform of the queue (from its FIRST
 * compute environment, as Metaflow decides), and what the queue can place (for stuck-RUNNABLE
 * diagnostics). One DescribeJobQueues and one DescribeComputeEnvironments per queue per run.
 */
import {
  BatchClient,
  ComputeEnvironmentDetail,
  DescribeComputeEnvironmentsCommand,
  DescribeComputeEnvironmentsCommandOutput,
  DescribeJobQueuesCommand,
  DescribeJobQueuesCommandOutput,
} from '@aws-sdk/client-batch';
import { BatchPlatform } from '../policy/batch';
import { ApiCallCounter } from './api-calls';
import { OncePerKey } from './once-per-key';

/** What the runner knows about a queue. */
export interface QueueInfo {
  /** The queue as the step named it. */
  readonly queue: string;
  readonly arn?: string;
  /** One line when the queue cannot take jobs (missing, DISABLED, INVALID), else undefined. */
  readonly problem?: string;
  /** Platform of the first compute environment. */
  readonly platform?: BatchPlatform;
  /** The queue's fair-share scheduling policy: jobs on it need a share identifier. */
  readonly schedulingPolicyArn?: string;
  /** The compute environments in order. */
  readonly computeEnvironments: readonly ComputeEnvironmentDetail[];
}

export class QueueInspector {
  private readonly cache = new OncePerKey<QueueInfo>();

  constructor(
    private readonly batch: BatchClient,
    private readonly calls: ApiCallCounter = new ApiCallCounter(),
  ) {}

  /** Looked up once per queue per run (concurrent callers share the lookup). */
  inspect(queue: string): Promise<QueueInfo> {
    return this.cache.get(queue, () => this.lookup(queue));
  }

  private async lookup(queue: string): Promise<QueueInfo> {
    const out = await this.calls.send<DescribeJobQueuesCommandOutput>(this.batch, new DescribeJobQueuesCommand({ jobQueues: [queue] }));
    const detail = out.jobQueues?.[0];
    if (!detail) return { queue, problem: `job queue ${JSON.stringify(queue)} does not exist`, computeEnvironments: [] };
    const order = [...(detail.computeEnvironmentOrder ?? [])].sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    const names = order.map((o) => o.computeEnvironment).filter((n): n is string => !!n);
    let problem: string | undefined;
    if (detail.state === 'DISABLED') problem = `job queue ${JSON.stringify(queue)} is DISABLED`;
    else if (detail.status === 'INVALID') problem = `job queue ${JSON.stringify(queue)} is INVALID: ${detail.statusReason ?? 'no reason given'}`;
    else if (names.length === 0) problem = `job queue ${JSON.stringify(queue)} has no compute environment`;
    let environments: ComputeEnvironmentDetail[] = [];
    if (names.length > 0) {
      const ces = await this.calls.send<DescribeComputeEnvironmentsCommandOutput>(
        this.batch,
        new DescribeComputeEnvironmentsCommand({ computeEnvironments: names }),
      );
      const byKey = new Map<string, ComputeEnvironmentDetail>();
      for (const ce of ces.computeEnvironments ?? []) {
        if (ce.computeEnvironmentArn) byKey.set(ce.computeEnvironmentArn, ce);
        if (ce.computeEnvironmentName) byKey.set(ce.computeEnvironmentName, ce);
      }
      environments = names.map((n) => byKey.get(n)).filter((ce): ce is ComputeEnvironmentDetail => !!ce);
    }
    const first = environments[0];
    const type = first?.computeResources?.type;
    const platform: BatchPlatform | undefined = type === undefined ? (first ? 'EC2' : undefined) : type.startsWith('FARGATE') ? 'FARGATE' : 'EC2';
    return { queue, arn: detail.jobQueueArn, problem, platform, schedulingPolicyArn: detail.schedulingPolicyArn || undefined, computeEnvironments: environments };
  }
}

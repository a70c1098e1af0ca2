/**
 * The log of one finished Batch job, read from CloudWatch Logs by its job id: where no runner
 * copied it to the datastore (Step Functions runs; docs/step-functions.md "Runs in the
 * datastore"). DescribeJobs gives the main container's log stream (a multi-container job's
 * `main`, else the job's container), DescribeLogStreams checks that it still exists, and the
 * log tailer reads it from the head to the end. Batch forgets jobs about 7 days after they end and
 * CloudWatch keeps streams as long as the group's retention: each loss is one line, exit 1.
 */
import { BatchClient, DescribeJobsCommand, type JobDetail } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient, DescribeLogStreamsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { CommandFailedError } from '../errors';
import { MAIN_CONTAINER } from './failures';
import { jobLogGroup, LogTailer, type LogStreamRef } from './log-tailer';

/** The main container's log stream of a job (undefined when the container never started). */
export function mainLogStream(job: JobDetail): LogStreamRef | undefined {
  const container = job.ecsProperties?.taskProperties?.[0]?.containers?.find((c) => c.name === MAIN_CONTAINER) ?? job.container;
  if (!container?.logStreamName) return undefined;
  return { group: jobLogGroup({ container: { logConfiguration: container.logConfiguration as never } }), stream: container.logStreamName };
}

/** Every line of job `jobId`'s main container, oldest first; `what` names the task in errors. */
export async function readJobLog(clients: { readonly batch: BatchClient; readonly logs: CloudWatchLogsClient }, jobId: string, what: string): Promise<string[]> {
  const described = await clients.batch.send(new DescribeJobsCommand({ jobs: [jobId] }));
  const job = described.jobs?.find((j) => j.jobId === jobId) ?? described.jobs?.[0];
  if (!job) throw new CommandFailedError(`${what}: AWS Batch no longer knows job ${jobId} (it keeps jobs about 7 days after they end), so its log stream cannot be found`);
  const ref = mainLogStream(job);
  if (!ref) throw new CommandFailedError(`${what}: job ${jobId} has no log stream (its ${MAIN_CONTAINER} container never started: ${job.statusReason ?? job.status ?? 'no reason given'})`);
  const group = ref.group!;
  const streams = await clients.logs.send(new DescribeLogStreamsCommand({ logGroupName: group, logStreamNamePrefix: ref.stream, limit: 1 })).catch((err: { name?: string }) => {
    if (err?.name === 'ResourceNotFoundException') return { logStreams: [] };
    throw err;
  });
  if (streams.logStreams?.[0]?.logStreamName !== ref.stream) {
    throw new CommandFailedError(`${what}: log stream ${ref.stream} of job ${jobId} is not in CloudWatch Logs group ${group} (expired or deleted)`);
  }
  const lines: string[] = [];
  const tailer = new LogTailer(clients.logs, (_key, line) => lines.push(line), { maxStreams: 1 });
  tailer.follow(jobId, ref);
  tailer.finish(jobId);
  await tailer.poll();
  return lines;
}

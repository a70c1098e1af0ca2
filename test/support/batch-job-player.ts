/**
 * Plays one AWS Batch container job for tests, as Batch and ECS would run it — not on the host:
 * the job definition's image is stood in for by a root file system (test/support/rootfs, run in
 * bubblewrap), the command is the definition's (or the override's), the environment is exactly
 * the definition's with SubmitJob's overrides on top plus what Batch and ECS add
 * (`AWS_BATCH_JOB_ID`, `AWS_BATCH_JOB_ATTEMPT`, `AWS_BATCH_JQ_NAME`, `AWS_BATCH_CE_NAME`, the
 * array index, and container credentials from an endpoint like ECS's), and S3 is moto_server
 * (`AWS_ENDPOINT_URL_S3`, the standard variable the task runtime honours).
 *
 * AWS's rules are applied here too, so a payload AWS refuses fails here: a job whose command and
 * environment come to more than ECS's 8,192 characters fails with the status reason Batch gives
 * ("Container Overrides length must be at most 8192"), and an executable the image lacks fails as
 * CannotStartContainerError.
 */
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ContainerOverrides, RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';
import { ECS_OVERRIDES_LIMIT, ecsOverrideChars, effectiveContainer } from '../../runner/batch/job-shape';
import { runContainer } from './rootfs';

export interface PlayJobOptions {
  /** moto_server's URL (S3 for the task runtime). */
  readonly endpoint: string;
  /** AWS_BATCH_JOB_ID (`<array id>:<i>` for child i). */
  readonly jobId: string;
  /** The child's index in an array job. @default - not an array child */
  readonly arrayIndex?: number;
  /** Batch's attempt number of this job, from 1. @default 1 */
  readonly batchAttempt?: number;
  /** @default 'metaflow' */
  readonly queueName?: string;
  /** Each line the container writes. */
  readonly onLine?: (line: string) => void;
  /** Receives a function that kills the container at once (SIGKILL). */
  readonly onKill?: (kill: () => void) => void;
  /**
   * Receives a function that stops the container as ECS StopTask does (TerminateJob, an attempt
   * timeout): SIGTERM to its main process, then SIGKILL after `graceMs` if it is still running.
   */
  readonly onStop?: (stop: (graceMs: number) => void) => void;
}

export interface PlayedJob {
  readonly exitCode?: number;
  /** The container's reason when it never ran (CannotStartContainerError) or ECS refused it. */
  readonly reason?: string;
  readonly lines: string[];
}

const TOKEN = 'test-container-credentials-token';
let credentials: Promise<string> | undefined;

/** An endpoint like ECS's container credentials endpoint (169.254.170.2), on 127.0.0.1, one per jest worker. */
export function credentialsEndpoint(): Promise<string> {
  credentials ??= new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => {
      if (req.headers.authorization !== TOKEN) {
        res.writeHead(403).end('{"message":"bad token"}');
        return;
      }
      const expiration = new Date(Date.now() + 6 * 3600_000).toISOString();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ AccessKeyId: 'ASIATESTING', SecretAccessKey: 'testing', Token: 'session-token', Expiration: expiration, RoleArn: 'arn:aws:iam::123456789012:role/job' }));
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/credentials/job`);
    });
  });
  return credentials;
}

/** Runs one container job (or one array child) in its image's stand-in. */
export async function playContainerJob(definition: RegisterJobDefinitionCommandInput, overrides: ContainerOverrides | undefined, options: PlayJobOptions): Promise<PlayedJob> {
  const props = definition.containerProperties;
  if (!props?.image) throw new Error(`job definition ${definition.jobDefinitionName} has no containerProperties.image (the player plays one-container jobs)`);
  const chars = ecsOverrideChars(definition, overrides);
  if (chars > ECS_OVERRIDES_LIMIT) return { reason: `Container Overrides length must be at most ${ECS_OVERRIDES_LIMIT} (this job: about ${chars})`, lines: [] };
  const container = effectiveContainer(definition, overrides);
  const env: Record<string, string> = Object.fromEntries(container.environment.map((kv) => [kv.name!, kv.value!]));
  Object.assign(env, {
    AWS_BATCH_JOB_ID: options.jobId,
    AWS_BATCH_JOB_ATTEMPT: String(options.batchAttempt ?? 1),
    AWS_BATCH_JQ_NAME: options.queueName ?? 'metaflow',
    AWS_BATCH_CE_NAME: 'metaflow-ec2',
    ...(options.arrayIndex !== undefined ? { AWS_BATCH_JOB_ARRAY_INDEX: String(options.arrayIndex) } : {}),
    AWS_CONTAINER_CREDENTIALS_FULL_URI: await credentialsEndpoint(),
    AWS_CONTAINER_AUTHORIZATION_TOKEN: TOKEN,
    AWS_ENDPOINT_URL_S3: options.endpoint,
    AWS_REGION: 'us-east-1',
  });
  let killContainer: (() => void) | undefined;
  const result = await runContainer({
    image: props.image,
    command: container.command,
    env,
    onLine: (line) => options.onLine?.(line),
    onKill: (kill) => {
      options.onKill?.(kill);
      killContainer = kill;
    },
    onSignal: (send) => {
      options.onStop?.((graceMs) => {
        // ECS API reference, StopTask: the equivalent of `docker stop` — SIGTERM, then SIGKILL after a
        // timeout (30 s by default, the agent's ECS_CONTAINER_STOP_TIMEOUT) unless the container exited.
        if (!send('SIGTERM')) killContainer?.();
        else setTimeout(() => killContainer?.(), graceMs).unref();
      });
    },
  });
  if (result.cannotStart) return { reason: result.cannotStart, lines: result.lines };
  return { exitCode: result.exitCode, lines: result.lines };
}

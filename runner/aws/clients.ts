/**
 * The one place the runner builds AWS SDK clients. Every client gets the same retry strategy,
 * configured here once: the SDK's own (`standard` or `adaptive` mode with `maxAttempts`), so
 * throttling (`TooManyRequestsException`, HTTP 429) is retried with the SDK's backoff instead of
 * failing a run. Region, credentials/profile and endpoint come from the standard AWS environment
 * (AWS_REGION / AWS_PROFILE / ~/.aws/config, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>),
 * which the SDK resolves itself; an explicit option wins over the environment.
 */
import { BatchClient } from '@aws-sdk/client-batch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';

/** SDK retry modes: `standard` (exponential backoff with jitter) or `adaptive` (plus client-side rate limiting). */
export type AwsRetryMode = 'standard' | 'adaptive';

/** Default number of attempts per API call (the first try included). */
export const DEFAULT_MAX_ATTEMPTS = 8;
/** Default retry mode: adaptive, since one run can send bursts of Batch calls (≈50 TPS account limit). */
export const DEFAULT_RETRY_MODE: AwsRetryMode = 'adaptive';

export interface AwsClientOptions {
  /**
   * Region of every client.
   * @default the SDK's resolution (AWS_REGION, then the profile's region in ~/.aws/config)
   */
  readonly region?: string;
  /**
   * Attempts per API call, the first included (≥ 1).
   * @default 8
   */
  readonly maxAttempts?: number;
  /**
   * SDK retry mode.
   * @default 'adaptive'
   */
  readonly retryMode?: AwsRetryMode;
  /**
   * Endpoint of every client (tests: moto_server).
   * @default the SDK's resolution (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then AWS's)
   */
  readonly endpoint?: string;
  /**
   * Static credentials (tests).
   * @default the SDK's default credential chain (AWS_PROFILE, env, SSO, instance roles…)
   */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /**
   * Request handler replacing the SDK's HTTP transport (tests inject HTTP-level faults here, so
   * the SDK's real retry middleware runs).
   * @default the SDK's Node.js HTTP handler
   */
  readonly requestHandler?: unknown;
  /** S3 only: path-style addressing (moto_server, S3-compatible stores). @default false */
  readonly forcePathStyle?: boolean;
}

/** The shared part of every client's configuration. */
export function awsClientConfig(options: AwsClientOptions = {}) {
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`AWS maxAttempts must be a whole number ≥ 1, got ${JSON.stringify(maxAttempts)}`);
  }
  const retryMode = options.retryMode ?? DEFAULT_RETRY_MODE;
  if (retryMode !== 'standard' && retryMode !== 'adaptive') {
    throw new Error(`AWS retry mode must be "standard" or "adaptive", got ${JSON.stringify(retryMode)}`);
  }
  return {
    maxAttempts,
    retryMode,
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.requestHandler !== undefined ? { requestHandler: options.requestHandler as never } : {}),
  };
}

export function createBatchClient(options: AwsClientOptions = {}): BatchClient {
  return new BatchClient(awsClientConfig(options));
}

export function createLogsClient(options: AwsClientOptions = {}): CloudWatchLogsClient {
  return new CloudWatchLogsClient(awsClientConfig(options));
}

export function createS3Client(options: AwsClientOptions = {}): S3Client {
  return new S3Client({ ...awsClientConfig(options), forcePathStyle: options.forcePathStyle ?? false });
}

export function createSfnClient(options: AwsClientOptions = {}): SFNClient {
  return new SFNClient(awsClientConfig(options));
}

export function createEventBridgeClient(options: AwsClientOptions = {}): EventBridgeClient {
  return new EventBridgeClient(awsClientConfig(options));
}

/** The clients one run or command uses (Batch, logs, S3, Step Functions, EventBridge), built lazily with one shared configuration. */
export class AwsClients {
  private batchClient?: BatchClient;
  private logsClient?: CloudWatchLogsClient;
  private s3Client?: S3Client;
  private sfnClient?: SFNClient;
  private eventsClient?: EventBridgeClient;

  constructor(private readonly options: AwsClientOptions = {}) {
    awsClientConfig(options);
  }

  get batch(): BatchClient {
    return (this.batchClient ??= createBatchClient(this.options));
  }

  get logs(): CloudWatchLogsClient {
    return (this.logsClient ??= createLogsClient(this.options));
  }

  get s3(): S3Client {
    return (this.s3Client ??= createS3Client(this.options));
  }

  get sfn(): SFNClient {
    return (this.sfnClient ??= createSfnClient(this.options));
  }

  get events(): EventBridgeClient {
    return (this.eventsClient ??= createEventBridgeClient(this.options));
  }

  /** Close every client that was created (frees sockets). */
  destroy(): void {
    this.batchClient?.destroy();
    this.logsClient?.destroy();
    this.s3Client?.destroy();
    this.sfnClient?.destroy();
    this.eventsClient?.destroy();
  }
}

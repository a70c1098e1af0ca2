/**
 * The AWS calls `configure` makes: CloudFormation DescribeStacks for the deployed stack's outputs
 * and Secrets Manager GetSecretValue for the API key. Clients are passed in, so tests can use
 * aws-sdk-client-mock or point real clients at moto. Every failure becomes a
 * UserInputError (exit 2: the user's input or local setup) or a CommandFailedError (exit 1: AWS
 * or the deployed stack), with a message that says what to do.
 */
import { CloudFormationClient, DescribeStacksCommand, StackStatus } from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CommandFailedError, UserInputError } from '../errors';

export interface ConfigureAwsClients {
  readonly cloudFormation: CloudFormationClient;
  readonly secretsManager: SecretsManagerClient;
}

/**
 * Clients with the SDK's default credential and region chains (AWS_PROFILE, AWS_REGION,
 * ~/.aws/config, …); `region` overrides the region. The SDK honours AWS_ENDPOINT_URL.
 */
export function defaultAwsClients(region?: string): ConfigureAwsClients {
  // The SDK warns on Node < 22 about its releases of 2027; this package pins its SDK and
  // supports Node 20, and the warning would bury the CLI's one-line messages. A user's own
  // setting of the variable wins.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const config = region ? { region } : {};
  return {
    cloudFormation: new CloudFormationClient(config),
    secretsManager: new SecretsManagerClient(config),
  };
}

/** The stack as `configure` needs it. */
export interface DeployedStack {
  readonly name: string;
  readonly status: string;
  /** Output id → value. */
  readonly outputs: Readonly<Record<string, string>>;
  /** A note for the user about the status (e.g. the last update was rolled back), if any. */
  readonly statusWarning?: string;
}

/** Statuses whose outputs describe a working deployment. */
const USABLE_STATUSES: ReadonlySet<string> = new Set<StackStatus>([
  'CREATE_COMPLETE',
  'UPDATE_COMPLETE',
  'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS',
  'UPDATE_ROLLBACK_COMPLETE',
  'IMPORT_COMPLETE',
  'IMPORT_ROLLBACK_COMPLETE',
]);

/** What to do about a stack in a status that is not usable. */
function statusAdvice(status: string): string {
  if (status === 'ROLLBACK_COMPLETE') {
    return 'its creation failed and was rolled back; see its events, delete it and deploy again';
  }
  if (status === 'REVIEW_IN_PROGRESS') return 'it has a change set that was never executed; deploy it first';
  if (status.endsWith('_IN_PROGRESS')) return 'wait for the operation to finish, then run configure again';
  if (status.endsWith('_FAILED')) return 'see its events in CloudFormation, fix it and deploy again';
  return 'deploy it again';
}

/** DescribeStacks for one stack, checked to be in a complete state. */
export async function describeDeployedStack(client: CloudFormationClient, stackName: string): Promise<DeployedStack> {
  let stacks;
  try {
    ({ Stacks: stacks } = await client.send(new DescribeStacksCommand({ StackName: stackName })));
  } catch (err) {
    if (errorName(err) === 'ValidationError' && /does not exist/i.test(errorMessage(err))) {
      throw new UserInputError(
        `stack "${stackName}" not found in region ${await regionOf(client)}; deploy it first, or pass ` +
          `--stack-name and --region (or AWS_REGION) for the stack you deployed`,
      );
    }
    throw awsCallError(err, `DescribeStacks for stack "${stackName}" failed:`);
  }
  const stack = stacks?.[0];
  if (!stack) {
    throw new UserInputError(`stack "${stackName}" not found in region ${await regionOf(client)}`);
  }
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!USABLE_STATUSES.has(status)) {
    throw new CommandFailedError(
      `stack "${stackName}" is in status ${status}, not a complete state: ${statusAdvice(status)}`,
    );
  }
  const outputs: Record<string, string> = {};
  for (const output of stack.Outputs ?? []) {
    if (output.OutputKey && output.OutputValue !== undefined) outputs[output.OutputKey] = output.OutputValue;
  }
  return {
    name: stack.StackName ?? stackName,
    status,
    outputs,
    statusWarning:
      status === 'UPDATE_ROLLBACK_COMPLETE'
        ? `stack "${stackName}" is in status UPDATE_ROLLBACK_COMPLETE: its last update was rolled back, so these are the outputs of the deployment before it`
        : undefined,
  };
}

/** GetSecretValue → the secret's string (the API key value). */
export async function readSecretString(client: SecretsManagerClient, secretArn: string): Promise<string> {
  let value: string | undefined;
  try {
    ({ SecretString: value } = await client.send(new GetSecretValueCommand({ SecretId: secretArn })));
  } catch (err) {
    throw awsCallError(err, `cannot read the API key secret ${secretArn}:`);
  }
  if (value === undefined || value === '') {
    throw new CommandFailedError(`the API key secret ${secretArn} has no string value`);
  }
  return value;
}

function errorName(err: unknown): string {
  const e = err as { name?: unknown; Code?: unknown };
  return typeof e?.name === 'string' ? e.name : typeof e?.Code === 'string' ? e.Code : 'Error';
}

function errorMessage(err: unknown): string {
  const message = (err as { message?: unknown })?.message;
  return typeof message === 'string' ? message : String(err);
}

async function regionOf(client: CloudFormationClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    return '(unknown)';
  }
}

/** Missing region or credentials: the user's setup (exit 2), with how to fix it. */
function localSetupError(err: unknown): UserInputError | undefined {
  const message = errorMessage(err);
  if (/region is missing/i.test(message)) {
    return new UserInputError(
      'no AWS region: pass --region, or set AWS_REGION or AWS_DEFAULT_REGION (or a region in your AWS profile, e.g. `aws configure set region us-east-1`)',
    );
  }
  if (errorName(err) === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return new UserInputError(
      'no AWS credentials found: set AWS_PROFILE (or run `aws configure` / `aws sso login`), or set ' +
        `AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (${message})`,
    );
  }
  return undefined;
}

/** `what` says what failed, ending in a colon; the AWS error's name and message follow it. */
function awsCallError(err: unknown, what: string): Error {
  return localSetupError(err) ?? new CommandFailedError(`${what} ${errorName(err)}: ${errorMessage(err)}`);
}

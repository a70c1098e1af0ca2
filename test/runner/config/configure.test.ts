import {
  CloudFormationClient,
  CloudFormationServiceException,
  DescribeStacksCommand,
  Output,
  StackStatus,
} from '@aws-sdk/client-cloudformation';
import { GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import {
  ALL_METAFLOW_CONFIG_KEYS,
  METAFLOW_STACK_OUTPUTS,
  metaflowEnvName,
  metaflowOutputId,
  SECRET_METAFLOW_CONFIG_KEYS,
} from '../../../core/metaflow-config-keys';
import { EXIT_CODES } from '../../../runner/errors';
import { main } from '../../../runner/cli/main';
import { configureMetaflow, ConfigureOptions } from '../../../runner/config/configure';
import { defaultAwsClients } from '../../../runner/config/stack-outputs';

const STACK = 'Metaflow';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:metaflow-api-key-AbCdEf';
const API_KEY = 'k3y-value-from-secrets-manager';

/** One output per published key, with a value naming the key. */
function allOutputs(): Output[] {
  const outputs: Output[] = ALL_METAFLOW_CONFIG_KEYS.filter((key) => !SECRET_METAFLOW_CONFIG_KEYS.includes(key)).map((key) => ({
    OutputKey: metaflowOutputId(key),
    OutputValue: `value-of-${key}`,
  }));
  outputs.push({ OutputKey: METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN, OutputValue: SECRET_ARN });
  outputs.push({ OutputKey: METAFLOW_STACK_OUTPUTS.PROFILE_JSON, OutputValue: '{"not":"read"}' });
  return outputs;
}

const COMPUTE_ONLY: Output[] = [
  { OutputKey: metaflowOutputId('DATASTORE_SYSROOT_S3'), OutputValue: 's3://bucket/metaflow' },
  { OutputKey: metaflowOutputId('BATCH_JOB_QUEUE'), OutputValue: 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow' },
];

function stack(outputs: Output[], status: StackStatus = 'CREATE_COMPLETE') {
  return {
    Stacks: [{ StackName: STACK, StackStatus: status, CreationTime: new Date(), Outputs: outputs }],
  };
}

function awsError(name: string, message: string): CloudFormationServiceException {
  return new CloudFormationServiceException({ name, message, $fault: 'client', $metadata: {} });
}

describe('configure (AWS calls mocked)', () => {
  const cfn = mockClient(CloudFormationClient);
  const sm = mockClient(SecretsManagerClient);
  let home: string;

  beforeEach(() => {
    cfn.reset();
    sm.reset();
    home = mkdtempSync(join(tmpdir(), 'mf-configure-'));
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  const clients = () => defaultAwsClients('us-east-1');
  const options = (extra: Partial<ConfigureOptions> = {}): ConfigureOptions => ({
    stackName: STACK,
    force: false,
    print: false,
    env: { METAFLOW_HOME: join(home, 'mf') },
    ...extra,
  });
  const configPath = (name = 'config.json') => join(home, 'mf', name);

  test('maps every published output to its METAFLOW_ key and reads the API key from the secret', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(allOutputs()));
    sm.on(GetSecretValueCommand).resolves({ SecretString: API_KEY });

    const result = await configureMetaflow(options(), clients());

    expect(cfn.commandCalls(DescribeStacksCommand).map((c) => c.args[0].input)).toEqual([{ StackName: STACK }]);
    expect(sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input)).toEqual([{ SecretId: SECRET_ARN }]);
    const file = JSON.parse(readFileSync(configPath(), 'utf8')) as Record<string, string>;
    const expected: Record<string, string> = {};
    for (const key of ALL_METAFLOW_CONFIG_KEYS) expected[metaflowEnvName(key)] = key === 'SERVICE_AUTH_KEY' ? API_KEY : `value-of-${key}`;
    expect(file).toEqual(expected);
    // Written under the names Metaflow reads, the UI URL and the default image/registry included.
    expect(file).toMatchObject({ METAFLOW_UI_URL: 'value-of-UI_URL', METAFLOW_BATCH_CONTAINER_IMAGE: 'value-of-BATCH_CONTAINER_IMAGE', METAFLOW_BATCH_CONTAINER_REGISTRY: 'value-of-BATCH_CONTAINER_REGISTRY' });
    expect(Object.keys(file)).toEqual(ALL_METAFLOW_CONFIG_KEYS.map(metaflowEnvName));
    expect(result.keys).toEqual(Object.keys(file));
    expect(result.warnings).toEqual([]);
  });

  test('a stack without the metadata service: no secret read, only the compute keys', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(COMPUTE_ONLY));
    await configureMetaflow(options({ profile: 'compute' }), clients());
    expect(sm.calls()).toHaveLength(0);
    expect(JSON.parse(readFileSync(configPath('config_compute.json'), 'utf8'))).toEqual({
      METAFLOW_DATASTORE_SYSROOT_S3: 's3://bucket/metaflow',
      METAFLOW_BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow',
    });
  });

  test('a service URL without the API key secret output is written, with a warning', async () => {
    cfn.on(DescribeStacksCommand).resolves(
      stack([...COMPUTE_ONLY, { OutputKey: metaflowOutputId('SERVICE_URL'), OutputValue: 'https://api.example/' }]),
    );
    const result = await configureMetaflow(options(), clients());
    expect(result.warnings).toEqual([expect.stringContaining('no MetaflowApiKeySecretArn output; the config has no API key')]);
    expect(result.profile.SERVICE_AUTH_KEY).toBeUndefined();
  });

  test('an output named like the secret key is never taken as the API key', async () => {
    cfn.on(DescribeStacksCommand).resolves(
      stack([...COMPUTE_ONLY, { OutputKey: metaflowOutputId('SERVICE_AUTH_KEY'), OutputValue: 'leaked' }]),
    );
    const result = await configureMetaflow(options({ print: true }), clients());
    expect(result.profile.SERVICE_AUTH_KEY).toBeUndefined();
  });

  test('--print returns the JSON with the API key masked and writes nothing', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(allOutputs()));
    sm.on(GetSecretValueCommand).resolves({ SecretString: API_KEY });
    const result = await configureMetaflow(options({ print: true }), clients());
    expect(result.written).toBe(false);
    expect(result.printed).toContain('"METAFLOW_SERVICE_AUTH_KEY": "********"');
    expect(result.printed).not.toContain(API_KEY);
    expect(existsSync(configPath())).toBe(false);
  });

  test.each<[StackStatus, RegExp]>([
    ['CREATE_IN_PROGRESS', /status CREATE_IN_PROGRESS, not a complete state: wait for the operation to finish/],
    ['UPDATE_IN_PROGRESS', /status UPDATE_IN_PROGRESS, not a complete state: wait/],
    ['ROLLBACK_COMPLETE', /status ROLLBACK_COMPLETE, not a complete state: its creation failed and was rolled back/],
    ['UPDATE_ROLLBACK_FAILED', /status UPDATE_ROLLBACK_FAILED, not a complete state: see its events/],
    ['REVIEW_IN_PROGRESS', /status REVIEW_IN_PROGRESS, not a complete state: it has a change set that was never executed/],
    ['DELETE_IN_PROGRESS', /status DELETE_IN_PROGRESS/],
  ])('a stack in %s is refused (exit 1) naming the status', async (status, message) => {
    cfn.on(DescribeStacksCommand).resolves(stack(allOutputs(), status));
    const run = configureMetaflow(options(), clients());
    await expect(run).rejects.toThrow(message);
    await expect(run).rejects.toMatchObject({ exitCode: EXIT_CODES.FAILED });
    expect(existsSync(configPath())).toBe(false);
  });

  test('UPDATE_ROLLBACK_COMPLETE is usable, with a warning', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(COMPUTE_ONLY, 'UPDATE_ROLLBACK_COMPLETE'));
    const result = await configureMetaflow(options(), clients());
    expect(result.warnings).toEqual([expect.stringContaining('its last update was rolled back')]);
  });

  test('stack not found is bad input (exit 2) naming the stack and region', async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', 'Stack with id Nope does not exist'));
    const run = configureMetaflow(options({ stackName: 'Nope' }), clients());
    await expect(run).rejects.toThrow('stack "Nope" not found in region us-east-1');
    await expect(run).rejects.toMatchObject({ exitCode: EXIT_CODES.BAD_INPUT });
  });

  test('other DescribeStacks failures are AWS failures (exit 1) with the AWS error', async () => {
    cfn.on(DescribeStacksCommand).rejects(awsError('AccessDenied', 'User is not authorized to perform cloudformation:DescribeStacks'));
    const run = configureMetaflow(options(), clients());
    await expect(run).rejects.toThrow('DescribeStacks for stack "Metaflow" failed: AccessDenied: User is not authorized');
    await expect(run).rejects.toMatchObject({ exitCode: EXIT_CODES.FAILED });
  });

  test('missing required outputs are listed by output id and key (exit 1)', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack([{ OutputKey: metaflowOutputId('SERVICE_URL'), OutputValue: 'https://x' }]));
    const run = configureMetaflow(options(), clients());
    await expect(run).rejects.toThrow(
      'stack "Metaflow" lacks the required output(s) MetaflowDatastoreSysrootS3 (DATASTORE_SYSROOT_S3), MetaflowBatchJobQueue (BATCH_JOB_QUEUE)',
    );
    await expect(run).rejects.toMatchObject({ exitCode: EXIT_CODES.FAILED });
  });

  test('an unreadable secret names the ARN and the AWS error (exit 1), and nothing is written', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(allOutputs()));
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }),
    );
    const run = configureMetaflow(options(), clients());
    await expect(run).rejects.toThrow(
      `cannot read the API key secret ${SECRET_ARN}: ResourceNotFoundException: Secrets Manager can't find the specified secret.`,
    );
    await expect(run).rejects.toMatchObject({ exitCode: EXIT_CODES.FAILED });
    expect(existsSync(configPath())).toBe(false);
  });

  test('a secret without a string value is refused', async () => {
    cfn.on(DescribeStacksCommand).resolves(stack(allOutputs()));
    sm.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1]) });
    await expect(configureMetaflow(options(), clients())).rejects.toThrow(`the API key secret ${SECRET_ARN} has no string value`);
  });

  test('no credentials and no region are bad input (exit 2) saying how to set them', async () => {
    const noCredentials = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    cfn.on(DescribeStacksCommand).rejects(noCredentials);
    await expect(configureMetaflow(options(), clients())).rejects.toMatchObject({
      exitCode: EXIT_CODES.BAD_INPUT,
      message: expect.stringMatching(/^no AWS credentials found: set AWS_PROFILE .* AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/),
    });
    cfn.reset();
    cfn.on(DescribeStacksCommand).rejects(new Error('Region is missing'));
    await expect(configureMetaflow(options(), clients())).rejects.toMatchObject({
      exitCode: EXIT_CODES.BAD_INPUT,
      message: expect.stringMatching(/^no AWS region: pass --region, or set AWS_REGION/),
    });
  });

  test('an invalid --profile is refused before any AWS call', async () => {
    await expect(configureMetaflow(options({ profile: '../evil' }), clients())).rejects.toMatchObject({
      exitCode: EXIT_CODES.BAD_INPUT,
      message: expect.stringContaining('invalid --profile "../evil"'),
    });
    expect(cfn.calls()).toHaveLength(0);
  });

  describe('through the CLI (main)', () => {
    function capture() {
      const out = new PassThrough();
      const err = new PassThrough();
      let stdout = '';
      let stderr = '';
      out.on('data', (d) => (stdout += d));
      err.on('data', (d) => (stderr += d));
      return { out, err, text: () => ({ stdout, stderr }) };
    }
    const run = async (args: string[]) => {
      const io = capture();
      const code = await main(['node', 'metaflow-cdk', 'configure', ...args], {
        stdout: io.out,
        stderr: io.err,
        env: { METAFLOW_HOME: join(home, 'mf') },
      });
      return { code, ...io.text() };
    };

    test('prints the file written and its keys; --stack-name and --region reach the calls', async () => {
      cfn.on(DescribeStacksCommand).resolves(stack(COMPUTE_ONLY));
      const res = await run(['--stack-name', 'Other', '--region', 'eu-west-1', '--profile', 'dev']);
      expect(res.code).toBe(EXIT_CODES.SUCCESS);
      expect(cfn.commandCalls(DescribeStacksCommand)[0].args[0].input).toEqual({ StackName: 'Other' });
      expect(await cfn.call(0).thisValue.config.region()).toBe('eu-west-1');
      expect(res.stdout).toBe(
        `Wrote ${configPath('config_dev.json')} (mode 0600) with 2 keys:\n` +
          '  METAFLOW_DATASTORE_SYSROOT_S3\n  METAFLOW_BATCH_JOB_QUEUE\n' +
          'Use it with: export METAFLOW_PROFILE=dev\n',
      );
    });

    test('errors are one line on stderr with the exit code', async () => {
      cfn.on(DescribeStacksCommand).resolves(stack(COMPUTE_ONLY, 'ROLLBACK_COMPLETE'));
      const res = await run([]);
      expect(res.code).toBe(EXIT_CODES.FAILED);
      expect(res.stderr).toMatch(/^metaflow-cdk: stack "Metaflow" is in status ROLLBACK_COMPLETE, [^\n]*\n$/);
    });

    test('--print writes the masked JSON to stdout', async () => {
      cfn.on(DescribeStacksCommand).resolves(stack(allOutputs()));
      sm.on(GetSecretValueCommand).resolves({ SecretString: API_KEY });
      const res = await run(['--print']);
      expect(res.code).toBe(EXIT_CODES.SUCCESS);
      expect(JSON.parse(res.stdout).METAFLOW_SERVICE_AUTH_KEY).toBe('********');
    });
  });
});

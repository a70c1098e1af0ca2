import { CloudFormationClient, CreateChangeSetCommand, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { METAFLOW_STACK_OUTPUTS, MetaflowConfigKey, metaflowOutputId } from '../../../core/metaflow-config-keys';
import { describeWithTool } from '../../support/external-tool';
import { MOTO_CLIENT_CONFIG, MotoServer, MOTO_START_TIMEOUT_MS, workerMoto } from '../../support/moto';
import { PROCESS_GUARD_MS } from '../../support/guards';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'metaflow-cdk.js');
const API_KEY = 'moto-api-key-0123456789';

/** What a deployed metaflow-cdk stack publishes (a subset of keys is enough for the mapping). */
const PUBLISHED: Partial<Record<MetaflowConfigKey, string>> = {
  DEFAULT_DATASTORE: 's3',
  DEFAULT_METADATA: 'service',
  DATASTORE_SYSROOT_S3: 's3://metaflow-bucket/metaflow',
  DATATOOLS_S3ROOT: 's3://metaflow-bucket/data',
  SERVICE_URL: 'https://abc123.execute-api.us-east-1.amazonaws.com/api/',
  SERVICE_INTERNAL_URL: 'http://metaflow-nlb.elb.us-east-1.amazonaws.com/',
  BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow-default',
  ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-batch-job',
  SFN_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-sfn',
  SFN_DYNAMO_DB_TABLE: 'metaflow-sfn-table',
};

/** The `MetaflowTeamsJson` output of a stack deployed with `-c teams=ml:3,research`. */
const TEAMS = {
  ml: {
    jobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/teams-shared',
    gpuJobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/teams-shared-gpu',
    jobRole: 'arn:aws:iam::123456789012:role/metaflow-team-ml',
    datastoreRoot: 's3://metaflow-bucket/metaflow/.teams/ml',
    datatoolsRoot: 's3://metaflow-bucket/data/.teams/ml',
    accessPolicy: 'arn:aws:iam::123456789012:policy/metaflow-team-ml',
  },
  research: {
    jobQueue: 'arn:aws:batch:us-east-1:123456789012:job-queue/teams-shared',
    jobRole: 'arn:aws:iam::123456789012:role/metaflow-team-research',
    datastoreRoot: 's3://metaflow-bucket/metaflow/.teams/research',
    datatoolsRoot: 's3://metaflow-bucket/data/.teams/research',
    accessPolicy: 'arn:aws:iam::123456789012:policy/metaflow-team-research',
  },
};

/**
 * A stack in moto with the given outputs: one no-op resource (moto creates
 * AWS::CloudFormation::WaitConditionHandle) plus the outputs, values as literals.
 */
function template(outputs: Record<string, string>): string {
  const Outputs: Record<string, { Value: string; Description: string }> = {};
  for (const [id, value] of Object.entries(outputs)) Outputs[id] = { Value: value, Description: `test output ${id}` };
  return JSON.stringify({ Resources: { Marker: { Type: 'AWS::CloudFormation::WaitConditionHandle' } }, Outputs });
}

function keyOutputs(keys: Partial<Record<MetaflowConfigKey, string>>): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const [key, value] of Object.entries(keys)) outputs[metaflowOutputId(key as MetaflowConfigKey)] = value!;
  return outputs;
}

describeWithTool(
  'moto_server',
  'metaflow-cdk configure against moto (the real binary)',
  () => {
    let moto: MotoServer;
    let work: string;
    let secretArn: string;

    beforeAll(async () => {
      // The SDK's Node 20 support notice would only clutter the test output.
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
      moto = await workerMoto();
      const clientConfig = { ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint };
      const cfn = new CloudFormationClient(clientConfig);
      const sm = new SecretsManagerClient(clientConfig);
      ({ ARN: secretArn = '' } = await sm.send(new CreateSecretCommand({ Name: 'metaflow-api-key', SecretString: API_KEY })));
      const createStack = (name: string, outputs: Record<string, string>) =>
        cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: template(outputs) }));
      await createStack('Metaflow', { ...keyOutputs(PUBLISHED), [METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN]: secretArn });
      await createStack('ComputeOnly', keyOutputs({ DATASTORE_SYSROOT_S3: 's3://b/metaflow', BATCH_JOB_QUEUE: 'queue-arn' }));
      await createStack('NotMetaflow', keyOutputs({ SERVICE_URL: 'https://x/' }));
      await createStack('SecretGone', {
        ...keyOutputs(PUBLISHED),
        [METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN]: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:deleted-AbCdEf',
      });
      await createStack('Teams', {
        ...keyOutputs(PUBLISHED),
        [METAFLOW_STACK_OUTPUTS.API_KEY_SECRET_ARN]: secretArn,
        [METAFLOW_STACK_OUTPUTS.TEAMS_JSON]: JSON.stringify(TEAMS),
        [METAFLOW_STACK_OUTPUTS.JOB_LOG_GROUP_NAME]: '/metaflow/Teams/jobs',
      });
      await createStack('BadTeams', { ...keyOutputs(PUBLISHED), [METAFLOW_STACK_OUTPUTS.TEAMS_JSON]: '["ml"]' });
      // A change set that was never executed leaves the stack in REVIEW_IN_PROGRESS.
      await cfn.send(
        new CreateChangeSetCommand({ StackName: 'Pending', ChangeSetName: 'never-run', ChangeSetType: 'CREATE', TemplateBody: template(keyOutputs(PUBLISHED)) }),
      );
      cfn.destroy();
      sm.destroy();
    }, MOTO_START_TIMEOUT_MS);
    afterAll(async () => {
      await moto?.stop();
    });
    beforeEach(() => {
      work = mkdtempSync(join(tmpdir(), 'mf-configure-moto-'));
    });
    afterEach(() => rmSync(work, { recursive: true, force: true }));

    const home = () => join(work, 'metaflowconfig');

    /** Run the binary with only the environment given here (no AWS profile or IMDS of this machine). */
    function configure(args: string[], env: Record<string, string | undefined> = {}) {
      const base: Record<string, string | undefined> = {
        PATH: process.env.PATH,
        HOME: work,
        AWS_CONFIG_FILE: join(work, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_REGION: 'us-east-1',
        METAFLOW_HOME: home(),
      };
      const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>;
      const res = spawnSync(process.execPath, [BIN, 'configure', ...args], { env: merged, encoding: 'utf8', timeout: PROCESS_GUARD_MS });
      return { code: res.status, stdout: res.stdout, stderr: res.stderr };
    }

    test('writes config.json (0600, folder 0700) with every published key and the API key from the secret', () => {
      const res = configure([]);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      const path = join(home(), 'config.json');
      expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
        METAFLOW_DEFAULT_DATASTORE: 's3',
        METAFLOW_DEFAULT_METADATA: 'service',
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://metaflow-bucket/metaflow',
        METAFLOW_DATATOOLS_S3ROOT: 's3://metaflow-bucket/data',
        METAFLOW_SERVICE_URL: 'https://abc123.execute-api.us-east-1.amazonaws.com/api/',
        METAFLOW_SERVICE_INTERNAL_URL: 'http://metaflow-nlb.elb.us-east-1.amazonaws.com/',
        METAFLOW_SERVICE_AUTH_KEY: API_KEY,
        METAFLOW_BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow-default',
        METAFLOW_ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-batch-job',
        METAFLOW_SFN_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-sfn',
        METAFLOW_SFN_DYNAMO_DB_TABLE: 'metaflow-sfn-table',
      });
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(statSync(home()).mode & 0o777).toBe(0o700);
      expect(res.stdout).toContain(`Wrote ${path} (mode 0600) with 11 keys:`);
      expect(res.stdout).toContain('  METAFLOW_SERVICE_AUTH_KEY\n');
      expect(res.stdout).not.toContain(API_KEY);
    });

    test('--profile and --stack-name: a compute-only stack gives config_<profile>.json without an API key', () => {
      const res = configure(['--stack-name', 'ComputeOnly', '--profile', 'compute']);
      expect(res.code).toBe(0);
      expect(JSON.parse(readFileSync(join(home(), 'config_compute.json'), 'utf8'))).toEqual({
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://b/metaflow',
        METAFLOW_BATCH_JOB_QUEUE: 'queue-arn',
      });
      expect(existsSync(join(home(), 'config.json'))).toBe(false);
    });

    test('--team writes the team profile: its role and folders, its fair-share queue apart from the FIFO BATCH_JOB_QUEUE, TEAM and the job log group', () => {
      const res = configure(['--stack-name', 'Teams', '--team', 'ml', '--profile', 'ml']);
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(JSON.parse(readFileSync(join(home(), 'config_ml.json'), 'utf8'))).toEqual({
        METAFLOW_DEFAULT_DATASTORE: 's3',
        METAFLOW_DEFAULT_METADATA: 'service',
        METAFLOW_DATASTORE_SYSROOT_S3: 's3://metaflow-bucket/metaflow/.teams/ml',
        METAFLOW_DATATOOLS_S3ROOT: 's3://metaflow-bucket/data/.teams/ml',
        METAFLOW_SERVICE_URL: 'https://abc123.execute-api.us-east-1.amazonaws.com/api/',
        METAFLOW_SERVICE_INTERNAL_URL: 'http://metaflow-nlb.elb.us-east-1.amazonaws.com/',
        METAFLOW_SERVICE_AUTH_KEY: API_KEY,
        // Metaflow's own @batch sends no share identifier: it keeps the stack's FIFO queue.
        METAFLOW_BATCH_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/metaflow-default',
        METAFLOW_ECS_S3_ACCESS_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-team-ml',
        METAFLOW_SFN_IAM_ROLE: 'arn:aws:iam::123456789012:role/metaflow-sfn',
        METAFLOW_SFN_DYNAMO_DB_TABLE: 'metaflow-sfn-table',
        METAFLOW_BATCH_TEAM_JOB_QUEUE: 'arn:aws:batch:us-east-1:123456789012:job-queue/teams-shared',
        // the team's GPU steps go to the GPU team queue; BATCH_JOB_QUEUE_GPU (none on this stack) would stay FIFO
        METAFLOW_BATCH_TEAM_JOB_QUEUE_GPU: 'arn:aws:batch:us-east-1:123456789012:job-queue/teams-shared-gpu',
        METAFLOW_BATCH_JOB_LOG_GROUP: '/metaflow/Teams/jobs',
        METAFLOW_TEAM: 'ml',
      });
    });

    test.each<[string, number, string, string[]]>([
      ['an unknown team', 2, 'metaflow-cdk: --team vision: stack "Teams" has no team "vision"; its teams: ml, research\n', ['--stack-name', 'Teams', '--team', 'vision']],
      ['a stack without teams', 2, 'metaflow-cdk: --team ml: stack "Metaflow" has no teams (no MetaflowTeamsJson output; deploy it with -c teams=<name>:<weight>,...)\n', ['--team', 'ml']],
      ['a bad team name', 2, 'metaflow-cdk: --team: expected a team name (lowercase letters and digits, starting with a letter, at most 32), got "ML"\n', ['--stack-name', 'Teams', '--team', 'ML']],
      ['a malformed teams output', 1, 'metaflow-cdk: stack "BadTeams" output MetaflowTeamsJson is not a JSON object of teams: not a JSON object\n', ['--stack-name', 'BadTeams', '--team', 'ml']],
    ])('--team, %s: exit %i, one line, nothing written', (_name, code, stderr, args) => {
      const res = configure(args);
      expect(res.stderr).toBe(stderr);
      expect(res.code).toBe(code);
      expect(existsSync(home())).toBe(false);
    });

    test('AWS_DEFAULT_REGION is honoured as the AWS CLI honours it', () => {
      const res = configure(['--print'], { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'us-east-1' });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
    });

    test('--print prints the JSON with the API key masked and writes nothing', () => {
      const res = configure(['--print']);
      expect(res.code).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ METAFLOW_SERVICE_AUTH_KEY: '********', METAFLOW_DEFAULT_METADATA: 'service' });
      expect(res.stdout).not.toContain(API_KEY);
      expect(existsSync(home())).toBe(false);
    });

    test('an existing file is not replaced without --force (exit 2, names the path)', () => {
      mkdirSync(home(), { recursive: true });
      const path = join(home(), 'config.json');
      writeFileSync(path, '{"METAFLOW_MINE": "1"}');
      const res = configure([]);
      expect(res.code).toBe(2);
      expect(res.stderr).toBe(`metaflow-cdk: ${path} already exists; pass --force to replace it (a backup is kept), or --print to see the new contents\n`);
      expect(readFileSync(path, 'utf8')).toBe('{"METAFLOW_MINE": "1"}');
    });

    test('--force keeps a backup of the existing file, then replaces it', () => {
      mkdirSync(home(), { recursive: true });
      const path = join(home(), 'config.json');
      writeFileSync(path, '{"METAFLOW_MINE": "1"}');
      const res = configure(['--force']);
      expect(res.code).toBe(0);
      const backups = readdirSync(home()).filter((f) => f.startsWith('config.json.bak-'));
      expect(backups).toEqual([expect.stringMatching(/^config\.json\.bak-\d{8}T\d{6}Z$/)]);
      expect(readFileSync(join(home(), backups[0]), 'utf8')).toBe('{"METAFLOW_MINE": "1"}');
      expect(res.stdout).toContain(`Backed up the previous config to ${join(home(), backups[0])}`);
      expect(JSON.parse(readFileSync(path, 'utf8')).METAFLOW_SERVICE_AUTH_KEY).toBe(API_KEY);
    });

    test.each<[string, number, string, string[], Record<string, string | undefined>]>([
      ['stack missing', 2, 'stack "Nope" not found in region us-east-1', ['--stack-name', 'Nope'], {}],
      ['stack not complete', 1, 'stack "Pending" is in status REVIEW_IN_PROGRESS, not a complete state', ['--stack-name', 'Pending'], {}],
      [
        'required outputs missing',
        1,
        'stack "NotMetaflow" lacks the required output(s) MetaflowDatastoreSysrootS3 (DATASTORE_SYSROOT_S3), MetaflowBatchJobQueue (BATCH_JOB_QUEUE)',
        ['--stack-name', 'NotMetaflow'],
        {},
      ],
      [
        'secret missing',
        1,
        "cannot read the API key secret arn:aws:secretsmanager:us-east-1:123456789012:secret:deleted-AbCdEf: ResourceNotFoundException: Secrets Manager can't find the specified secret.",
        ['--stack-name', 'SecretGone'],
        {},
      ],
      ['no region', 2, 'no AWS region: pass --region, or set AWS_REGION', [], { AWS_REGION: undefined }],
      ['no credentials', 2, 'no AWS credentials found: set AWS_PROFILE', [], { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }],
      ['a wrong --region', 2, 'stack "Metaflow" not found in region eu-west-1', ['--region', 'eu-west-1'], {}],
    ])('%s: exit %i, one clear line, nothing written', (_name, code, message, args, env) => {
      const res = configure(args, env);
      expect(res.code).toBe(code);
      expect(res.stderr).toMatch(/^metaflow-cdk: [^\n]*\n$/);
      expect(res.stderr).toContain(message);
      expect(existsSync(home())).toBe(false);
    });
  },
  ['--help'],
);

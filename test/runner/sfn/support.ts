/** Shared fixtures of the Step Functions deployer tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AwsClients } from '../../../runner/aws/clients';
import { readMetaflowConfig } from '../../../runner/config/metaflow-config';
import { SfnContext, SfnSettings } from '../../../runner/sfn';
import { MOTO_CLIENT_CONFIG, motoEnv, MotoServer, workerMoto } from '../../support/moto';

export const ACCOUNT = '123456789012';
export const PREFIX = 'mfstack';
export const ROLE = `arn:aws:iam::${ACCOUNT}:role/sfn-role`;
export const EVENTS_ROLE = `arn:aws:iam::${ACCOUNT}:role/events-role`;
export const LOG_GROUP = `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/metaflow/sfn`;

/** The config the stack writes for Step Functions, as METAFLOW_* variables, with `overrides` (undefined removes a key). */
export function sfnEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    METAFLOW_HOME: mkdtempSync(join(tmpdir(), 'mf-sfn-')),
    METAFLOW_SFN_STATE_MACHINE_PREFIX: PREFIX,
    METAFLOW_SFN_IAM_ROLE: ROLE,
    METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE: EVENTS_ROLE,
    METAFLOW_SFN_EXECUTION_LOG_GROUP_ARN: LOG_GROUP,
    METAFLOW_SFN_DYNAMO_DB_TABLE: 'mf-sfn-table',
    ...overrides,
  };
  for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
  return env as NodeJS.ProcessEnv;
}

export function sfnSettingsFor(overrides: Record<string, string | undefined> = {}): SfnSettings {
  return new SfnSettings(readMetaflowConfig(sfnEnv(overrides)));
}

/** A definition moto's Step Functions can run: two Pass states. */
export const PASS_DEFINITION = {
  Comment: 'test flow',
  StartAt: 'start',
  States: {
    start: { Type: 'Pass', Result: { x: 1 }, ResultPath: '$.start', Next: 'end' },
    end: { Type: 'Pass', End: true },
  },
} as const;

/** A moto_server that executes state machines, clients on it, and a deployer context with the stack's settings. */
export interface SfnMoto {
  readonly moto: MotoServer;
  readonly aws: AwsClients;
  readonly ctx: SfnContext;
  stop(): Promise<void>;
}

export async function startSfnMoto(): Promise<SfnMoto> {
  const moto = await workerMoto();
  await moto.configure({ stepfunctions: { execute_state_machine: true } });
  const aws = new AwsClients({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, maxAttempts: 2 });
  return {
    moto,
    aws,
    ctx: { sfn: aws.sfn, events: aws.events, settings: sfnSettingsFor() },
    async stop() {
      aws.destroy();
      await moto.stop();
    },
  };
}

/** Point the SDK's usual settings (what the CLI's commands use) at moto_server. */
export function useMotoForSdk(endpoint: string): void {
  Object.assign(process.env, motoEnv({ endpoint }));
}

/** The CLI in-process (main()) on the S3 datastore at `root`: exit code, stdout, stderr. */
export async function datastoreCli(root: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = require('../../../runner/cli/main') as typeof import('../../../runner/cli/main');
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'metaflow-cdk', ...args, '--datastore', 's3', '--datastore-root', root], {
    stdout: { write: (s: string) => ((stdout += s), true) } as unknown as NodeJS.WritableStream,
    stderr: { write: (s: string) => ((stderr += s), true) } as unknown as NodeJS.WritableStream,
    env: process.env,
  });
  return { code, stdout, stderr };
}

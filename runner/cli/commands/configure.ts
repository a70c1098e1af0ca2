import { Command } from 'commander';
import { EXIT_CODES } from '../../errors';
import type { CommandContext } from './index';

interface ConfigureFlags {
  stackName?: string;
  profile?: string;
  force?: boolean;
  region?: string;
  print?: boolean;
  team?: string;
}

/** `metaflow-cdk configure`: write the Metaflow client config from the deployed stack. */
export function registerConfigure(program: Command, context: CommandContext): void {
  program
    .command('configure')
    .description(
      "Write the Metaflow client config ($METAFLOW_HOME/config.json) from the deployed stack's outputs and API key secret",
    )
    // The default is stated here rather than imported: importing config/configure loads the AWS SDK
    // clients, which would cost every other command ~70 ms of start-up
    // (test/package/cli-startup.test.ts checks that the two agree).
    .option('--stack-name <name>', 'name of the deployed CloudFormation stack (default: "Metaflow")')
    .option('--profile <profile>', 'write config_<profile>.json (use with METAFLOW_PROFILE=<profile>)')
    .option('--force', 'replace an existing config file (a backup copy is kept)')
    .option('--region <region>', 'AWS region of the stack (default: the AWS SDK region chain, e.g. AWS_REGION)')
    .option('--team <name>', "write that team's profile: its job role, datastore roots, fair-share queues (BATCH_TEAM_JOB_QUEUE, BATCH_TEAM_JOB_QUEUE_GPU) and TEAM")
    .option('--print', 'print the config JSON (API key masked) instead of writing the file')
    .action(async (flags: ConfigureFlags) => {
      // Loaded here, when the command runs, so that no other command pays for the AWS SDK.
      const { configureMetaflow, DEFAULT_STACK_NAME } = require('../../config/configure') as typeof import('../../config/configure');
      const { defaultAwsClients } = require('../../config/stack-outputs') as typeof import('../../config/stack-outputs');
      const result = await configureMetaflow(
        {
          stackName: flags.stackName ?? DEFAULT_STACK_NAME,
          profile: flags.profile,
          force: flags.force === true,
          print: flags.print === true,
          team: flags.team,
          env: context.env,
        },
        defaultAwsClients(flags.region ?? regionFromCliEnvironment(context.env)),
      );
      for (const warning of result.warnings) context.stderr.write(`metaflow-cdk: warning: ${warning}\n`);
      if (result.printed !== undefined) {
        context.stdout.write(result.printed);
      } else {
        if (result.backupPath) context.stdout.write(`Backed up the previous config to ${result.backupPath}\n`);
        context.stdout.write(`Wrote ${result.path} (mode 0600) with ${result.keys.length} keys:\n`);
        for (const key of result.keys) context.stdout.write(`  ${key}\n`);
        if (flags.profile) context.stdout.write(`Use it with: export METAFLOW_PROFILE=${flags.profile}\n`);
      }
      context.setExitCode(EXIT_CODES.SUCCESS);
    });
}

/**
 * The JavaScript SDK reads AWS_REGION but not AWS_DEFAULT_REGION, which the AWS CLI users often
 * set; honour it as the CLI does (after AWS_REGION, before the profile's region).
 */
function regionFromCliEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  return env.AWS_REGION ? undefined : env.AWS_DEFAULT_REGION || undefined;
}

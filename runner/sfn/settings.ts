/**
 * What the Step Functions deployer needs from the Metaflow config (or flags), read through the one
 * config reader. Each key is required only by the operation that uses it (a missing key is one
 * line naming it): SFN_IAM_ROLE by deploy, EVENTS_SFN_ACCESS_IAM_ROLE by schedule,
 * SFN_DYNAMO_DB_TABLE by the compiler (foreach joins); SFN_STATE_MACHINE_PREFIX by every command
 * (names), SFN_EXECUTION_LOG_GROUP_ARN is optional (logging on when set).
 */
import { describeValue } from '../../core/describe-value';
import { MetaflowConfig, requireConfigValue } from '../config/metaflow-config';
import { UserInputError } from '../errors';
import { checkStateMachinePrefix, parseRoleArn } from './names';

/** Flags that replace config keys. */
export interface SfnSettingFlags {
  /** Replaces SFN_STATE_MACHINE_PREFIX. */
  readonly prefix?: string;
  /** Replaces SFN_IAM_ROLE. */
  readonly role?: string;
  /** Replaces EVENTS_SFN_ACCESS_IAM_ROLE. */
  readonly eventsRole?: string;
  /** Replaces SFN_EXECUTION_LOG_GROUP_ARN. */
  readonly logGroupArn?: string;
  /** Replaces SFN_DYNAMO_DB_TABLE. */
  readonly dynamoDbTable?: string;
}

const LOG_GROUP_ARN = /^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:[\w./#-]{1,512}(:\*)?$/;

/** Step Functions settings, each read (and checked) when first used. */
export class SfnSettings {
  constructor(
    private readonly config: MetaflowConfig,
    private readonly flags: SfnSettingFlags = {},
  ) {}

  /** SFN_STATE_MACHINE_PREFIX: state machines are `<prefix>_<flow>`. */
  get prefix(): string {
    return checkStateMachinePrefix(requireConfigValue(this.config, 'SFN_STATE_MACHINE_PREFIX', '--prefix', this.flags.prefix));
  }

  /** SFN_IAM_ROLE: the role state machines run as (its account is the state machines' account). */
  get roleArn(): string {
    const arn = requireConfigValue(this.config, 'SFN_IAM_ROLE', '--role', this.flags.role);
    parseRoleArn('SFN_IAM_ROLE', arn);
    return arn;
  }

  /** EVENTS_SFN_ACCESS_IAM_ROLE: the role EventBridge schedules start executions with. */
  get eventsRoleArn(): string {
    const arn = requireConfigValue(this.config, 'EVENTS_SFN_ACCESS_IAM_ROLE', '--events-role', this.flags.eventsRole);
    parseRoleArn('EVENTS_SFN_ACCESS_IAM_ROLE', arn);
    return arn;
  }

  /** SFN_DYNAMO_DB_TABLE: the table foreach joins use (read by the compiler). */
  get dynamoDbTable(): string {
    const table = requireConfigValue(this.config, 'SFN_DYNAMO_DB_TABLE', '--dynamo-db-table', this.flags.dynamoDbTable);
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(table)) {
      throw new UserInputError(`SFN_DYNAMO_DB_TABLE must be a DynamoDB table name (3–255 of [A-Za-z0-9_.-]), got ${describeValue(table)}`);
    }
    return table;
  }

  /**
   * SFN_EXECUTION_LOG_GROUP_ARN in the form Step Functions logging takes (ending in `:*`), or
   * undefined when not configured (logging off).
   */
  get logGroupArn(): string | undefined {
    const arn = this.flags.logGroupArn || this.config.profile.SFN_EXECUTION_LOG_GROUP_ARN;
    if (arn === undefined) return undefined;
    if (!LOG_GROUP_ARN.test(arn)) {
      throw new UserInputError(
        `SFN_EXECUTION_LOG_GROUP_ARN must be a CloudWatch Logs log group ARN (arn:<partition>:logs:<region>:<account>:log-group:<name>), got ${describeValue(arn)}`,
      );
    }
    return arn.endsWith(':*') ? arn : `${arn}:*`;
  }
}

import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { invalidProp } from '../validation';
import {
  ALL_METAFLOW_CONFIG_KEYS,
  METAFLOW_CONFIG_KEYS,
  METAFLOW_STACK_OUTPUTS,
  MetaflowProfile,
  metaflowEnvName,
  metaflowOutputId,
  SECRET_METAFLOW_CONFIG_KEYS,
  toMetaflowConfigFile,
} from '../../core/metaflow-config-keys';

/** Properties of {@link MetaflowConfigOutputs}. */
export interface MetaflowConfigOutputsProps {
  /** The Metaflow configuration the stack determines (values may be CDK tokens). */
  readonly profile: MetaflowProfile;

  /**
   * Name of the SSM parameter that holds the whole profile as JSON.
   *
   * @default `/metaflow/<stack name>/profile`
   */
  readonly parameterName?: string;
}

/**
 * The stack outputs that form a Metaflow client configuration: one output per key (output id
 * from the shared config-keys module, description naming the key), the whole profile as one JSON
 * output, and the same JSON in an SSM parameter. Secret keys are refused: they stay in their
 * secrets.
 */
export class MetaflowConfigOutputs extends Construct {
  /** The SSM parameter holding the profile JSON. */
  public readonly parameter: ssm.StringParameter;
  /** The outputs, by config key. */
  public readonly outputs: Partial<Record<keyof MetaflowProfile, CfnOutput>> = {};

  constructor(scope: Construct, id: string, props: MetaflowConfigOutputsProps) {
    super(scope, id);
    const stack = Stack.of(this);
    for (const key of Object.keys(props.profile)) {
      if (!(ALL_METAFLOW_CONFIG_KEYS as string[]).includes(key)) {
        invalidProp(this, 'profile', key, `a Metaflow config key (${ALL_METAFLOW_CONFIG_KEYS.join(', ')})`);
      }
      if ((SECRET_METAFLOW_CONFIG_KEYS as string[]).includes(key)) {
        invalidProp(this, `profile.${key}`, '<secret>', 'left out: secret values stay in Secrets Manager, never in outputs');
      }
    }

    for (const key of ALL_METAFLOW_CONFIG_KEYS) {
      const value = props.profile[key];
      if (value === undefined) continue;
      const output = new CfnOutput(this, metaflowOutputId(key), {
        value,
        description: `${metaflowEnvName(key)}: ${METAFLOW_CONFIG_KEYS[key]}`,
      });
      output.overrideLogicalId(metaflowOutputId(key));
      this.outputs[key] = output;
    }

    const profileJson = stack.toJsonString(toMetaflowConfigFile(props.profile));
    const profileOutput = new CfnOutput(this, METAFLOW_STACK_OUTPUTS.PROFILE_JSON, {
      value: profileJson,
      description: 'The whole Metaflow profile as JSON (METAFLOW_* keys; the API key excluded)',
    });
    profileOutput.overrideLogicalId(METAFLOW_STACK_OUTPUTS.PROFILE_JSON);

    this.parameter = new ssm.StringParameter(this, 'ProfileParameter', {
      parameterName: props.parameterName ?? `/metaflow/${stack.stackName}/profile`,
      description: 'Metaflow client profile (METAFLOW_* keys; the API key is in its own secret)',
      stringValue: profileJson,
    });
  }
}

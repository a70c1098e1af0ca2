/**
 * FlowStateMachine's EventBridge rules: one per trigger (runner/sfn/triggers.ts, the same
 * patterns and input transformers `sfn deploy --trigger` puts) and the status rule whose target,
 * the run status recorder (runner/sfn/run-status-rule.ts), writes the final status of runs that
 * ended outside their own states. Each rule's target role is made for it by aws-events-targets
 * and may `states:StartExecution` on its one target state machine only; the recorder's role may
 * read and write `<sysroot>/<flow>/*\/run.json` and nothing else (plus logging and tracing).
 */
import { ArnFormat, CfnResource, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { stateMachineName } from '../../core/state-machine-names';
import type { FlowSpec, FlowTrigger } from '../../runner/flow/model';
import { runStatusEventPattern, runStatusInputTransformer, runStatusRecorderDefinition } from '../../runner/sfn/run-status-rule';
import { TriggerRule, triggerRule } from '../../runner/sfn/triggers';
import { IMetaflowDatastore } from '../datastore/metaflow-datastore';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';

/**
 * sfn.StateMachine makes the state machine depend on its role (and the role's policy); the
 * role's is implied by `RoleArn`'s GetAtt and cfn-lint warns about it (W3005). The policy's stays,
 * so the state machine is created only once its role may do what the definition calls.
 */
export function dropRoleDependsOn(stateMachine: sfn.StateMachine): void {
  const machine = stateMachine.node.defaultChild as CfnResource;
  const role = stateMachine.role.node.defaultChild;
  if (!CfnResource.isCfnResource(role)) return;
  machine.addOverride('DependsOn', Lazy.list({
    produce: () => machine.obtainDependencies()
      .filter((d): d is CfnResource => CfnResource.isCfnResource(d) && d !== role)
      .map((d) => d.logicalId)
      .sort(),
  }, { omitEmpty: true }));
}

/** A target input that is exactly an EventBridge input transformer (InputPathsMap + InputTemplate). */
class TransformerInput extends events.RuleTargetInput {
  constructor(private readonly transformer: TriggerRule['inputTransformer']) {
    super();
  }

  bind(): events.RuleTargetInputProperties {
    if (Object.keys(this.transformer.InputPathsMap).length === 0) return { input: this.transformer.InputTemplate };
    return { inputPathsMap: this.transformer.InputPathsMap, inputTemplate: this.transformer.InputTemplate };
  }
}

/** aws-events' camelCase pattern from EventBridge's JSON pattern. */
function eventPattern(pattern: Record<string, unknown>): events.EventPattern {
  const { source, 'detail-type': detailType, detail } = pattern as { source: string[]; 'detail-type'?: string[]; detail?: Record<string, unknown> };
  return { source, ...(detailType ? { detailType } : {}), ...(detail ? { detail } : {}) };
}

/** One rule per trigger, each targeting `machine` with the trigger's input transformer. */
export function addTriggerRules(
  scope: Construct,
  machine: sfn.IStateMachine,
  flow: FlowSpec,
  prefix: string,
  triggers: readonly FlowTrigger[],
  removalPolicy: RemovalPolicy,
): events.Rule[] {
  const stack = Stack.of(scope);
  const stateMachineArnOf = (other: string) => stack.formatArn({ service: 'states', resource: 'stateMachine', resourceName: stateMachineName(prefix, other), arnFormat: ArnFormat.COLON_RESOURCE_NAME });
  return triggers.map((trigger, i) => {
    const rule = triggerRule(trigger, flow, { stateMachineArnOf });
    const created = new events.Rule(scope, `Trigger${i + 1}`, {
      description: rule.description,
      eventPattern: eventPattern(rule.eventPattern),
      targets: [new targets.SfnStateMachine(machine, { input: new TransformerInput(rule.inputTransformer) })],
    });
    created.applyRemovalPolicy(removalPolicy);
    return created;
  });
}

/** Properties of a {@link RunStatusRecorder} (FlowStateMachine passes its own). */
export interface RunStatusRecorderProps {
  /** The flow's name: run records are `<sysroot>/<flow>/<run>/run.json`. */
  readonly flow: string;
  /** The flow's state machine, whose status change events the rule matches. */
  readonly machine: sfn.IStateMachine;
  /** The datastore holding the run records. */
  readonly datastore: IMetaflowDatastore;
  /** Where the recorder's executions are logged. */
  readonly logGroup: logs.ILogGroup;
  /** Log execution data (run records hold the parameters). */
  readonly includeExecutionData: boolean;
  /** What deleting the stack does to the recorder and the rule. */
  readonly removalPolicy: RemovalPolicy;
}

/** The status rule of a flow's state machine and its run status recorder (an Express state machine). */
export class RunStatusRecorder extends Construct {
  /** The Express state machine that writes the final status into the run record. */
  public readonly recorder: sfn.StateMachine;
  /** The rule on the flow's "Step Functions Execution Status Change" events (FAILED, TIMED_OUT, ABORTED). */
  public readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: RunStatusRecorderProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const { datastore } = props;
    this.recorder = new sfn.StateMachine(this, 'Recorder', {
      stateMachineType: sfn.StateMachineType.EXPRESS,
      definitionBody: sfn.DefinitionBody.fromString(JSON.stringify(runStatusRecorderDefinition(stack.partition))),
      logs: { destination: props.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: props.includeExecutionData },
      tracingEnabled: true,
      removalPolicy: props.removalPolicy,
    });
    dropRoleDependsOn(this.recorder);
    const records = datastore.bucket.arnForObjects(`${datastore.sysrootPrefix ? `${datastore.sysrootPrefix}/` : ''}${props.flow}/*/run.json`);
    this.recorder.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [records] }));
    if (datastore.encryptionKey) {
      this.recorder.addToRolePolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [datastore.encryptionKey.keyArn] }));
    }
    acknowledge(this.recorder.role, [wildcardResourceFinding(this, records)], 'The recorder reads and writes the run records of this flow only; run ids are execution names Step Functions or EventBridge choose.');
    acknowledge(this.recorder.role, [wildcardResourceFinding(this, '*')], 'The CloudWatch Logs delivery APIs and X-Ray trace uploads support no resource-level permissions.');

    this.rule = new events.Rule(this, 'Rule', {
      description: 'Records how runs ended when they end outside their own states (stopped, timed out, failed)',
      eventPattern: eventPattern(runStatusEventPattern(props.machine.stateMachineArn)),
      targets: [new targets.SfnStateMachine(this.recorder, {
        input: new TransformerInput(runStatusInputTransformer({ bucket: datastore.bucket.bucketName, prefix: datastore.sysrootPrefix }, props.flow)),
      })],
    });
    this.rule.applyRemovalPolicy(props.removalPolicy);
  }
}

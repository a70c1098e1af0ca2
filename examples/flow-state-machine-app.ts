/**
 * A CDK app that deploys examples/hello.ts as a Step Functions state machine, next to the pieces
 * of the Metaflow stack it runs on: network, datastore, Batch compute and Step Functions support.
 * The flow is compiled by the same compiler as `metaflow-cdk sfn compile`, and runs every day at
 * 06:00 UTC.
 *
 *   npx cdk synth --app "npx tsx examples/flow-state-machine-app.ts"
 *   npx cdk deploy --app "npx tsx examples/flow-state-machine-app.ts"
 *
 * In a stack of your own, pass the MetaflowStack's `datastore`, `compute` and `stepFunctions` the
 * same way, or import them with `MetaflowBatchCompute.fromAttributes` and
 * `MetaflowStepFunctionsSupport.fromAttributes`.
 */
import { App, AppProps, CfnOutput, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import {
  FlowStateMachine,
  MetaflowBatchCompute,
  MetaflowDatastore,
  MetaflowNetwork,
  MetaflowStepFunctionsSupport,
} from '../lib';
import hello from './hello';

/** The example app, its stack and the flow's state machine. */
export interface FlowStateMachineApp {
  readonly app: App;
  readonly stack: Stack;
  readonly hello: FlowStateMachine;
}

/** Build the app (tests pass an outdir and the feature flags of cdk.json). */
export function buildFlowStateMachineApp(props: AppProps = {}): FlowStateMachineApp {
  const app = new App(props);
  const stack = new Stack(app, 'HelloFlowStack', { description: 'metaflow-cdk example: HelloFlow on AWS Step Functions' });

  const network = new MetaflowNetwork(stack, 'Network', { natGateways: 1 });
  const datastore = new MetaflowDatastore(stack, 'Datastore');
  const compute = new MetaflowBatchCompute(stack, 'Compute', {
    vpc: network.vpc,
    vpcSubnets: network.computeSubnets,
    datastore,
  });
  const support = new MetaflowStepFunctionsSupport(stack, 'StepFunctions', { compute, datastore });

  const flow = new FlowStateMachine(stack, 'HelloFlow', {
    flow: hello,
    datastore,
    compute,
    support,
    parameters: { name: 'Step Functions' },
    // Fargate jobs need a public IP only where compute sits in public subnets without NAT.
    assignPublicIp: network.computeNeedsPublicIp,
    schedule: events.Schedule.cron({ minute: '0', hour: '6' }),
  });

  new CfnOutput(stack, 'StateMachineArn', { value: flow.stateMachineArn, description: 'Start a run: aws stepfunctions start-execution --state-machine-arn <this>' });
  new CfnOutput(stack, 'StateMachinePrefix', { value: support.stateMachinePrefix, description: 'METAFLOW_SFN_STATE_MACHINE_PREFIX for `metaflow-cdk sfn status|list`' });
  return { app, stack, hello: flow };
}

if (require.main === module) {
  buildFlowStateMachineApp().app.synth();
}

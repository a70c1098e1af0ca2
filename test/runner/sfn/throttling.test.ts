/**
 * Throttling on EVERY Step Functions and EventBridge operation the deployer uses: each answers
 * ThrottlingException twice before it answers; the SDK retry strategy configured once in
 * runner/aws/clients.ts absorbs it (the deployer has no retry loop of its own).
 */
import { AwsClients } from '../../../runner/aws/clients';
import {
  deleteStateMachine,
  deployStateMachine,
  executionStatus,
  listStateMachines,
  scheduleStateMachine,
  triggerExecution,
} from '../../../runner/sfn';
import { AwsFailure, throttlingHandler } from '../batch/throttling-http';
import { ACCOUNT, PASS_DEFINITION, PREFIX, sfnSettingsFor } from './support';

const THROTTLES = 2;
const NAME = `${PREFIX}_HelloFlow`;
const ARN = `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:${NAME}`;
const EXEC = `arn:aws:states:us-east-1:${ACCOUNT}:execution:${NAME}:sfn-1`;

function sfnAnswer(operation: string): unknown {
  switch (operation) {
    case 'AWSStepFunctions.DescribeStateMachine':
      return { stateMachineArn: ARN, name: NAME, status: 'ACTIVE', definition: '{}', roleArn: 'r', type: 'STANDARD', creationDate: 1 };
    case 'AWSStepFunctions.UpdateStateMachine':
      return { updateDate: 1 };
    case 'AWSStepFunctions.TagResource':
    case 'AWSStepFunctions.DeleteStateMachine':
      return {};
    case 'AWSStepFunctions.StartExecution':
      return { executionArn: EXEC, startDate: 1 };
    case 'AWSStepFunctions.DescribeExecution':
      return { executionArn: EXEC, stateMachineArn: ARN, name: 'sfn-1', status: 'SUCCEEDED', startDate: 1 };
    case 'AWSStepFunctions.GetExecutionHistory':
      return { events: [{ id: 1, type: 'PassStateEntered', timestamp: 1, stateEnteredEventDetails: { name: 'start' } }, { id: 2, previousEventId: 1, type: 'PassStateExited', timestamp: 2, stateExitedEventDetails: { name: 'start' } }] };
    case 'AWSStepFunctions.ListStateMachines':
      return { stateMachines: [{ stateMachineArn: ARN, name: NAME, type: 'STANDARD', creationDate: 1 }] };
    case 'AWSStepFunctions.ListExecutions':
      return { executions: [] };
    default:
      throw new Error(`unexpected operation ${operation}`);
  }
}

function eventsAnswer(operation: string, body: Record<string, unknown>): unknown {
  switch (operation) {
    case 'AWSEvents.PutRule':
      return { RuleArn: `arn:aws:events:us-east-1:${ACCOUNT}:rule/${NAME}` };
    case 'AWSEvents.PutTargets':
    case 'AWSEvents.RemoveTargets':
      return { FailedEntryCount: 0, FailedEntries: [] };
    case 'AWSEvents.ListTargetsByRule':
      // the state machine has a schedule and a status rule, no trigger rules
      return String(body.Rule).includes('.trigger-') ? new AwsFailure('ResourceNotFoundException') : { Targets: [{ Id: 't', Arn: ARN }] };
    case 'AWSEvents.DeleteRule':
      return {};
    default:
      throw new Error(`unexpected operation ${operation}`);
  }
}

test('every Step Functions and EventBridge operation, throttled twice, still succeeds', async () => {
  const sfnHttp = throttlingHandler(THROTTLES, sfnAnswer, 'json-1.1');
  const eventsHttp = throttlingHandler(THROTTLES, eventsAnswer, 'json-1.1');
  const options = { region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, retryMode: 'standard' as const, maxAttempts: THROTTLES + 1 };
  const sfnClients = new AwsClients({ ...options, requestHandler: sfnHttp });
  const eventsClients = new AwsClients({ ...options, requestHandler: eventsHttp });
  const ctx = { sfn: sfnClients.sfn, events: eventsClients.events, settings: sfnSettingsFor() };
  try {
    // Independent operations at once, so the SDK's backoff delays overlap.
    const [deployed, triggered, status, listed, scheduled, deleted] = await Promise.all([
      deployStateMachine(ctx, NAME, PASS_DEFINITION, { flow: 'HelloFlow', deployedBy: 'ci' }),
      triggerExecution(ctx, NAME, {}),
      executionStatus(ctx, EXEC),
      listStateMachines(ctx),
      scheduleStateMachine(ctx, NAME, 'rate(1 hour)'),
      deleteStateMachine(ctx, NAME),
    ]);
    expect(deployed).toEqual({ stateMachineArn: ARN, created: false });
    expect(triggered.executionArn).toBe(EXEC);
    expect(status.states).toMatchObject([{ name: 'start', status: 'SUCCEEDED' }]);
    expect(listed.map((s) => s.name)).toEqual([NAME]);
    expect(scheduled.ruleName).toBe(NAME);
    expect(deleted).toEqual({ stateMachineArn: ARN, unscheduled: true, eventRulesRemoved: 1 });
  } finally {
    sfnClients.destroy();
    eventsClients.destroy();
  }
  // Per operation: its two throttled requests plus one answered request per call (deploy,
  // schedule and delete each describe the state machine).
  const answered = (calls: number) => THROTTLES + calls;
  expect(Object.fromEntries(sfnHttp.requests)).toEqual({
    'AWSStepFunctions.DescribeStateMachine': answered(3),
    'AWSStepFunctions.UpdateStateMachine': answered(1),
    'AWSStepFunctions.TagResource': answered(1),
    'AWSStepFunctions.StartExecution': answered(1),
    'AWSStepFunctions.DescribeExecution': answered(1),
    'AWSStepFunctions.GetExecutionHistory': answered(1),
    'AWSStepFunctions.ListStateMachines': answered(1),
    'AWSStepFunctions.ListExecutions': answered(1),
    'AWSStepFunctions.DeleteStateMachine': answered(1),
  });
  expect(Object.fromEntries(eventsHttp.requests)).toEqual({
    'AWSEvents.PutRule': answered(1),
    'AWSEvents.PutTargets': answered(1),
    // delete removes the schedule and the status rule, and finds no trigger-1
    'AWSEvents.ListTargetsByRule': answered(3),
    'AWSEvents.RemoveTargets': answered(2),
    'AWSEvents.DeleteRule': answered(2),
  });
});

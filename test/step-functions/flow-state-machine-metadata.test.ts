/**
 * FlowStateMachine with a metadata service (issue 16): every job of the deployed machine
 * registers its task with the service's internal URL (MF_METADATA_REGISTER, as `sfn deploy` does
 * with a service in the Metaflow config), a deploy-time URL (a token) included, and the code
 * package carries the flow's graph (_mfcdk/graph-info.json) for the UI's DAG.
 */
import { Fn, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MetaflowBatchCompute } from '../../lib/compute/metaflow-batch-compute';
import { MetaflowDatastore } from '../../lib/datastore/metaflow-datastore';
import { MetaflowMetadataService } from '../../lib/metadata/metaflow-metadata-service';
import { FlowStateMachine, FlowStateMachineProps } from '../../lib/step-functions/flow-state-machine';
import { MetaflowValidationError } from '../../lib/validation';
import { defineFlow } from '../../runner/flow/model';
import { emptyStack } from '../support/synth';

const sh = (script: string) => ['/bin/sh', '-c', script];
const flow = defineFlow({
  name: 'RegFlow',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true') },
  ],
});

function fixture(internalUrl: string) {
  const stack = emptyStack();
  const datastore = MetaflowDatastore.fromBucketName(stack, 'Datastore', 'flows-bucket', { sysrootPrefix: 'metaflow' });
  const compute = MetaflowBatchCompute.fromAttributes(stack, 'Compute', {
    defaultQueueArn: 'arn:aws:batch:us-east-1:123456789012:job-queue/default',
    jobRoleArn: 'arn:aws:iam::123456789012:role/job',
  });
  const metadataService = MetaflowMetadataService.fromAttributes(stack, 'Metadata', {
    url: 'https://api.example.com/prod/',
    internalUrl,
    apiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:key-AbCdEf',
  });
  const base: FlowStateMachineProps = { flow, datastore, compute, stateMachinePrefix: 'reg' };
  return { stack, metadataService, base };
}

/** Each Batch job's environment overrides, by state name. */
function jobEnvironments(machine: FlowStateMachine): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const visit = (states: Record<string, any>) => {
    for (const [name, state] of Object.entries(states)) {
      if (typeof state.Resource === 'string' && state.Resource.includes('batch:submitJob')) {
        out[name] = Object.fromEntries((state.Parameters.ContainerOverrides.Environment as { Name: string; Value: string }[]).map((e) => [e.Name, e.Value]));
      }
      if (state.ItemProcessor) visit(state.ItemProcessor.States);
      for (const branch of state.Branches ?? []) visit(branch.States);
    }
  };
  visit(machine.definition.States as Record<string, any>);
  return out;
}

test('every job registers with the internal URL, as the given user; without a service none does', () => {
  const { stack, metadataService, base } = fixture('http://internal-nlb.example.com/');
  const registered = new FlowStateMachine(stack, 'Registered', { ...base, metadataService, metadataUser: 'ada' });
  const envs = jobEnvironments(registered);
  expect(Object.keys(envs).sort()).toEqual(['end', 'start']);
  for (const env of Object.values(envs)) {
    expect(env).toMatchObject({ MF_METADATA_REGISTER: '1', METAFLOW_SERVICE_URL: 'http://internal-nlb.example.com/', METAFLOW_USER: 'ada' });
    expect(env.METAFLOW_SERVICE_AUTH_KEY).toBeUndefined(); // the internal URL needs no key
  }
  const plain = new FlowStateMachine(stack, 'Plain', { ...base, stateMachinePrefix: 'plain' });
  for (const env of Object.values(jobEnvironments(plain))) expect(env.MF_METADATA_REGISTER).toBeUndefined();
  // The registered machine's package carries the graph, so it is another package.
  expect(registered.codePackage!.sha1).not.toBe(plain.codePackage!.sha1);
});

test('a deploy-time internal URL (a token) is put back into the definition', () => {
  const { stack, metadataService, base } = fixture(Fn.join('', ['http://', Fn.importValue('MetadataNlbDns'), '/']));
  const machine = new FlowStateMachine(stack, 'Registered', { ...base, metadataService, metadataUser: 'ada' });
  const machines = Template.fromStack(Stack.of(machine)).findResources('AWS::StepFunctions::StateMachine');
  const definition = JSON.stringify(Object.values(machines).map((m) => m.Properties.DefinitionString));
  expect(definition).toContain('"Fn::ImportValue":"MetadataNlbDns"');
  expect(definition).not.toContain('mfcdkstandin');
});

test.each([
  ['a metadataUser with a colon', { metadataUser: 'ada:x' }, /metadataUser must be a user name of 1–64 characters without spaces, commas, colons or slashes .*got "ada:x"/],
  ['a metadataUser without a metadataService', { metadataUser: 'ada', noService: true }, /metadataUser must be left unset without metadataService .*got "ada"/],
])('%s is one line naming the prop and the value', (_what, extra, message) => {
  const { stack, metadataService, base } = fixture('http://internal-nlb.example.com/');
  const { noService, ...props } = extra as { metadataUser: string; noService?: boolean };
  let error: unknown;
  try {
    new FlowStateMachine(stack, 'Bad', { ...base, ...(noService ? {} : { metadataService }), ...props });
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MetaflowValidationError);
  expect((error as Error).message).toMatch(message);
});

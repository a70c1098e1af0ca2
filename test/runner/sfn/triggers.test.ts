/**
 * runner/sfn/triggers.ts and run-status-rule.ts without AWS: the `--trigger` syntax, every bad
 * trigger as one line, the rules' patterns and input transformers, the datastore loop check, the
 * rule names, and the run status recorder's definition executed (aws-local-stepfunctions) over
 * an in-memory run record. That the patterns match the events AWS documents, and that the
 * transformers give these inputs, is checked on moto's EventBridge in cli-deploy-triggers.test.ts.
 */
import { StateMachine } from 'aws-local-stepfunctions';
// Promise.withResolvers for aws-local-stepfunctions on older Node (set up there)
import './compiler-support';
import { defineFlow, FlowSpec } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import {
  eventRuleName,
  runStatusEventPattern,
  runStatusInputTransformer,
  runStatusRecorderDefinition,
  statusRuleName,
  triggerRuleName,
} from '../../../runner/sfn/run-status-rule';
import { datastoreLoopProblem, parseTriggerFlag, triggerProblems, triggerRule, unsetParameterProblems } from '../../../runner/sfn/triggers';

const steps: FlowSpec['steps'] = [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ['true'] }];
const flow = defineFlow({
  name: 'IngestFlow',
  parameters: { file: { type: 'string' }, bytes: { type: 'integer', default: 0 }, model: { type: 'string', default: 'm' }, flags: { type: 'json', default: {} } },
  steps,
});
const arnOf = (f: string) => `arn:aws:states:us-east-1:123456789012:stateMachine:mf_${f}`;

describe('--trigger syntax', () => {
  test.each([
    ['s3://in-bucket/incoming/', { s3: 's3://in-bucket/incoming/' }],
    ['s3://in-bucket/incoming/,file=key,bytes=size', { s3: 's3://in-bucket/incoming/', parameters: { file: 'key', bytes: 'size' } }],
    ['flow:TrainFlow,model=runId', { flow: 'TrainFlow', parameters: { model: 'runId' } }],
    ['event:com.example.models', { event: { source: 'com.example.models' } }],
    ['event:com.example.models/Model Published,model=$.detail.name', { event: { source: 'com.example.models', detailType: 'Model Published' }, parameters: { model: '$.detail.name' } }],
  ])('%s', (text, trigger) => {
    expect(parseTriggerFlag(text)).toEqual(trigger);
  });

  test.each([
    ['https://x/y', /^--trigger must start with s3:\/\/<bucket>\/<prefix>, flow:<FlowName> or event:<source>\[\/<detail type>\], got "https:\/\/x\/y"$/],
    ['s3://b/p/,file', /^--trigger "s3:\/\/b\/p\/,file": "file" must be <parameter>=<field> \(e\.g\. file=key\)$/],
    ['s3://b/p/,file=key,file=size', /^--trigger "s3:\/\/b\/p\/,file=key,file=size" maps parameter "file" twice$/],
  ])('%s is one line', (text, message) => {
    expect(() => parseTriggerFlag(text)).toThrow(message);
  });
});

describe('bad triggers are one line each', () => {
  test.each<[unknown, string]>([
    ['s3://b/p', 'flow triggers[0] must be one of {s3: "s3://bucket/prefix/"}, {flow: "OtherFlow"} or {event: {source, detailType}}, with optional parameters: {name: field}; got "s3://b/p"'],
    [{ s3: 's3://b/p', flow: 'X' }, 'flow triggers[0] must be one of'],
    [{ s3: 'bucket/prefix' }, 'flow triggers[0]: s3 must be an s3://<bucket>/<prefix> URL, got "bucket/prefix"'],
    [{ s3: 's3://Bad_Bucket/p/' }, 'flow triggers[0]: "Bad_Bucket" is not an S3 bucket name (3–63 of a-z, 0-9, "." and "-")'],
    [{ flow: 'IngestFlow' }, 'flow triggers[0]: flow "IngestFlow" is this flow: it would start itself after every run, for ever'],
    [{ flow: 'a b' }, 'flow triggers[0]: flow must be the name of a flow deployed under the same prefix, got "a b"'],
    [{ event: { source: '' } }, 'flow triggers[0]: event must be {source: "<1–256 characters>", detailType?: "<text>"}, got {"source":""}'],
    [{ event: { source: 'x', type: 'y' } }, 'flow triggers[0]: unknown event field "type" (an event has source, detailType)'],
    [{ s3: 's3://bucket/p/', when: 'now' }, 'flow triggers[0]: unknown field "when" (a trigger has s3, flow, event, parameters)'],
    [{ s3: 's3://bucket/p/', parameters: { nope: 'key' } }, 'flow triggers[0]: parameters maps unknown parameter "nope" (the flow has file, bytes, model, flags)'],
    [{ s3: 's3://bucket/p/', parameters: { file: 'name' } }, 'flow triggers[0]: parameter "file" must map to key, bucket, size, etag or a path into the event in dot notation ($.detail.field), got "name"'],
    [{ event: { source: 'x' }, parameters: { file: 'detail.name' } }, 'flow triggers[0]: parameter "file" must map to a path into the event in dot notation ($.detail.field), got "detail.name"'],
    [{ s3: 's3://bucket/p/', parameters: { bytes: 'key' } }, 'flow triggers[0]: parameter "bytes" is of type integer, but key is text: map it to a string parameter'],
    [{ s3: 's3://bucket/p/', parameters: { flags: 'size' } }, 'flow triggers[0]: parameter "flags" is of type json, but size is a number: map it to a number, integer or string parameter'],
  ])('%j', (trigger, line) => {
    const problems = triggerProblems('flow triggers[0]', trigger, flow);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(line);
    expect(problems[0]).not.toContain('\n');
  });

  test('the flow field: validateFlow reports each trigger\'s problem and accepts good ones', () => {
    const bad = validateFlow(defineFlow({ name: 'F', steps, triggers: [{ flow: 'F' }, { s3: 's3://ok-bucket/in/' }] }));
    expect(bad).toEqual({ ok: false, problems: ['flow triggers[0]: flow "F" is this flow: it would start itself after every run, for ever'] });
    expect(validateFlow(defineFlow({ name: 'F', steps, triggers: 'x' as never }))).toEqual({ ok: false, problems: ['flow triggers must be a list of triggers ({s3}, {flow} or {event}), got "x"'] });
    expect(validateFlow(defineFlow({ name: 'F', steps, triggers: [{ s3: 's3://ok-bucket/in/' }, { event: { source: 'a.b' } }] })).ok).toBe(true);
  });

  test('a parameter without a default that a trigger leaves unset', () => {
    expect(unsetParameterProblems('--trigger "s3://b/p/"', { s3: 's3://b/p/' }, flow, new Set())).toEqual([
      '--trigger "s3://b/p/" starts runs without parameter "file" (it has no default): map it to an event field or give it a value (--param file=…)',
    ]);
    expect(unsetParameterProblems('t', { s3: 's3://b/p/', parameters: { file: 'key' } }, flow, new Set())).toEqual([]);
    expect(unsetParameterProblems('t', { s3: 's3://b/p/' }, flow, new Set(['file']))).toEqual([]);
  });

  test('a prefix that overlaps the datastore root loops', () => {
    const root = { bucket: 'mf-data', prefix: 'metaflow' };
    const loop = (s3: string) => datastoreLoopProblem('t', { s3 }, root);
    expect(loop('s3://mf-data/metaflow/IngestFlow/')).toBe('t: s3://mf-data/metaflow/IngestFlow/ overlaps the datastore root s3://mf-data/metaflow: every run writes there, so each run would start another; use a prefix outside it');
    expect(loop('s3://mf-data/')).toMatch(/overlaps the datastore root/);
    expect(loop('s3://mf-data/meta')).toMatch(/overlaps the datastore root/);
    expect(loop('s3://mf-data/metaflow-inbox/')).toBeUndefined();
    expect(loop('s3://mf-data/incoming/')).toBeUndefined();
    expect(loop('s3://other/metaflow/')).toBeUndefined();
    expect(datastoreLoopProblem('t', { s3: 's3://mf-data/anything/' }, { bucket: 'mf-data', prefix: '' })).toMatch(/overlaps/);
  });
});

describe('rules', () => {
  test('S3: Object Created in the bucket under the prefix; a string parameter quoted, a number not', () => {
    const rule = triggerRule({ s3: 's3://in-bucket/incoming/', parameters: { file: 'key', bytes: 'size' } }, flow, { stateMachineArnOf: arnOf });
    expect(rule).toEqual({
      kind: 's3',
      description: 'starts flow IngestFlow when an object is created under s3://in-bucket/incoming/',
      eventPattern: { source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['in-bucket'] }, object: { key: [{ prefix: 'incoming/' }] } } },
      inputTransformer: { InputPathsMap: { file: '$.detail.object.key', bytes: '$.detail.object.size' }, InputTemplate: '{"Parameters": {"file": "<file>", "bytes": <bytes>}}' },
      s3: { bucket: 'in-bucket', prefix: 'incoming/' },
    });
    // the whole bucket: no key filter
    expect(triggerRule({ s3: 's3://in-bucket' }, flow, { stateMachineArnOf: arnOf }).eventPattern).toEqual({ source: ['aws.s3'], 'detail-type': ['Object Created'], detail: { bucket: { name: ['in-bucket'] } } });
  });

  test('flow: the other flow\'s state machine succeeded; without a mapping the input is {}', () => {
    expect(triggerRule({ flow: 'TrainFlow' }, flow, { stateMachineArnOf: arnOf })).toMatchObject({
      eventPattern: { source: ['aws.states'], 'detail-type': ['Step Functions Execution Status Change'], detail: { status: ['SUCCEEDED'], stateMachineArn: [arnOf('TrainFlow')] } },
      inputTransformer: { InputPathsMap: {}, InputTemplate: '{}' },
    });
  });

  test('event: source and detail type; paths as given', () => {
    expect(triggerRule({ event: { source: 'com.example', detailType: 'Model Published' }, parameters: { model: '$.detail.model', flags: '$.detail.flags' } }, flow, { stateMachineArnOf: arnOf })).toMatchObject({
      eventPattern: { source: ['com.example'], 'detail-type': ['Model Published'] },
      inputTransformer: { InputPathsMap: { model: '$.detail.model', flags: '$.detail.flags' }, InputTemplate: '{"Parameters": {"model": "<model>", "flags": <flags>}}' },
    });
  });

  test('names: <state machine>.<suffix>, within 64 characters, one base for every suffix', () => {
    expect(statusRuleName('mf_IngestFlow')).toBe('mf_IngestFlow.status');
    expect(triggerRuleName('mf_IngestFlow', 0)).toBe('mf_IngestFlow.trigger-1');
    const long = `${'p'.repeat(40)}_${'f'.repeat(40)}`;
    const names = [statusRuleName(long), triggerRuleName(long, 99)];
    names.forEach((n) => expect(n.length).toBeLessThanOrEqual(64));
    expect(triggerRuleName(long, 99).replace(/trigger-100$/, 'status')).toBe(statusRuleName(long));
    expect(eventRuleName(long, 'status')).not.toBe(eventRuleName(`${long.slice(0, -1)}g`, 'status'));
  });
});

describe('the run status rule and recorder', () => {
  test('pattern: this machine\'s executions that failed, timed out or were aborted', () => {
    expect(runStatusEventPattern('arn:sm')).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { status: ['ABORTED', 'TIMED_OUT', 'FAILED'], stateMachineArn: ['arn:sm'] },
    });
    expect(runStatusInputTransformer({ bucket: 'mf-data', prefix: 'metaflow' }, 'IngestFlow').InputTemplate)
      .toBe('{"bucket": "mf-data", "key": "metaflow/IngestFlow/<name>/run.json", "status": "<status>", "stoppedAt": "<time>", "executionArn": "<execution>"}');
    expect(runStatusInputTransformer({ bucket: 'mf-data', prefix: '' }, 'F').InputTemplate).toContain('"key": "F/<name>/run.json"');
  });

  const KEY = 'metaflow/IngestFlow/run-1/run.json';
  async function record(status: string, stored: Record<string, unknown> | undefined) {
    const objects = new Map<string, string>(stored ? [[KEY, JSON.stringify(stored)]] : []);
    const puts: string[] = [];
    const machine = new StateMachine(runStatusRecorderDefinition('aws') as never, { validationOptions: { checkPaths: true, checkArn: true } });
    const execution = machine.run({ bucket: 'mf-data', key: KEY, status, stoppedAt: '2026-12-05T10:00:00Z', executionArn: 'arn:x' } as never, {
      overrides: {
        taskResourceLocalHandlers: {
          Read: async (p: { Bucket: string; Key: string }) => {
            const body = objects.get(p.Key);
            if (body === undefined) throw Object.assign(new Error('NoSuchKey'), { name: 'S3.NoSuchKeyException' });
            return { Body: body };
          },
          Write: async (p: { Bucket: string; Key: string; Body: string }) => {
            expect(p.Bucket).toBe('mf-data');
            puts.push(p.Key);
            objects.set(p.Key, p.Body);
            return {};
          },
        } as never,
      },
    });
    await execution.result;
    return { puts, after: objects.has(KEY) ? JSON.parse(objects.get(KEY)!) : undefined };
  }
  const running = { flow: 'IngestFlow', runId: 'run-1', status: 'running', startedAt: '2026-12-05T09:00:00Z', parameters: { file: 'x' }, orchestrator: 'step-functions' };

  test.each([
    ['ABORTED', 'stopped', 'the execution was stopped (StopExecution)'],
    ['TIMED_OUT', 'timed out', "the execution timed out (the state machine's TimeoutSeconds)"],
    ['FAILED', 'failed', "the execution failed outside the run record's Catch"],
  ])('%s: a running record becomes %s, the rest kept', async (event, status, error) => {
    const { puts, after } = await record(event, running);
    expect(puts).toEqual([KEY]);
    expect(after).toEqual({ ...running, status, error, finishedAt: '2026-12-05T10:00:00Z' });
  });

  test('a record already final is left alone; a run without a record is skipped', async () => {
    const failed = { ...running, status: 'failed', error: 'States.TaskFailed' };
    expect(await record('FAILED', failed)).toEqual({ puts: [], after: failed });
    expect(await record('ABORTED', undefined)).toEqual({ puts: [], after: undefined });
  });
});

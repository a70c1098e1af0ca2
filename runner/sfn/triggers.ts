/**
 * Triggers: what starts a deployed flow — an S3 object created under a prefix, another deployed
 * flow that succeeded, or a custom EventBridge event — turned into an EventBridge rule's event
 * pattern and the input transformer that maps event fields to the flow's parameters. One module
 * for the three entry points: `sfn deploy --trigger` (parseTriggerFlag), the flow's `triggers`
 * field (flowTriggerProblems, called by validateFlow) and FlowStateMachine's `triggers` prop.
 * Pure: no AWS call, no CDK import.
 *
 * AWS facts this relies on:
 * - S3 → EventBridge "Object Created" events: `source` `aws.s3`, `detail.bucket.name`,
 *   `detail.object.key`, `detail.object.size`, `detail.object.etag`; sent only for buckets with
 *   EventBridge delivery turned on
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html,
 *   https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html).
 * - Step Functions "Step Functions Execution Status Change" events: `source` `aws.states`,
 *   `detail.stateMachineArn`, `detail.executionArn`, `detail.name`, `detail.status`; sent for
 *   Standard workflows, best-effort delivery
 *   (https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html,
 *   https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html).
 * - Event patterns: `prefix` matching on strings
 *   (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html).
 * - Input transformers: at most 100 variables (InputPathsMap, JSON dot notation, keys not starting
 *   with `aws.`), a template of at most 8,192 characters, placeholders never object keys
 *   (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html,
 *   https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html).
 */
import { describeValue } from '../../core/describe-value';
import type { FlowSpec, FlowTrigger, ParameterType } from '../flow/model';
import { parameterType } from '../flow/parameters';
import { FLOW_NAME_PATTERN } from '../limits';
import { UserInputError } from '../errors';

/** InputPathsMap holds at most 100 variables. */
export const INPUT_PATHS_MAX = 100;
/** InputTemplate is at most 8,192 characters. */
export const INPUT_TEMPLATE_MAX_LENGTH = 8192;
/** A path EventBridge's input transformer takes: JSON dot notation of letters, digits, `_` and `-`. */
const EVENT_PATH = /^\$(\.[A-Za-z0-9_-]+)+$/;
/** S3 bucket names: 3–63 of lower-case letters, digits, `.` and `-`. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A CDK token inside a string (FlowStateMachine may name the datastore bucket by token). */
const TOKEN = /\$\{Token\[/;

type FieldType = 'string' | 'number';
/** The named fields of each kind's event: path and JSON type. */
const NAMED_FIELDS: Record<'s3' | 'flow', Record<string, { path: string; type: FieldType }>> = {
  s3: {
    key: { path: '$.detail.object.key', type: 'string' },
    bucket: { path: '$.detail.bucket.name', type: 'string' },
    size: { path: '$.detail.object.size', type: 'number' },
    etag: { path: '$.detail.object.etag', type: 'string' },
  },
  flow: {
    runId: { path: '$.detail.name', type: 'string' },
    executionArn: { path: '$.detail.executionArn', type: 'string' },
  },
};

export type TriggerKind = 's3' | 'flow' | 'event';
const KINDS: readonly TriggerKind[] = ['s3', 'flow', 'event'];
const TRIGGER_FIELDS = [...KINDS, 'parameters'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The kind of a trigger with exactly one of s3/flow/event, else undefined. */
export function triggerKind(trigger: FlowTrigger): TriggerKind | undefined {
  const given = KINDS.filter((k) => isObject(trigger) && trigger[k] !== undefined);
  return given.length === 1 ? given[0] : undefined;
}

/** `s3://<bucket>/<prefix>` → bucket and prefix (the prefix exactly as given: `incoming/` is not `incoming`). */
export function parseS3Trigger(url: string): { bucket: string; prefix: string } | undefined {
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!match) return undefined;
  return { bucket: match[1], prefix: match[2] ?? '' };
}

/** Problems of one trigger, each naming it (`where`): its shape, its source, its parameter mapping. */
export function triggerProblems(where: string, trigger: unknown, flow: FlowSpec): string[] {
  const shape = `${where} must be one of {s3: "s3://bucket/prefix/"}, {flow: "OtherFlow"} or {event: {source, detailType}}, with optional parameters: {name: field}; got ${describeValue(trigger)}`;
  if (!isObject(trigger)) return [shape];
  const problems: string[] = [];
  const unknown = Object.keys(trigger).filter((k) => !TRIGGER_FIELDS.includes(k));
  if (unknown.length) problems.push(`${where}: unknown field ${describeValue(unknown[0])} (a trigger has ${TRIGGER_FIELDS.join(', ')})`);
  const kind = triggerKind(trigger as FlowTrigger);
  if (!kind) return [...problems, shape];
  if (kind === 's3') {
    const s3 = parseS3Trigger(String(trigger.s3));
    if (typeof trigger.s3 !== 'string' || !s3) problems.push(`${where}: s3 must be an s3://<bucket>/<prefix> URL, got ${describeValue(trigger.s3)}`);
    else if (!TOKEN.test(s3.bucket) && !BUCKET_NAME.test(s3.bucket)) problems.push(`${where}: ${describeValue(s3.bucket)} is not an S3 bucket name (3–63 of a-z, 0-9, "." and "-")`);
  } else if (kind === 'flow') {
    if (typeof trigger.flow !== 'string' || !FLOW_NAME_PATTERN.test(trigger.flow)) {
      problems.push(`${where}: flow must be the name of a flow deployed under the same prefix, got ${describeValue(trigger.flow)}`);
    } else if (trigger.flow === flow.name) {
      problems.push(`${where}: flow ${describeValue(trigger.flow)} is this flow: it would start itself after every run, for ever`);
    }
  } else {
    const event = trigger.event;
    if (!isObject(event) || typeof event.source !== 'string' || event.source.trim() === '' || event.source.length > 256) {
      problems.push(`${where}: event must be {source: "<1–256 characters>", detailType?: "<text>"}, got ${describeValue(event)}`);
    } else {
      const extra = Object.keys(event).filter((k) => k !== 'source' && k !== 'detailType');
      if (extra.length) problems.push(`${where}: unknown event field ${describeValue(extra[0])} (an event has source, detailType)`);
      if (event.detailType !== undefined && (typeof event.detailType !== 'string' || event.detailType.trim() === '')) {
        problems.push(`${where}: event.detailType must be a non-empty string, got ${describeValue(event.detailType)}`);
      }
    }
  }
  problems.push(...mappingProblems(where, kind, trigger.parameters, flow));
  return problems;
}

function mappingProblems(where: string, kind: TriggerKind, mapping: unknown, flow: FlowSpec): string[] {
  if (mapping === undefined) return [];
  if (!isObject(mapping)) return [`${where}: parameters must be an object {parameter: field}, got ${describeValue(mapping)}`];
  const problems: string[] = [];
  const names = Object.keys(mapping);
  if (names.length > INPUT_PATHS_MAX) problems.push(`${where}: maps ${names.length} parameters; an EventBridge input transformer takes at most ${INPUT_PATHS_MAX}`);
  for (const [name, field] of Object.entries(mapping)) {
    const spec = flow.parameters && Object.hasOwn(flow.parameters, name) ? flow.parameters[name] : undefined;
    if (!spec || !isObject(spec)) {
      problems.push(`${where}: parameters maps unknown parameter ${describeValue(name)}${flow.parameters ? ` (the flow has ${Object.keys(flow.parameters).join(', ') || 'none'})` : ' (the flow has no parameters)'}`);
      continue;
    }
    const named = kind === 'event' ? undefined : NAMED_FIELDS[kind][String(field)];
    if (typeof field !== 'string' || (!named && !EVENT_PATH.test(field))) {
      const names = kind === 'event' ? '' : `${Object.keys(NAMED_FIELDS[kind]).join(', ')} or `;
      problems.push(`${where}: parameter ${describeValue(name)} must map to ${names}a path into the event in dot notation ($.detail.field), got ${describeValue(field)}`);
      continue;
    }
    const type = parameterType(spec);
    if (named?.type === 'string' && type !== 'string') {
      problems.push(`${where}: parameter ${describeValue(name)} is of type ${type}, but ${field} is text: map it to a string parameter`);
    } else if (named?.type === 'number' && !['number', 'integer', 'string'].includes(type)) {
      problems.push(`${where}: parameter ${describeValue(name)} is of type ${type}, but ${field} is a number: map it to a number, integer or string parameter`);
    }
  }
  return problems;
}

/** Problems of the flow's `triggers` field (validateFlow). */
export function flowTriggerProblems(flow: FlowSpec): string[] {
  const triggers: unknown = flow.triggers;
  if (!Array.isArray(triggers)) return [`flow triggers must be a list of triggers ({s3}, {flow} or {event}), got ${describeValue(triggers)}`];
  return triggers.flatMap((t, i) => triggerProblems(`flow triggers[${i}]`, t, flow));
}

/**
 * `sfn deploy --trigger <source>[,<parameter>=<field>]…`: the source is `s3://<bucket>/<prefix>`,
 * `flow:<FlowName>` or `event:<source>[/<detail type>]`; each `<parameter>=<field>` maps an event
 * field to a parameter. Checked against the flow by {@link triggerProblems} afterwards.
 */
export function parseTriggerFlag(text: string): FlowTrigger {
  const [source, ...pairs] = text.split(',');
  const parameters: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) {
      throw new UserInputError(`--trigger ${describeValue(text)}: ${describeValue(pair)} must be <parameter>=<field> (e.g. file=key)`);
    }
    const name = pair.slice(0, eq);
    if (Object.hasOwn(parameters, name)) throw new UserInputError(`--trigger ${describeValue(text)} maps parameter ${describeValue(name)} twice`);
    parameters[name] = pair.slice(eq + 1);
  }
  const mapping = pairs.length ? { parameters } : {};
  if (source.startsWith('s3://')) return { s3: source, ...mapping };
  if (source.startsWith('flow:')) return { flow: source.slice('flow:'.length), ...mapping };
  if (source.startsWith('event:')) {
    const body = source.slice('event:'.length);
    const slash = body.indexOf('/');
    const event = slash < 0 ? { source: body } : { source: body.slice(0, slash), detailType: body.slice(slash + 1) };
    return { event, ...mapping };
  }
  throw new UserInputError(`--trigger must start with s3://<bucket>/<prefix>, flow:<FlowName> or event:<source>[/<detail type>], got ${describeValue(text)}`);
}

/** What the rule of a trigger needs: this deployment's state machine ARN of a flow name. */
export interface TriggerRuleContext {
  /** `arn:…:stateMachine:<prefix>_<flow>` of a flow deployed under the same prefix. */
  readonly stateMachineArnOf: (flowName: string) => string;
}

/** One trigger as an EventBridge rule: its pattern and the target's input transformer. */
export interface TriggerRule {
  readonly kind: TriggerKind;
  /** One line for the rule's description. */
  readonly description: string;
  readonly eventPattern: Record<string, unknown>;
  /** The target's input: `{"Parameters": {…}}` with the mapped fields; `{}` without a mapping. */
  readonly inputTransformer: { readonly InputPathsMap: Record<string, string>; readonly InputTemplate: string };
  /** For an S3 trigger: its bucket and prefix (the bucket must have EventBridge delivery on). */
  readonly s3?: { readonly bucket: string; readonly prefix: string };
}

/**
 * The rule of a checked trigger (see {@link triggerProblems}). Each mapped parameter is a
 * variable of the input transformer; a string parameter's placeholder is quoted (the field as
 * text), any other type's is not (the field's JSON value).
 */
export function triggerRule(trigger: FlowTrigger, flow: FlowSpec, ctx: TriggerRuleContext): TriggerRule {
  const kind = triggerKind(trigger);
  if (!kind) throw new UserInputError(`not a trigger: ${describeValue(trigger)}`);
  const paths: Record<string, string> = {};
  const fields: string[] = [];
  for (const [name, field] of Object.entries(trigger.parameters ?? {})) {
    paths[name] = kind === 'event' ? field : NAMED_FIELDS[kind][field]?.path ?? field;
    const type: ParameterType = parameterType(flow.parameters![name]);
    fields.push(`${JSON.stringify(name)}: ${type === 'string' ? `"<${name}>"` : `<${name}>`}`);
  }
  const template = fields.length ? `{"Parameters": {${fields.join(', ')}}}` : '{}';
  if (template.length > INPUT_TEMPLATE_MAX_LENGTH) {
    throw new UserInputError(`the input template of trigger ${describeValue(trigger)} is ${template.length} characters; EventBridge allows ${INPUT_TEMPLATE_MAX_LENGTH}`);
  }
  const inputTransformer = { InputPathsMap: paths, InputTemplate: template };
  if (kind === 's3') {
    const { bucket, prefix } = parseS3Trigger(trigger.s3!)!;
    return {
      kind,
      description: `starts flow ${flow.name} when an object is created under s3://${bucket}/${prefix}`,
      eventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: [bucket] }, ...(prefix ? { object: { key: [{ prefix }] } } : {}) },
      },
      inputTransformer,
      s3: { bucket, prefix },
    };
  }
  if (kind === 'flow') {
    return {
      kind,
      description: `starts flow ${flow.name} when flow ${trigger.flow} succeeds`,
      eventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['SUCCEEDED'], stateMachineArn: [ctx.stateMachineArnOf(trigger.flow!)] },
      },
      inputTransformer,
    };
  }
  const event = trigger.event!;
  return {
    kind,
    description: `starts flow ${flow.name} on events from ${event.source}${event.detailType ? ` (${event.detailType})` : ''}`,
    eventPattern: { source: [event.source], ...(event.detailType ? { 'detail-type': [event.detailType] } : {}) },
    inputTransformer,
  };
}

/**
 * Parameters a trigger's runs would start without: no default, no deployed value (`valued`) and
 * not mapped by the trigger. The execution would stop at once with metaflow.MissingParameter.
 */
export function unsetParameterProblems(where: string, trigger: FlowTrigger, flow: FlowSpec, valued: ReadonlySet<string>): string[] {
  return Object.entries(flow.parameters ?? {})
    .filter(([name, spec]) => spec.default === undefined && !valued.has(name) && !Object.hasOwn(trigger.parameters ?? {}, name))
    .map(([name]) => `${where} starts runs without parameter ${describeValue(name)} (it has no default): map it to an event field or give it a value (--param ${name}=…)`);
}

/**
 * A trigger on objects under the datastore root would start runs on the objects runs write (the
 * run records, task outputs): a loop. Overlap is checked both ways — a trigger on the whole
 * datastore bucket loops too.
 */
export function datastoreLoopProblem(where: string, trigger: FlowTrigger, datastore: { bucket: string; prefix: string }): string | undefined {
  const s3 = trigger.s3 !== undefined ? parseS3Trigger(trigger.s3) : undefined;
  if (!s3 || s3.bucket !== datastore.bucket) return undefined;
  const root = datastore.prefix ? `${datastore.prefix.replace(/\/+$/, '')}/` : '';
  if (s3.prefix.startsWith(root) || root.startsWith(s3.prefix)) {
    return `${where}: s3://${s3.bucket}/${s3.prefix} overlaps the datastore root s3://${datastore.bucket}/${datastore.prefix}: every run writes there, so each run would start another; use a prefix outside it`;
  }
  return undefined;
}

/**
 * A foreach on Step Functions, after its split task succeeded (at the top, or for one child of an
 * outer foreach):
 *
 * 1. the items into the state: static items from the definition, a `param` from `$.params`, or
 *    `output` from the split task's committed outputs.json (`aws-sdk:s3:getObject` +
 *    `States.StringToJson`); an empty or missing list stops the execution with
 *    `metaflow.ForeachItems`;
 * 2. `aws-sdk:s3:putObject` writes them as one JSON array at
 *    `<flow>/<run>/<split>/<task>/foreach-items.json`, which each child's fetch helper turns
 *    into the contract's items file (MF_FOREACH_ITEMS_JSON);
 * 3. the children are cut into chunks of at most 10,000 (Batch's array size limit; 1,000 when
 *    the body holds another foreach, the most `States.ArrayRange` can list) and a Map runs one
 *    iteration per chunk; in each, the body's steps are array jobs of the chunk's size (a plain
 *    job for a chunk of one) one after the other, each started when the previous one finished;
 * 4. after the Map, the state keeps `joined` (the children's prefix and count) for the join.
 */
import { BATCH_LIMITS } from '../../policy';
import { UserInputError } from '../../errors';
import type { Compilation } from './compilation';
import { toAsl } from './dynamic-text';
import { S3_RETRY } from './retry';
import type { Scope } from './scope';
import { CHILD_TASK_ID, itemsJsonKey, taskKey, type Position } from './task-state';
import { carriedText, LAST_CHILD_INDEX, member } from './state-shape';
import { CHECK_WIDTH_SUFFIX } from './history-budget';

/** Step Functions' limit on a state's input and output (256 KiB). */
export const SFN_STATE_PAYLOAD_MAX_BYTES = 262_144;
/** `States.ArrayRange` returns at most this many items. */
export const ARRAY_RANGE_MAX_ITEMS = 1000;
/** Inline Map runs at most this many iterations at once. */
export const INLINE_MAP_MAX_CONCURRENCY = 40;

/** Does the body of the foreach at `split` contain another foreach? */
function bodyHasForeach(c: Compilation, split: string): boolean {
  const join = c.joinOf(split);
  const todo = [...(c.graph.steps.get(split)!.next ? [c.graph.steps.get(split)!.next as string] : [])];
  const seen = new Set<string>();
  while (todo.length) {
    const s = todo.pop()!;
    if (s === join || seen.has(s)) continue;
    seen.add(s);
    if (c.graph.kind.get(s) === 'foreach') return true;
    const next = c.graph.steps.get(s)!.next;
    todo.push(...(typeof next === 'string' ? [next] : (next ?? [])));
  }
  return false;
}

/** How many children one iteration of the foreach's Map covers. */
export function chunkSize(c: Compilation, split: string): number {
  return bodyHasForeach(c, split) ? ARRAY_RANGE_MAX_ITEMS : BATCH_LIMITS.maxArraySize;
}

/** The split's task id and its children's task-id prefix, as text with tokens. */
function splitIds(pos: Position): { splitTaskId: string; childPrefix: string } {
  return pos.kind === 'top' ? { splitTaskId: '0', childPrefix: '' } : { splitTaskId: CHILD_TASK_ID, childPrefix: `${CHILD_TASK_ID}_` };
}

function noItems(scope: Scope, split: string, variable: string, what: string): void {
  const fail = scope.addDetached(`${split}.no-items`, {
    Type: 'Fail',
    Error: 'metaflow.ForeachItems',
    Cause: `the foreach of step "${split}" needs a non-empty list in ${what}`,
  });
  // `Not IsPresent` rather than `IsPresent: false`: the same rule, and aws-local-stepfunctions 3 only gets this form right.
  const check: Record<string, unknown> = { Type: 'Choice', Choices: [{ Not: { Variable: variable, IsPresent: true }, Next: fail }] };
  scope.add(`${split}.check-items`, check, [(next) => (check.Default = next)]);
}

/** Steps 1–3's first part: the items read, written, and cut into chunks (state: fe, chunks, offsets). */
export function addForeachEntry(scope: Scope, c: Compilation, split: string, pos: Position): void {
  const src = c.graph.steps.get(split)!.foreach!;
  const { splitTaskId, childPrefix } = splitIds(pos);
  if ('items' in src) {
    const bytes = Buffer.byteLength(JSON.stringify(src.items));
    if (bytes > SFN_STATE_PAYLOAD_MAX_BYTES - 16_384) {
      throw new UserInputError(
        `step "${split}": foreach.items is ${bytes} bytes of JSON; a Step Functions state holds at most ${SFN_STATE_PAYLOAD_MAX_BYTES} (256 KiB) with the rest of the state: write the items to the step's outputs and use foreach: {output: …}`,
      );
    }
    scope.add(`${split}.items`, { Type: 'Pass', Result: { items: src.items }, ResultPath: '$.fe' });
  } else if ('param' in src) {
    scope.add(`${split}.items`, { Type: 'Pass', Parameters: { 'items.$': member('$.params', src.param) }, ResultPath: '$.fe' });
    noItems(scope, split, '$.fe.items[0]', `parameter "${src.param}"`);
  } else {
    scope.add(`${split}.read-outputs`, {
      Type: 'Task',
      Resource: c.resource('aws-sdk:s3:getObject'),
      Parameters: toAsl({ Bucket: c.datastore.bucket, Key: c.s3Key(`${taskKey(c, split, splitTaskId)}/outputs.json`) }),
      ResultSelector: { 'outputs.$': 'States.StringToJson($.Body)' },
      ResultPath: '$.fe',
      Retry: [S3_RETRY],
    });
    noItems(scope, split, `${member('$.fe.outputs', src.output)}[0]`, `"${src.output}" of its outputs.json`);
    scope.add(`${split}.items`, { Type: 'Pass', Parameters: { 'items.$': member('$.fe.outputs', src.output) }, ResultPath: '$.fe' });
  }
  scope.add(`${split}.write-items`, {
    Type: 'Task',
    Resource: c.resource('aws-sdk:s3:putObject'),
    Parameters: toAsl({ Bucket: c.datastore.bucket, Key: c.s3Key(itemsJsonKey(c, split, splitTaskId)), ContentType: 'application/json', 'Body.$': 'States.JsonToString($.fe.items)' }),
    ResultPath: null,
    Retry: [S3_RETRY],
  });
  const chunk = chunkSize(c, split);
  scope.add(`${split}.chunks`, {
    Type: 'Pass',
    Parameters: toAsl({
      'params.$': '$.params',
      'caught.$': '$.caught',
      'ctx.$': '$.ctx',
      ...carriedText(c.jsonParams.length > 0),
      fe: { prefix: childPrefix, split: splitTaskId, 'count.$': 'States.ArrayLength($.fe.items)' },
      'chunks.$': `States.ArrayPartition($.fe.items, ${chunk})`,
      'offsets.$': `States.ArrayRange(0, States.MathAdd(States.ArrayLength($.fe.items), -1), ${chunk})`,
    }),
  });
  // The widest foreach one execution's history holds: the limit is written in once the whole
  // definition is known (history-budget.ts applyWidthLimits).
  const tooWide = scope.addDetached(`${split}.too-wide`, { Type: 'Fail', Error: 'metaflow.ForeachTooWide', Cause: '' });
  const check: Record<string, unknown> = { Type: 'Choice', Choices: [{ Variable: '$.fe.count', NumericGreaterThan: 0, Next: tooWide }] };
  scope.add(`${split}${CHECK_WIDTH_SUFFIX}`, check, [(next) => (check.Default = next)]);
}

/** The Map over the chunks (its processor already built) and the state the join gets. */
export function addForeachMap(scope: Scope, c: Compilation, split: string, processor: { StartAt: string; States: Record<string, unknown> }): void {
  const text = carriedText(c.jsonParams.length > 0);
  scope.add(`${split}.foreach`, {
    Type: 'Map',
    ItemsPath: '$.chunks',
    ItemSelector: {
      'params.$': '$.params',
      'caught.$': '$.caught',
      ...text,
      ctx: {
        'prefix.$': '$.fe.prefix',
        'split.$': '$.fe.split',
        'count.$': '$.fe.count',
        'size.$': 'States.ArrayLength($$.Map.Item.Value)',
        'offset.$': 'States.ArrayGetItem($.offsets, $$.Map.Item.Index)',
      },
    },
    ItemProcessor: { ProcessorConfig: { Mode: 'INLINE' }, ...processor },
    MaxConcurrency: INLINE_MAP_MAX_CONCURRENCY,
    ResultPath: null,
  });
  scope.add(`${split}.joined`, {
    Type: 'Pass',
    Parameters: { 'params.$': '$.params', 'caught.$': '$.caught', 'ctx.$': '$.ctx', ...text, joined: { 'prefix.$': '$.fe.prefix', 'count.$': '$.fe.count' } },
  });
}

/**
 * A foreach inside a chunk: one iteration per child of the chunk, each a `child` position whose
 * split task id is `<prefix><offset>`. The Map runs in Distributed mode: each outer child is a
 * child execution of this state machine with its own 25,000-event history, so the parent's
 * history grows per chunk, not per child ("Avoid reaching the history quota",
 * https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html). STANDARD children,
 * because an Express workflow cannot wait for a Batch job (`.sync`: "Standard Workflows only",
 * https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html). Each child ends
 * with an empty output: without a ResultWriter the Map gathers every child's output into its own
 * state, which holds 256 KiB (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
 */
export function addChildrenMap(scope: Scope, c: Compilation, split: string, processor: Scope): void {
  processor.add(`${split}.child-done`, { Type: 'Pass', Result: {} });
  scope.add(`${split}.children`, { Type: 'Pass', Parameters: { 'list.$': `States.ArrayRange($.ctx.offset, ${LAST_CHILD_INDEX}, 1)` }, ResultPath: '$.children' });
  scope.add(`${split}.each-child`, {
    Type: 'Map',
    ItemsPath: '$.children.list',
    ItemSelector: {
      'params.$': '$.params',
      'caught.$': '$.caught',
      ...carriedText(c.jsonParams.length > 0),
      ctx: { 'prefix.$': '$.ctx.prefix', 'split.$': '$.ctx.split', 'count.$': '$.ctx.count', 'offset.$': '$$.Map.Item.Value' },
    },
    ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' }, ...processor.finish() },
    // Every child of the chunk at once, as the chunk's array jobs run every child at once.
    MaxConcurrency: ARRAY_RANGE_MAX_ITEMS,
    ResultPath: null,
  });
}

/**
 * Pictures of flows and runs (runner/graph): `metaflow-cdk graph <flow>` and `show <run> --graph`
 * / `--svg <file>`. The SVG is read back with a real XML parser: it must name every step, draw
 * one edge per edge of the flow, and draw a failed step red; the text lists every step and edge.
 * The CLI runs in-process (JavaScript flows: tsx cannot load TypeScript inside jest), except one
 * spawned `graph` of a TypeScript example.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { Flow, nextOf } from '../../../runner/flow/model';
import { validateFlow } from '../../../runner/flow/validate';
import { layoutPicture } from '../../../runner/graph/layout';
import type { RunRecord, TaskRecord } from '../../../runner/datastore/types';
import { pictureOfFlow, pictureOfRunTasks, stepStatus, withRunStatus } from '../../../runner/graph/picture';
import { STATUS_COLOURS, renderSvg } from '../../../runner/graph/svg';
import { renderText } from '../../../runner/graph/text';
import { PROCESS_GUARD_MS } from '../../support/guards';
import { cliInProcess, runSteps, sh, tempDir } from '../support/harness';

const REPO = path.join(__dirname, '..', '..', '..');
const EXAMPLES = ['hello.ts', 'fanout.ts', 'sweep.ts', 'resilient.ts', 'pyscripts/flow.ts'];
const RUNNER = require.resolve('../../../runner');

const cli = cliInProcess;

/** A bad input: exit 2 and one line on stderr matching `message` (a usage error adds the CLI's `--help` hint). */
async function bad(args: string[], message: RegExp): Promise<void> {
  const r = await cli(args);
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 2, stdout: '' });
  expect(r.stderr).toMatch(/^metaflow-cdk: [^\n]+\n(\(run with --help for usage\)\n)?$/);
  expect(r.stderr).toMatch(message);
}

interface SvgElement {
  [key: string]: unknown;
}

/** Parse an SVG document (it must be well-formed XML) into its steps and edges. */
function readSvg(svg: string): { steps: Map<string, SvgElement>; edges: SvgElement[]; texts: string[] } {
  expect(XMLValidator.validate(svg)).toBe(true);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ['g', 'text', 'rect', 'path'].includes(name) }).parse(svg);
  const groups = doc.svg.g as SvgElement[];
  const steps = new Map(groups.filter((g) => g['@class'] === 'step').map((g) => [g['@data-step'] as string, g]));
  const edges = groups.filter((g) => g['@class'] === 'edge');
  const texts = groups.flatMap((g) => ((g.text as unknown[]) ?? []).map((t) => String(typeof t === 'object' ? (t as SvgElement)['#text'] : t)));
  return { steps, edges, texts };
}

/** The flow's edges, read from its spec (not from the picture). */
const edgesOf = (flow: Flow) => flow.steps.flatMap((s) => nextOf(s).map((to) => `${s.name}->${to}`));

/** Text lists each step on its own line and each edge under its source (`→ b`, or `⇉ b` for a fan-out). */
function expectTextShows(text: string, flow: Flow): void {
  const lines = text.split('\n');
  for (const step of flow.steps) {
    const at = lines.findIndex((l) => new RegExp(`^ [ \\d]+  ${step.name}(\\s|$)`).test(l));
    expect(at).toBeGreaterThan(0);
    const under = [];
    for (let i = at + 1; i < lines.length && /^\s+[├└]─/.test(lines[i]); i++) under.push(lines[i].replace(/^\s+[├└]─[→⇉] (\S+).*$/, '$1'));
    expect(under.sort()).toEqual([...nextOf(step)].sort());
  }
}

/** `graph` of a TypeScript example in a child process, started at once so that it runs while the in-process tests do. */
const spawnedGraph = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
  const child = execFile(process.execPath, [path.join(REPO, 'bin', 'metaflow-cdk.js'), 'graph', path.join(REPO, 'examples', 'fanout.ts')], { encoding: 'utf8', timeout: PROCESS_GUARD_MS }, (_err, stdout, stderr) =>
    resolve({ code: child.exitCode, stdout, stderr }),
  );
});

describe('a picture of every example flow', () => {
  test.each(EXAMPLES)('%s: the SVG parses, names every step and draws every edge; the text lists them', (file) => {
    const mod = require(path.join(REPO, 'examples', file));
    const flow = (mod.default ?? mod) as Flow;
    const result = validateFlow(flow);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const picture = pictureOfFlow(result.graph);
    const layout = layoutPicture(picture);
    const svg = readSvg(renderSvg(picture, layout));
    expect([...svg.steps.keys()].sort()).toEqual(flow.steps.map((s) => s.name).sort());
    for (const step of flow.steps) expect(svg.texts).toContain(step.name);
    expect(svg.edges.map((e) => `${e['@data-from']}->${e['@data-to']}`).sort()).toEqual(edgesOf(flow).sort());
    // Each edge is drawn: a path from its source's box to its target's.
    for (const e of svg.edges) expect((e.path as SvgElement[])[0]['@d']).toMatch(/^M[\d.]+ [\d.]+( L[\d.]+ [\d.]+)+$/);
    expectTextShows(renderText(picture, layout), flow);
  });

  test('foreach widths: static items counted, a parameter or an output named', () => {
    const text = (file: string) => {
      const flow = require(path.join(REPO, 'examples', file)).default as Flow;
      const result = validateFlow(flow);
      if (!result.ok) throw new Error(result.problems.join('\n'));
      const picture = pictureOfFlow(result.graph);
      return renderText(picture, layoutPicture(picture));
    };
    expect(text('fanout.ts')).toContain('└─⇉ square  ×output "items"');
    expect(text('sweep.ts')).toContain('└─⇉ train  ×param "rates" (100 by default)\n');
  });
});

describe('metaflow-cdk graph <flow-file>', () => {
  const dir = tempDir('mfcdk-graph-');
  const FLOW = path.join(dir, 'shapes.js');
  fs.writeFileSync(
    FLOW,
    `const { defineFlow } = require(${JSON.stringify(RUNNER)});
module.exports = defineFlow({
  name: 'Shapes',
  steps: [
    { name: 'start', command: ['true'], next: ['left', 'right'], description: 'split in two' },
    { name: 'left', command: ['true'], foreach: { items: ['a', 'b', 'c'] }, next: 'each' },
    { name: 'each', command: ['true'], next: 'gather' },
    { name: 'gather', join: true, command: ['true'], next: 'both' },
    { name: 'right', command: ['true'], next: 'both' },
    { name: 'both', join: true, command: ['true'], next: 'end' },
    { name: 'end', command: ['true'] },
  ],
});
`,
  );

  test('text: layers top to bottom, every step and edge, branches, a foreach with its width, joins', async () => {
    const r = await cli(['graph', FLOW]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'Shapes: 7 steps, 7 edges',
        '',
        ' 1  start   branch — split in two',
        '      ├─→ left',
        '      └─→ right',
        ' 2  left    foreach',
        '      └─⇉ each  ×3',
        ' 3  each',
        '      └─→ gather',
        // dagre ranks `right` next to the step it goes to.
        ' 4  gather  join of left\'s foreach',
        '      └─→ both',
        '    right',
        '      └─→ both',
        ' 5  both    join of start\'s branch',
        '      └─→ end',
        ' 6  end',
        '',
      ].join('\n'),
    );
  });

  test('--format svg prints the SVG; --svg <file> writes it and says so on stderr', async () => {
    const printed = await cli(['graph', FLOW, '--format', 'svg']);
    expect(printed.code).toBe(0);
    const svg = readSvg(printed.stdout);
    expect(svg.steps.size).toBe(7);
    expect(svg.edges).toHaveLength(7);
    expect(svg.edges.filter((e) => e['@data-fan-out'] === 'true').map((e) => e['@data-from'])).toEqual(['left']);
    expect(svg.texts).toContain('×3');

    const file = path.join(dir, 'shapes.svg');
    const written = await cli(['graph', FLOW, '--svg', file]);
    expect(written).toEqual({ code: 0, stdout: '', stderr: `wrote ${file}: Shapes: 7 steps, 7 edges\n` });
    expect(fs.readFileSync(file, 'utf8')).toBe(printed.stdout);
  });

  test('bad inputs are one line, exit 2', async () => {
    await bad(['graph', path.join(dir, 'missing.js')], /flow file not found: .*missing\.js/);
    await bad(['graph', FLOW, '--format', 'png'], /'--format <format>' argument 'png' is invalid\. Allowed choices are text, svg/);
    await bad(['graph', FLOW, '--format', 'svg', '--svg', path.join(dir, 'x.svg')], /--svg <file>.*cannot be used with.*--format/);
    await bad(['graph', FLOW, '--svg', path.join(dir, 'no-such-folder', 'x.svg')], /cannot write --svg ".*no-such-folder\/x\.svg": its folder does not exist/);
    await bad(['graph', FLOW, '--svg', dir], /cannot write --svg ".*": it is a folder/);
    await bad(['graph', FLOW, '--svg', ''], /--svg needs a file path, got ""/);
    await bad(['graph'], /missing required argument 'flow-file'/);
  });
});

describe('show <run> --graph / --svg: a run coloured by status', () => {
  const dir = tempDir('mfcdk-graph-run-');
  const root = path.join(dir, 'ds');
  const flag = path.join(dir, 'fixed');
  const FLOW = path.join(dir, 'failing.js');
  fs.writeFileSync(
    FLOW,
    `const { defineFlow } = require(${JSON.stringify(RUNNER)});
module.exports = defineFlow({
  name: 'Failing',
  steps: [
    { name: 'start', command: ['true'], foreach: { items: [1, 2, 3] }, next: 'each' },
    { name: 'each', command: ['true'], next: 'gather' },
    { name: 'gather', join: true, command: ['true'], next: 'train' },
    { name: 'train', command: ['test', '-e', ${JSON.stringify(flag)}], next: 'end' },
    { name: 'end', command: ['true'] },
  ],
});
`,
  );
  let failed: string;

  beforeAll(async () => {
    const r = await cli(['run', FLOW, '--root', root]);
    expect(r.code).toBe(1);
    failed = /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(r.stdout)![1];
  });

  test('text: each step with its status, a foreach with its number of tasks', async () => {
    const r = await cli(['show', failed, '--graph', '--root', root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        `Run ${failed} of Failing: failed`,
        '',
        ' 1  start   succeeded            foreach',
        '      └─⇉ each  ×3',
        ' 2  each    succeeded (3 tasks)',
        '      └─→ gather',
        ' 3  gather  succeeded            join of start\'s foreach',
        '      └─→ train',
        ' 4  train   failed',
        '      └─→ end',
        ' 5  end     not run',
        '',
      ].join('\n'),
    );
  });

  test('SVG: the failed step is drawn red, steps that did not run dashed, and a legend', async () => {
    const file = path.join(dir, 'failed.svg');
    const r = await cli(['show', failed, '--svg', file, '--root', root]);
    expect(r.code).toBe(0);
    const svg = readSvg(fs.readFileSync(file, 'utf8'));
    expect(svg.steps.size).toBe(5);
    expect(svg.edges).toHaveLength(4);
    const rect = (step: string) => (svg.steps.get(step)!.rect as SvgElement[])[0];
    expect(svg.steps.get('train')!['@data-status']).toBe('failed');
    expect(rect('train')['@stroke']).toBe(STATUS_COLOURS.failed.stroke);
    // Red: the red channel dominates the border, and tints the fill.
    const rgb = (colour: string) => [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16));
    const [red, green, blue] = rgb(rect('train')['@stroke'] as string);
    expect(red).toBeGreaterThan(Math.max(green, blue) + 100);
    const [fillRed, fillGreen, fillBlue] = rgb(rect('train')['@fill'] as string);
    expect(fillRed).toBeGreaterThan(Math.max(fillGreen, fillBlue));
    expect(rect('each')['@stroke']).toBe(STATUS_COLOURS.succeeded.stroke);
    expect(rect('end')['@stroke-dasharray']).toBeDefined();
    expect(svg.texts).toEqual(expect.arrayContaining(['failed', 'succeeded (3 tasks)', 'not run', '×3']));
  });

  test('a resumed run: the reused steps drawn as reused', async () => {
    fs.writeFileSync(flag, '');
    const resumed = await cli(['resume', failed, '--root', root]);
    expect(resumed.code).toBe(0);
    const id = /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(resumed.stdout)![1];
    const r = await cli(['show', id, '--graph', '--root', root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Run ${id} of Failing: succeeded \\(resumed from ${failed}\\)\n`));
    expect(r.stdout).toMatch(/^ 1 {2}start {3}reused /m);
    expect(r.stdout).toMatch(/^ 2 {2}each {4}reused \(3 tasks\)/m);
    expect(r.stdout).toMatch(/^ 4 {2}train {3}succeeded/m);
  });

  test('bad inputs are one line, exit 2', async () => {
    await bad(['show', '20990101-000000-abcdef', '--graph', '--root', root], /unknown run id "20990101-000000-abcdef"/);
    await bad(['show', `${failed}/train`, '--graph', '--root', root], /--graph draws a whole run: give a run id, not ".*\/train"/);
    await bad(['show', failed, '--graph', '--json', '--root', root], /--graph and --json cannot be used together/);
    await bad(['show', failed, '--svg', path.join(dir, 'nope', 'x.svg'), '--root', root], /cannot write --svg ".*nope\/x\.svg": its folder does not exist/);
  });

  test('without its flow file the run is drawn from its task records, and the CLI says so', async () => {
    const moved = path.join(dir, 'moved.js');
    fs.renameSync(FLOW, moved);
    try {
      const r = await cli(['show', failed, '--graph', '--root', root]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(`metaflow-cdk: drawing run ${failed} from its task records (flow file not found: ${FLOW}): steps that did not run are not shown\n`);
      expect(r.stdout).toContain(' 2  each    succeeded (3 tasks)\n      └─→ gather\n');
      expect(r.stdout).toContain('      └─⇉ each  ×3\n');
      expect(r.stdout).not.toContain('end');
    } finally {
      fs.renameSync(moved, FLOW);
    }
  });
});

test('from task records alone: fan-outs where one task fed many, joins where a task had many inputs', async () => {
  const run = await runSteps([
    { name: 'start', command: sh('true'), next: ['a', 'b'] },
    { name: 'a', command: sh('true'), foreach: { items: [1, 2] }, next: 'each' },
    { name: 'each', command: sh('true'), next: 'gather' },
    { name: 'gather', join: true, command: sh('true'), next: 'join' },
    { name: 'b', command: sh('true'), next: 'join' },
    { name: 'join', join: true, command: sh('true'), next: 'end' },
    { name: 'end', command: sh('true') },
  ]);
  const picture = pictureOfRunTasks(run.record);
  // Steps come in the order their first tasks were created, which concurrent branches may swap.
  const byName = (x: readonly unknown[], y: readonly unknown[]) => String(x[0]).localeCompare(String(y[0]));
  expect(picture.steps.map((s) => [s.name, s.role, s.status, s.tasks]).sort(byName)).toEqual([
    ['start', 'branch', 'succeeded', 1],
    ['a', 'foreach', 'succeeded', 1],
    ['b', '', 'succeeded', 1],
    ['each', '', 'succeeded', 2],
    ['gather', 'join', 'succeeded', 1],
    ['join', 'join', 'succeeded', 1],
    ['end', '', 'succeeded', 1],
  ].sort(byName));
  expect(picture.edges.map((e) => `${e.from}->${e.to}${e.fanOut ? ` ${e.label}` : ''}`).sort()).toEqual(
    ['start->a', 'start->b', 'a->each ×2', 'each->gather', 'gather->join', 'b->join', 'join->end'].sort(),
  );
});

test("a step's status from its tasks: failed wins, then running, caught, cancelled; all reused is reused; mixed counts shown", () => {
  const result = validateFlow(require(path.join(REPO, 'examples', 'fanout.ts')).default as Flow);
  if (!result.ok) throw new Error(result.problems.join('\n'));
  const task = (step: string, taskId: string, status: TaskRecord['status']): TaskRecord => ({ step, taskId, status, inputs: [], attempts: [] });
  const run = {
    runId: 'r1',
    flow: 'FanoutFlow',
    status: 'failed',
    tasks: [
      task('start', '0', 'reused'),
      task('square', '0', 'succeeded'),
      task('square', '1', 'failed'),
      task('square', '2', 'caught'),
      task('join', '0', 'running'),
    ],
  } as unknown as RunRecord;
  const { picture, unknownSteps } = withRunStatus(pictureOfFlow(result.graph), run);
  expect(unknownSteps).toEqual([]);
  expect(picture.steps.map((s) => [s.name, s.status, s.tasks, s.detail])).toEqual([
    ['start', 'reused', 1, undefined],
    ['square', 'failed', 3, '1 succeeded, 1 failed, 1 caught'],
    ['join', 'running', 1, undefined],
    ['end', 'not run', 0, undefined],
  ]);
  expect(picture.edges.find((e) => e.fanOut)).toEqual({ from: 'start', to: 'square', fanOut: true, label: '×3' });
  expect(renderText(picture, layoutPicture(picture))).toContain(' 2  square  failed (3 tasks: 1 succeeded, 1 failed, 1 caught)\n');
  const tasks = (statuses: TaskRecord['status'][]) => statuses.map((s, i) => task('x', String(i), s));
  expect(stepStatus(tasks(['succeeded', 'caught', 'cancelled']))).toBe('caught');
  expect(stepStatus(tasks(['succeeded', 'cancelled']))).toBe('cancelled');
  expect(stepStatus(tasks(['succeeded', 'queued']))).toBe('running');
  expect(stepStatus(tasks(['succeeded', 'reused']))).toBe('succeeded');
  expect(withRunStatus(pictureOfFlow(result.graph), { ...run, tasks: [task('gone', '0', 'succeeded')] }).unknownSteps).toEqual(['gone']);
});

// Last, so that the child started at the top ran while the tests above did.
test('the CLI draws a TypeScript example (spawned: the repository bin loads it with tsx)', async () => {
  const r = await spawnedGraph;
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout.split('\n').slice(0, 4)).toEqual(['FanoutFlow: 4 steps, 3 edges', '', ' 1  start   foreach', '      └─⇉ square  ×output "items"']);
});

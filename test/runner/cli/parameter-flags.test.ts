/**
 * Flow parameters as flags on `run` (the CLI in-process through main()): `--lr 0.1`,
 * `--rates 0.1,0.01`, booleans as `--verbose` / `--no-verbose`, `--batch-size` for `batch_size`,
 * beside `--param`; `run <flow-file> --help` lists them; every bad one is one line, exit 2, with
 * the closest name when there is one.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliInProcess } from '../support/harness';

const dir = mkdtempSync(join(tmpdir(), 'mf-param-flags-'));
// In-process, a flow file is loaded with require (tsx cannot load TypeScript inside jest): JavaScript.
const FLOW = join(dir, 'train.js');
writeFileSync(
  FLOW,
  `const { defineFlow } = require(${JSON.stringify(require.resolve('../../../runner'))});
module.exports = defineFlow({
  name: 'Train',
  parameters: {
    lr: { type: 'number', default: 0.01, help: 'learning rate' },
    rates: { type: 'list', itemType: 'number', default: [0.1] },
    verbose: { type: 'boolean', default: false, help: 'say more' },
    batch_size: { type: 'integer' },
    region: { type: 'string', default: 'eu' },
  },
  steps: [
    { name: 'start', command: ['/bin/sh', '-c', 'test "$MF_TEXT_PARAMS" = region && { test "$MF_PARAM_LR" = 0.5 || test "$MF_PARAM_LR" = 0.2; }'], next: 'end' },
    { name: 'end', command: ['true'] },
  ],
});
`,
);

const cli = cliInProcess;

const run = (...args: string[]) => cli(['run', FLOW, ...args, '--root', join(dir, 'runs'), '--json']);

test('parameters given as flags reach the run (and its tasks), beside --param', async () => {
  const r = await run('--lr', '0.5', '--rates', '0.1,0.01', '--verbose', '--batch-size', '32', '--param', 'region=us');
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).parameters).toEqual({ lr: 0.5, rates: [0.1, 0.01], verbose: true, batch_size: 32, region: 'us' });
  const again = await run('--lr=0.2', '--no-verbose', '--batch_size=8', '--rates', '[0.3]');
  expect(again.code).toBe(0);
  expect(JSON.parse(again.stdout).parameters).toEqual({ lr: 0.2, rates: [0.3], verbose: false, batch_size: 8, region: 'eu' });
});

test('run <flow-file> --help lists the flow\'s parameters: type, help, default, and which are --param only', async () => {
  const r = await cli(['run', FLOW, '--help']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^Usage: metaflow-cdk run \[options\] <flow-file> \[parameters\.\.\.\]/);
  expect(r.stdout.slice(r.stdout.indexOf('Parameters of flow'))).toBe(`Parameters of flow "Train" (${FLOW}):
  --lr <number>            learning rate; default: 0.01
  --rates <number,…>       default: [0.1]
  --verbose, --no-verbose  say more; default: false
  --batch_size <integer>   required
  --region <string>        default: "eu"; only as --param region=<value>: --region is an option of run
`);
  const bare = await cli(['run', '--help']);
  expect(bare.stdout).toContain('`run <flow-file> --help` lists them.');
});

test.each<[string, string[], string[]]>([
  ['a misspelt parameter flag', ['--lrr', '0.1', '--batch-size', '1'], ['unknown option --lrr: not an option of run nor a parameter of flow "Train" (did you mean --lr?)']],
  ['a misspelt --param', ['--param', 'lrr=0.1', '--batch-size', '1'], ['--param lrr: flow "Train" has no parameter "lrr" (did you mean "lr"?)']],
  ['a misspelt option of run', ['--max-worker', '2', '--batch-size', '1'], ['unknown option --max-worker: not an option of run nor a parameter of flow "Train" (did you mean --max-workers?)']],
  ['a flag without its value', ['--batch-size'], ['--batch-size needs a value (integer)']],
  ['a bad value', ['--lr', 'fast', '--batch-size', '1'], ['--param lr=fast: expected a number']],
  ['a value for a --no- flag', ['--no-verbose=1', '--batch-size', '1'], ['--no-verbose takes no value, got "1"']],
  ['a parameter given twice', ['--lr', '1', '--param', 'lr=2', '--batch-size', '1'], ['--param lr is given twice ("lr=2" and "lr=1"): give it once']],
  ['a stray argument', ['extra', '--batch-size', '1'], ['unexpected argument "extra" (flow parameters are given as --<name> <value>)']],
  ['a required parameter missing', [], ['parameter "batch_size" has no default: give it with --param batch_size=VALUE']],
])('%s: one line each, exit 2, nothing run', async (_what, args, lines) => {
  const r = await run(...args);
  expect(r.stderr).toBe(lines.map((l) => `metaflow-cdk: ${l}\n`).join(''));
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
});

test('parameter flags before the flow file are one line, exit 2', async () => {
  const r = await cli(['run', '--lr', '0.1', FLOW]);
  expect(r.stderr).toBe('metaflow-cdk: "--lr" comes before the flow file: give flow parameters after it (<flow-file> --<name> <value>)\n');
  expect(r.code).toBe(2);
});

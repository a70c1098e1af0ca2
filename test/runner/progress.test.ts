import { PassThrough } from 'node:stream';
import { ProgressReporter, wantsLiveView } from '../../runner/progress/reporter';
import { runSteps, sh } from './support/harness';

function capture() {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d) => (text += d));
  return { out, text: () => text };
}

test('plain lines: prefixed task output, outcomes, and a per-step table', async () => {
  const { out, text } = capture();
  const reporter = new ProgressReporter({ out, live: false });
  await runSteps(
    [
      { name: 'start', command: sh('echo hello'), foreach: { items: [1, 2] }, next: 'a' },
      { name: 'a', command: sh('[ "$MF_FOREACH_INDEX" = 0 ] || exit 9'), catch: { var: 'e' }, next: 'j' },
      { name: 'j', join: true, command: sh('true'), next: 'end' },
      { name: 'end', command: sh('true') },
    ],
    { run: { onEvent: reporter.onEvent } },
  );
  await new Promise((r) => setImmediate(r));
  expect(text()).toContain('[start/0#0] hello\n');
  expect(text()).toMatch(/\[a\/0#0\] succeeded in \d+ms/);
  expect(text()).toContain('[a/1#0] failed: exit code 9; caught as e, the flow goes on\n  step a/1 failed: exit code 9\n');
  const table = reporter.table();
  expect(table).toMatch(/^step\s+pending\s+running\s+succeeded\s+failed\s+caught\s+elapsed$/m);
  expect(table).toMatch(/^a\s+0\s+0\s+1\s+0\s+1\s+\d+ms$/m);
});

test('the live view only on a terminal without CI', () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true });
  expect(wantsLiveView(tty, {})).toBe(true);
  expect(wantsLiveView(tty, { CI: 'true' })).toBe(false);
  expect(wantsLiveView(new PassThrough(), {})).toBe(false);
});

test('the live view redraws the table in place with log-update and prints task lines above it', async () => {
  const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 40 });
  let text = '';
  tty.on('data', (d) => (text += d));
  const reporter = new ProgressReporter({ out: tty, live: true });
  await runSteps([{ name: 'start', command: sh('echo hi; sleep 0.25'), next: 'end' }, { name: 'end', command: sh('true') }], { run: { onEvent: reporter.onEvent } });
  await new Promise((r) => setImmediate(r));
  expect(text).toContain('[start/0#0] hi');
  expect(text).toMatch(/end\s+0\s+0\s+1\s+0\s+0/);
  expect(text).toContain('\u001b['); // cursor movement: redrawn in place
});

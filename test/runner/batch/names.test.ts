import { arrayJobName, runJobNamePrefix, taskJobName } from '../../../runner/batch/names';

const VALID = /^[A-Za-z0-9_-]{1,128}$/;

describe('Batch job names', () => {
  test('readable: flow, run, step, task, attempt', () => {
    expect(taskJobName('HelloFlow', '1732186800123', 'train', '7', 0)).toBe('HelloFlow-1732186800123-train-7-a0');
    expect(arrayJobName('Sweep', 'r1', 'fit', 10000, 500, 2)).toBe('Sweep-r1-fit-10000_10499-a2');
  });

  test('sanitized to [A-Za-z0-9_-]', () => {
    expect(taskJobName('my.flow', 'run:1', 'step with space', 'ü/1', 1)).toBe('my_flow-run_1-step_with_space-__1-a1');
  });

  test('≤128 chars with the run prefix kept whole and a hash when shortened; distinct long names stay distinct', () => {
    const step = 'a_really_long_step_name_'.repeat(8);
    const one = taskJobName('Flow', 'run-42', step, '1', 0);
    const two = taskJobName('Flow', 'run-42', step, '2', 0);
    for (const name of [one, two]) {
      expect(name).toMatch(VALID);
      expect(name.length).toBe(128);
      expect(name.startsWith(runJobNamePrefix('Flow', 'run-42'))).toBe(true);
      expect(name).toMatch(/-a0-[0-9a-f]{8}$/);
    }
    expect(one).not.toBe(two);
    const huge = taskJobName('F'.repeat(300), 'R'.repeat(300), 's', '1', 0);
    expect(huge).toMatch(VALID);
    expect(huge.startsWith(runJobNamePrefix('F'.repeat(300), 'R'.repeat(300)))).toBe(true);
  });

  test('a job name starts with a letter or digit, as SubmitJob requires: a flow named _x or -x gets mf in front', () => {
    expect(taskJobName('_private', 'r1', 'start', '0', 0)).toBe('mf_private-r1-start-0-a0');
    expect(runJobNamePrefix('-dash', 'r1')).toBe('mf-dash-r1-');
    for (const name of [taskJobName('_x', 'r', 's', '0', 0), arrayJobName('-y', 'r', 's', 0, 5, 1)]) expect(name).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
  });
});

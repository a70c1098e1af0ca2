import { arrayJobName, runJobNamePrefix, taskJobName } from '../../../runner/batch/names';
import { containerOverrides, ContainerOverridesTooLargeError, MAX_CONTAINER_OVERRIDES_CHARS, SHELL_FOREACH_INDEX } from '../../../runner/batch/overrides';
import { execFileSync } from 'node:child_process';

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
});

describe('container overrides', () => {
  test('command and sorted environment', () => {
    expect(containerOverrides('train/1', ['python', 'x.py'], { MF_STEP: 'train', A: '1' })).toEqual({
      command: ['python', 'x.py'],
      environment: [
        { name: 'A', value: '1' },
        { name: 'MF_STEP', value: 'train' },
      ],
    });
  });

  test('over 8,192 characters: a clear error naming the task, the size and the biggest variables', () => {
    const env = { BIG: 'x'.repeat(6000), MEDIUM: 'y'.repeat(3000), SMALL: 'z' };
    let error: unknown;
    try {
      containerOverrides('train/3#0', ['run'], env);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ContainerOverridesTooLargeError);
    expect((error as Error).message).toMatch(
      /^train\/3#0: container overrides are \d+ characters, Batch allows 8192; largest variables: BIG \(6003\), MEDIUM \(3006\), SMALL \(6\)/,
    );
    // exactly at the limit passes
    const fill = MAX_CONTAINER_OVERRIDES_CHARS - JSON.stringify({ command: ['run'], environment: [{ name: 'V', value: '' }] }).length;
    expect(() => containerOverrides('t', ['run'], { V: 'v'.repeat(fill) })).not.toThrow();
    expect(() => containerOverrides('t', ['run'], { V: 'v'.repeat(fill + 1) })).toThrow(ContainerOverridesTooLargeError);
  });

  test('AWS_BATCH* names are reserved', () => {
    expect(() => containerOverrides('t', [], { AWS_BATCH_JOB_ARRAY_INDEX: '3' })).toThrow(
      't: environment names starting with AWS_BATCH are reserved by Batch: AWS_BATCH_JOB_ARRAY_INDEX',
    );
  });

  test('a child computes its foreach index in a POSIX shell: offset + array index (absent → 0)', () => {
    const index = (env: Record<string, string>) => execFileSync('sh', ['-c', `echo ${SHELL_FOREACH_INDEX}`], { env, encoding: 'utf8' }).trim();
    expect(index({ AWS_BATCH_JOB_ARRAY_INDEX: '7' })).toBe('7');
    expect(index({ AWS_BATCH_JOB_ARRAY_INDEX: '7', MF_ARRAY_INDEX_OFFSET: '10000' })).toBe('10007');
    expect(index({ MF_ARRAY_INDEX_OFFSET: '42' })).toBe('42');
  });
});

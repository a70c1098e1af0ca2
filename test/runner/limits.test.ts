import { LocalDatastore } from '../../runner/datastore/local';
import * as limits from '../../runner/limits';

describe('the name limits leave room for what every layer adds', () => {
  test('the longest flow, step, run id and suffix make a valid Batch job name', () => {
    const name = [
      'F'.repeat(limits.FLOW_NAME_MAX_LENGTH),
      's'.repeat(limits.STEP_NAME_MAX_LENGTH),
      'r'.repeat(limits.RUN_ID_MAX_LENGTH),
    ].join('-') + `-${'x'.repeat(limits.JOB_NAME_SUFFIX_MAX_LENGTH - 1)}`;
    expect(name).toHaveLength(limits.BATCH_JOB_NAME_MAX_LENGTH);
    expect(name).toMatch(limits.BATCH_JOB_NAME_PATTERN);
    expect(limits.JOB_NAME_SUFFIX_MAX_LENGTH).toBeGreaterThanOrEqual(8); // room for e.g. "-a9-g123"
  });

  test('state and state machine names fit in 80 characters with room for a prefix or suffix', () => {
    expect(limits.STEP_NAME_MAX_LENGTH + limits.STATE_NAME_SUFFIX_MAX_LENGTH).toBe(limits.SFN_STATE_NAME_MAX_LENGTH);
    expect(limits.FLOW_NAME_MAX_LENGTH + limits.STATE_MACHINE_PREFIX_MAX_LENGTH).toBe(limits.SFN_STATE_MACHINE_NAME_MAX_LENGTH);
    expect(limits.STATE_MACHINE_PREFIX_MAX_LENGTH).toBeGreaterThanOrEqual(20);
  });

  test('every name is a valid path component', () => {
    for (const n of [limits.FLOW_NAME_MAX_LENGTH, limits.STEP_NAME_MAX_LENGTH, limits.RUN_ID_MAX_LENGTH]) {
      expect(n).toBeLessThanOrEqual(limits.PATH_COMPONENT_MAX_LENGTH);
    }
  });

  test("the local datastore's run ids fit the reserved length and the job name characters", () => {
    const id = new LocalDatastore('/nonexistent').newRunId();
    expect(id.length).toBeLessThanOrEqual(limits.RUN_ID_MAX_LENGTH);
    expect(id).toMatch(limits.BATCH_JOB_NAME_PATTERN);
  });
});

describe('the time limits stay within what a timer can hold', () => {
  const TIMER_MAX_MS = 2 ** 31 - 1; // Node.js: a longer delay fires after 1 ms

  test('the longest timeout and retry delay are exact timers', () => {
    expect(limits.MAX_TIMEOUT_SECONDS * 1000).toBeLessThanOrEqual(TIMER_MAX_MS);
    expect(limits.MAX_RETRY_DELAY_MINUTES * 60_000).toBeLessThanOrEqual(TIMER_MAX_MS);
  });

  test('a real timer at the cap waits, while 720 h (beyond what a timer holds) fires at once', async () => {
    const fired: string[] = [];
    const atCap = setTimeout(() => fired.push('cap'), limits.MAX_TIMEOUT_SECONDS * 1000);
    const tooLong = setTimeout(() => fired.push('720h'), 720 * 3600 * 1000);
    await new Promise((r) => setTimeout(r, 50));
    clearTimeout(atCap);
    clearTimeout(tooLong);
    expect(fired).toEqual(['720h']);
  });
});

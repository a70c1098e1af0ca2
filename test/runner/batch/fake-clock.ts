import { BatchClock } from '../../../runner/batch/clock';

/** A simulated clock: sleep advances time at once. */
export class FakeClock implements BatchClock {
  constructor(public time = 1_700_000_000_000) {}
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.time += Math.max(0, ms);
  }
}

/** Time for the Batch layer: real in the CLI, simulated in tests and the bench. */
export interface BatchClock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: BatchClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

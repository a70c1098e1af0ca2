/**
 * The limit for one child process a test waits on (a CLI run, `cdk synth`, `tsc`): a last guard
 * against a hung process, never a speed limit. Tests wait for the process to end; on the 2-core
 * machine under load (load 25) a CLI run that takes 2 s idle took over 60 s, and a 30–60 s limit
 * killed it and failed the test.
 */
export const PROCESS_GUARD_MS = 600_000;

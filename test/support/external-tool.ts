import { spawnSync } from 'node:child_process';

/**
 * Tests that need an external tool (moto_server, cfn-lint) use this. In CI (`CI` set) a missing
 * tool is a failure; elsewhere the suite is skipped with a visible message.
 */
export function isInCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/** How to ask a tool whether it runs: moto_server has no `--version` (it exits 2), `-h` works. */
const PROBES: Readonly<Record<string, string[]>> = { moto_server: ['-h'] };

/** Does `command --version` (or the given probe args, or the tool's known probe) run? */
export function toolAvailable(command: string, probeArgs: string[] = PROBES[command] ?? ['--version']): boolean {
  const probe = spawnSync(command, probeArgs, { stdio: 'ignore', timeout: 30_000 });
  return probe.status === 0;
}

/**
 * `describe` when the tool exists; in CI a failing test when it does not; elsewhere
 * `describe.skip` with a console warning naming the tool.
 */
export function describeWithTool(
  command: string,
  name: string,
  body: () => void,
  probeArgs: string[] = PROBES[command] ?? ['--version'],
): void {
  if (toolAvailable(command, probeArgs)) {
    describe(name, body);
    return;
  }
  if (isInCi()) {
    describe(name, () => {
      test(`requires ${command}`, () => {
        throw new Error(`${command} is not installed or not on PATH; CI must have it (see README "Requirements")`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.warn(`SKIPPED "${name}": ${command} is not available on this machine`);
  describe.skip(name, body);
}

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Tests that need an external tool (moto_server, cfn-lint) use this. In CI (`CI` set) a missing
 * tool is a failure; elsewhere the suite is skipped with a visible message.
 */
export function isInCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * Is `command` an executable file on the PATH? A lookup, not a run: running a Python tool to ask
 * for its version (`moto_server --help`, `cfn-lint --version`) costs its whole start-up — measured
 * at 50–107 s per call on the 2-core machine at load 25, once per test file and beyond the
 * probe's limit, which turned a loaded machine into "tool missing". A tool that is on the PATH but
 * broken fails its tests, which is the clearer outcome.
 */
export function toolAvailable(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/**
 * `describe` when the tool exists; in CI a failing test when it does not; elsewhere
 * `describe.skip` with a console warning naming the tool.
 */
export function describeWithTool(
  command: string,
  name: string,
  body: () => void,
  /** Not run any more (see {@link toolAvailable}); kept so existing callers compile. */
  _probeArgs?: string[],
): void {
  if (toolAvailable(command)) {
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

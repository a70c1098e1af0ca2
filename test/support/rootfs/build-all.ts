/**
 * Builds every container stand-in into the cache the tests use (.ci/run calls this before
 * `npm test`, so no test pays for a build): `npx tsx test/support/rootfs/build-all.ts`.
 */
import { ensureRootfs, STAND_IN_KINDS } from './index';

async function main(): Promise<void> {
  for (const kind of STAND_IN_KINDS) {
    const started = Date.now();
    const root = await ensureRootfs(kind);
    // eslint-disable-next-line no-console
    console.log(`stand-in ${kind}: ${root} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

main().catch((e: Error) => {
  // eslint-disable-next-line no-console
  console.error(e.message);
  process.exit(1);
});

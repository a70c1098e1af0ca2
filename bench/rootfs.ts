/**
 * The container stand-ins (test/support/rootfs): time to build each kind cold (into an empty
 * temporary cache, apt's package lists already present) and warm (cached), and the start
 * latency of a container: median of 20 runs of `sh -c true` (busybox) and `python3 -c pass`
 * and an import of json, ssl, tarfile and urllib.request (python), from spawning bwrap to its exit.
 *
 *   npx tsx bench/rootfs.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureRootfs, runContainer, STAND_IN_KINDS } from '../test/support/rootfs';

async function seconds(f: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'rootfs-bench-'));
  process.env.METAFLOW_CDK_ROOTFS_CACHE = cache;
  try {
    for (const kind of STAND_IN_KINDS) {
      const cold = await seconds(() => ensureRootfs(kind));
      const warm = await seconds(() => ensureRootfs(kind));
      console.log(`${kind}: build cold ${cold.toFixed(1)} s, warm ${(warm * 1000).toFixed(1)} ms`);
    }
    const starts: Array<[string, string, string[]]> = [
      ['busybox', 'busybox:1.36', ['sh', '-c', 'true']],
      ['python', 'python:3.12-slim', ['sh', '-c', 'true']],
      ['python', 'python:3.12-slim', ['python3', '-c', 'pass']],
      ['python', 'python:3.12-slim', ['python3', '-c', 'import json, ssl, tarfile, urllib.request']],
    ];
    for (const [kind, image, command] of starts) {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        times.push(await seconds(() => runContainer({ image, command, env: {} })));
      }
      console.log(`${kind}: ${command.join(' ')}: median ${(median(times) * 1000).toFixed(0)} ms over 20 starts`);
    }
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});

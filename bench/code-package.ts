/**
 * Collecting and packing a code package from a tree of 20,000 small files (400 folders of 50,
 * plus a node_modules and a .git the walk skips): how long the walk and the pack take.
 *
 *   npx tsx bench/code-package.ts
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCodePackage } from '../runner/package/build';
import { collectFiles } from '../runner/package/collect';

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mfcdk-bench-pkg-'));
  try {
    for (let d = 0; d < 400; d++) {
      const dir = path.join(root, `pkg${d % 20}`, `mod${d}`);
      fs.mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 50; f++) fs.writeFileSync(path.join(dir, `file${f}.py`), `# ${d}/${f}\nVALUE = ${d * 50 + f}\n`);
    }
    for (const skipped of ['node_modules/dep', '.git/objects']) {
      fs.mkdirSync(path.join(root, skipped), { recursive: true });
      for (let f = 0; f < 2000; f++) fs.writeFileSync(path.join(root, skipped, `x${f}`), 'x');
    }
    for (let round = 0; round < 2; round++) {
      let t = performance.now();
      const collected = await collectFiles(root);
      const walkMs = performance.now() - t;
      t = performance.now();
      const built = await buildCodePackage({ root });
      const buildMs = performance.now() - t;
      console.log(`round ${round}: walk ${collected.files.length} files in ${walkMs.toFixed(0)} ms; walk + pack ${buildMs.toFixed(0)} ms → ${(built.bytes / 1024).toFixed(0)} KiB, sha1 ${built.sha1.slice(0, 12)}`);
      await built.dispose();
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

void main();

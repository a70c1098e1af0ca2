import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');

test('npm run build gives the bin its execute bits after tsc wrote it (tsc writes 0644, so `npx metaflow-cdk` failed with Permission denied)', () => {
  const pkg = require(join(REPO, 'package.json'));
  const steps = (pkg.scripts.build as string).split(' && ');
  expect(steps.indexOf('node scripts/make-bin-executable.js')).toBeGreaterThan(steps.indexOf('tsc -p tsconfig.build.json'));
  expect(steps.indexOf('tsc -p tsconfig.build.json')).toBeGreaterThan(-1);

  // The script on a copy of the layout: package.json's bins, written without execute bits.
  const root = mkdtempSync(join(tmpdir(), 'bin-mode-'));
  mkdirSync(join(root, 'scripts'));
  mkdirSync(join(root, 'dist', 'runner', 'cli'), { recursive: true });
  copyFileSync(join(REPO, 'scripts', 'make-bin-executable.js'), join(root, 'scripts', 'make-bin-executable.js'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ bin: pkg.bin }));
  for (const file of Object.values(pkg.bin) as string[]) writeFileSync(join(root, file), '#!/usr/bin/env node\n', { mode: 0o644 });
  const run = spawnSync(process.execPath, [join(root, 'scripts', 'make-bin-executable.js')], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  for (const file of Object.values(pkg.bin) as string[]) expect(statSync(join(root, file)).mode & 0o777).toBe(0o755);
});

describe('scripts/dist-inputs.js: is dist/ built from the sources as they are? (packing skips the rebuild only then)', () => {
  const { distIsCurrent, recordDistInputs } = require(join(REPO, 'scripts', 'dist-inputs.js')) as {
    distIsCurrent(root: string): boolean; recordDistInputs(root: string): void;
  };

  test('npm run build records the hash as its last step, after everything that writes dist/', () => {
    const steps = (require(join(REPO, 'package.json')).scripts.build as string).split(' && ');
    expect(steps[steps.length - 1]).toBe('node scripts/dist-inputs.js --record');
  });

  test('current after a recorded build; not after a source changes, a source is added, or dist/ is gone', () => {
    const root = mkdtempSync(join(tmpdir(), 'dist-inputs-'));
    for (const dir of ['core', 'lib', 'runner/cli', 'dist/runner/cli']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'lib', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'package.json'), '{}');
    writeFileSync(join(root, 'dist', 'runner', 'cli', 'bin.js'), '');
    expect(distIsCurrent(root)).toBe(false); // nothing recorded
    recordDistInputs(root);
    expect(distIsCurrent(root)).toBe(true);
    writeFileSync(join(root, 'lib', 'a.ts'), 'export const a = 2;\n');
    expect(distIsCurrent(root)).toBe(false);
    recordDistInputs(root);
    writeFileSync(join(root, 'runner', 'cli', 'b.ts'), '');
    expect(distIsCurrent(root)).toBe(false);
    recordDistInputs(root);
    writeFileSync(join(root, 'lib', 'cache.pyc'), 'x'); // not an input
    expect(distIsCurrent(root)).toBe(true);
    rmSync(join(root, 'dist'), { recursive: true });
    expect(distIsCurrent(root)).toBe(false);
  });

  test('a bad argument is one line naming it, exit 2', () => {
    const run = spawnSync(process.execPath, [join(REPO, 'scripts', 'dist-inputs.js'), '--recrod'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('dist-inputs.js: expected --record, got "--recrod"\n');
  });
});

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');

test('npm run build ends by giving the bin its execute bits (tsc writes 0644, so `npx metaflow-cdk` failed with Permission denied)', () => {
  const pkg = require(join(REPO, 'package.json'));
  expect(pkg.scripts.build).toMatch(/&& node scripts\/make-bin-executable\.js$/);

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

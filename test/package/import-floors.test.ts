/**
 * The floors of the source tree: core/ (the vocabulary both halves share) imports nothing of the
 * project but core/ and no package at all; runner/ imports core/ and runner/, never lib/ (the
 * constructs) nor aws-cdk-lib/constructs, which a project that only runs flows does not install
 * (they are optional peer dependencies). esbuild follows every import and require() of every
 * source file and reports them in its metafile, so a lazy `require('../../lib/…')` is caught too.
 */
import { readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { buildSync, Metafile } from 'esbuild';

const ROOT = join(__dirname, '..', '..');

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => join(dir, f));
}

/** Every import of every file reachable from `dir`'s sources: `<importer> -> <imported>` (packages by name). */
function importsFrom(dir: string): string[] {
  const { metafile } = buildSync({
    absWorkingDir: ROOT,
    entryPoints: sourcesUnder(dir),
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'cjs',
    outdir: 'out',
    packages: 'external',
    logLevel: 'silent',
  });
  return Object.entries((metafile as Metafile).inputs).flatMap(([importer, input]) =>
    input.imports.map((i) => `${importer} -> ${i.external ? i.path : relative(ROOT, join(ROOT, i.path))}`));
}

const packageOf = (path: string) => path.split('/').slice(0, path.startsWith('@') ? 2 : 1).join('/');
const isBuiltin = (path: string) => path.startsWith('node:') || builtinModules.includes(path);

test('runner/ never imports lib/, aws-cdk-lib or constructs, directly or through another file', () => {
  const edges = importsFrom('runner');
  expect(edges.length).toBeGreaterThan(100);
  expect(edges.some((e) => e.endsWith('-> core/describe-value.ts'))).toBe(true);
  const bad = edges.filter((e) => {
    const target = e.split(' -> ')[1];
    return target.startsWith('lib/') || ['aws-cdk-lib', 'constructs'].includes(packageOf(target));
  });
  expect(bad).toEqual([]);
});

test('core/ imports only core/ and Node built-ins (no CDK, no AWS SDK, no lib/ or runner/)', () => {
  const edges = importsFrom('core');
  const bad = edges.filter((e) => {
    const target = e.split(' -> ')[1];
    return !isBuiltin(target) && !target.startsWith('core/');
  });
  expect(bad).toEqual([]);
});

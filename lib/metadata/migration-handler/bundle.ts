/**
 * Bundles the migration handler (./index.ts, which needs nothing but Node) into one `index.js`
 * with esbuild. `npm run build` calls it once so that the published package ships the bundle
 * (dist/lib/metadata/migration-handler/bundle/); running from the TypeScript sources, the
 * construct calls it at synth time instead (see ./code.ts). esbuild is a devDependency: an
 * installed package never needs it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where the prebuilt bundle lives, relative to the compiled migration-handler directory. */
export const PREBUILT_BUNDLE_DIR = 'bundle';

/**
 * Write `<outDir>/index.js` (exports `handler`) from the handler's source in `handlerDir`.
 * Returns the modules the bundle still imports at run time (only Node built-ins are expected).
 */
export function bundleMigrationHandler(outDir: string, handlerDir: string = __dirname): string[] {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const entry = ['index.ts', 'index.js'].map((f) => join(handlerDir, f)).find((f) => existsSync(f));
  if (!entry) throw new Error(`migration handler: no index.ts or index.js in ${handlerDir}`);
  const result = esbuild.buildSync({
    entryPoints: [entry],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    sourcemap: false,
    logLevel: 'error',
    metafile: true,
  });
  return Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
}

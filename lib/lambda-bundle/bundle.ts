/**
 * Bundles one of the package's Lambda handlers (a directory with an `index.ts`, or `index.js`
 * once compiled) into one `index.js` with esbuild. `npm run build` bundles every handler once
 * (scripts/bundle-lambda-handlers.js), so the published package ships the bundles and a CDK app
 * that installs metaflow-cdk synthesizes them with neither esbuild nor Docker; running from the
 * TypeScript sources, the constructs bundle at synth time instead (see ./code.ts). esbuild is a
 * devDependency: an installed package never needs it. No CDK import here: the build script
 * loads this module on its own.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where a handler's prebuilt bundle lives, relative to its compiled directory. */
export const PREBUILT_BUNDLE_DIR = 'bundle';

/** How a handler is bundled. */
export interface HandlerBundleOptions {
  /**
   * Modules left out of the bundle because the Lambda runtime provides them (the Node.js
   * runtimes ship the AWS SDK v3 as `@aws-sdk/*`).
   * @default - none: the bundle needs nothing but Node
   */
  readonly external?: readonly string[];
}

/** The handlers `npm run build` bundles, as directories relative to the compiled `lib/`. */
export const LAMBDA_HANDLERS: ReadonlyArray<{ readonly dir: string; readonly options: HandlerBundleOptions }> = [
  { dir: 'metadata/migration-handler', options: {} },
  { dir: 'monitoring/queue-metrics-handler', options: { external: ['@aws-sdk/*'] } },
];

/**
 * Write `<outDir>/index.js` (exports `handler`) from the handler in `handlerDir`. Returns the
 * modules the bundle still imports at run time.
 */
export function bundleHandler(outDir: string, handlerDir: string, options: HandlerBundleOptions = {}): string[] {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const entry = ['index.ts', 'index.js'].map((f) => join(handlerDir, f)).find((f) => existsSync(f));
  if (!entry) throw new Error(`Lambda handler: no index.ts or index.js in ${handlerDir}`);
  const result = esbuild.buildSync({
    entryPoints: [entry],
    outfile: join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    minify: true,
    sourcemap: false,
    external: [...(options.external ?? [])],
    logLevel: 'error',
    metafile: true,
  });
  return Object.values(result.metafile.outputs).flatMap((output) => output.imports.map((i) => i.path));
}

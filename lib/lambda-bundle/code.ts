import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { bundleHandler, HandlerBundleOptions, PREBUILT_BUNDLE_DIR } from './bundle';

/**
 * The Lambda code of one of the package's handlers: the bundle `npm run build` wrote next to the
 * compiled handler when it exists (an installed package), else bundled with esbuild at synth time
 * (this repository's sources). Either way the asset is one `index.js` exporting `handler`: use
 * `handler: 'index.handler'`.
 */
export function handlerCode(handlerDir: string, options: HandlerBundleOptions = {}): lambda.Code {
  const prebuilt = join(handlerDir, PREBUILT_BUNDLE_DIR);
  if (existsSync(join(prebuilt, 'index.js'))) return lambda.Code.fromAsset(prebuilt);
  return lambda.Code.fromAsset(handlerDir, {
    exclude: [PREBUILT_BUNDLE_DIR],
    bundling: {
      // Local bundling always succeeds here (esbuild is a devDependency); the image is never pulled.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-alpine'),
      local: {
        tryBundle(outputDir: string): boolean {
          bundleHandler(outputDir, handlerDir, options);
          return true;
        },
      },
    },
  });
}

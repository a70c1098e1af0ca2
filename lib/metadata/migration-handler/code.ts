import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { bundleMigrationHandler, PREBUILT_BUNDLE_DIR } from './bundle';

/**
 * The migration Lambda's code. The published package ships the handler already bundled
 * (`npm run build` writes it next to the compiled handler), so a CDK app that installs
 * metaflow-cdk synthesizes it with neither esbuild nor Docker. Running from the TypeScript
 * sources (this repository's tests and `cdk synth`), it is bundled with esbuild at synth time.
 * Either way the asset is one `index.js` exporting `handler`.
 */
export function migrationHandlerCode(): lambda.Code {
  const prebuilt = join(__dirname, PREBUILT_BUNDLE_DIR);
  if (existsSync(join(prebuilt, 'index.js'))) return lambda.Code.fromAsset(prebuilt);
  return lambda.Code.fromAsset(__dirname, {
    exclude: [PREBUILT_BUNDLE_DIR],
    bundling: {
      // Local bundling always succeeds here (esbuild is a devDependency); the image is never pulled.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-alpine'),
      local: {
        tryBundle(outputDir: string): boolean {
          bundleMigrationHandler(outputDir);
          return true;
        },
      },
    },
  });
}

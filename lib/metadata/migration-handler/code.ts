import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LAMBDA_HANDLERS } from '../../lambda-bundle/bundle';
import { handlerCode } from '../../lambda-bundle/code';

/**
 * The migration Lambda's code: one `index.js` exporting `handler`, prebuilt in the published
 * package, bundled at synth time from the sources (see lib/lambda-bundle). It needs nothing but Node.
 */
export function migrationHandlerCode(): lambda.Code {
  return handlerCode(__dirname, LAMBDA_HANDLERS.find((h) => h.dir === 'metadata/migration-handler')!.options);
}

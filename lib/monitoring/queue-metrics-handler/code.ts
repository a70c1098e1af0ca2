import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LAMBDA_HANDLERS } from '../../lambda-bundle/bundle';
import { handlerCode } from '../../lambda-bundle/code';

/**
 * The queue-metrics Lambda's code: one `index.js` exporting `handler`, prebuilt in the published
 * package, bundled at synth time from the sources (see lib/lambda-bundle). The AWS SDK clients it
 * uses come from the Node.js Lambda runtime.
 */
export function queueMetricsHandlerCode(): lambda.Code {
  return handlerCode(__dirname, LAMBDA_HANDLERS.find((h) => h.dir === 'monitoring/queue-metrics-handler')!.options);
}

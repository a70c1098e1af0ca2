/**
 * The smallest flow: three linear steps. `start` writes an output, `hello` reads its input's
 * outputs through the datastore, `end` says goodbye.
 *
 *   npx metaflow-cdk run examples/hello.ts --param name=Ada
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];

export default defineFlow({
  name: 'HelloFlow',
  // Batch jobs need /bin/sh and python3 in the image (the task runtime; docs/batch.md).
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { name: { type: 'string', default: 'world', help: 'who to greet' } },
  steps: [
    {
      name: 'start',
      command: sh('echo "starting run $MF_RUN_ID"; echo "{\\"greeting\\": \\"hello, $MF_PARAM_NAME\\"}" > "$MF_OUTPUT_DIR/outputs.json"'),
      next: 'hello',
    },
    {
      name: 'hello',
      // MF_INPUT_PATHS holds the parents' task paths, relative to MF_DATASTORE_ROOT.
      command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"'),
      next: 'end',
    },
    { name: 'end', command: sh('echo "HelloFlow is all done"') },
  ],
});

/**
 * The smallest flow: three linear steps. `start` saves a greeting, `hello` prints what its parent
 * saved, `end` says goodbye. The steps read and write through the task helpers (`metaflow_cdk`,
 * on every task's PYTHONPATH; docs/runner.md "Task helpers"), never through datastore paths.
 *
 *   npx metaflow-cdk run examples/hello.ts --param name=Ada
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
// Runs in the step's image: python3 is there (and on the machine of a local run); never a path of this machine.
const python = (source: string) => ['python3', '-c', source];

export default defineFlow({
  name: 'HelloFlow',
  // Batch jobs need /bin/sh and python3 in the image (the task runtime; docs/batch.md).
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { name: { type: 'string', default: 'world', help: 'who to greet' } },
  steps: [
    {
      name: 'start',
      command: python(`
import os
from metaflow_cdk import params, save
print("starting run", os.environ["MF_RUN_ID"])
save(greeting="hello, %s" % params()["name"])
`),
      next: 'hello',
    },
    {
      name: 'hello',
      // parent(): the single parent's saved outputs.
      command: python('import json\nfrom metaflow_cdk import parent\nprint(json.dumps(parent()))'),
      next: 'end',
    },
    { name: 'end', command: sh('echo "HelloFlow is all done"') },
  ],
});

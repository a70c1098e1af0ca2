/**
 * The failure policies at work, as they behave on every compute layer:
 * - `flaky` fails on its first attempt and is saved by @retry (attempt 1 succeeds);
 * - `hung` hangs on its first attempt, is cut by @timeout (the whole process group is killed),
 *   and its retry finishes;
 * - `failing` always fails; @catch records the failure under `compute_failed` and the flow goes on;
 * - `end` reads the caught failure through the task helpers (`metaflow_cdk.caught()`).
 *
 *   npx metaflow-cdk run examples/resilient.ts
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
// Runs in the step's image: python3 is there (and on the machine of a local run); never a path of this machine.
const python = (source: string) => ['python3', '-c', source];

export default defineFlow({
  name: 'ResilientFlow',
  // Batch jobs need /bin/sh and python3 in the image (the task runtime; docs/batch.md).
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  steps: [
    { name: 'start', command: sh('echo "three steps, three ways to fail"'), next: ['flaky', 'hung', 'failing'] },
    {
      name: 'flaky',
      retry: { times: 2, minutesBetweenRetries: 0 },
      command: sh('if [ "$MF_RETRY_COUNT" = 0 ]; then echo "transient error on attempt 0" >&2; exit 1; fi; echo "ok on attempt $MF_RETRY_COUNT"'),
      next: 'join',
    },
    {
      name: 'hung',
      timeout: { seconds: 1 },
      retry: { times: 1, minutesBetweenRetries: 0 },
      command: sh('if [ "$MF_RETRY_COUNT" = 0 ]; then echo "hanging..."; sleep 600; fi; echo "finished on attempt $MF_RETRY_COUNT"'),
      next: 'join',
    },
    {
      name: 'failing',
      catch: { var: 'compute_failed' },
      command: sh('echo "this step always fails" >&2; exit 3'),
      next: 'join',
    },
    { name: 'join', join: true, command: python('from metaflow_cdk import inputs\nprint("joined %d branches" % len(inputs()))'), next: 'end' },
    // caught(var): the failure @catch recorded (None when the step succeeded), as a dict.
    { name: 'end', command: python('import json\nfrom metaflow_cdk import caught\nprint("caught failure:", json.dumps(caught("compute_failed"), separators=(",", ":")))') },
  ],
});

/**
 * A flow whose middle step fails without a catch, for the Metaflow UI test: the run fails at
 * `boom` (after printing a line to stderr), `end` never runs.
 */
import { defineFlow } from '../../../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];

export default defineFlow({
  name: 'FailingFlow',
  steps: [
    { name: 'start', command: sh('echo "starting"'), next: 'boom' },
    { name: 'boom', command: sh('echo "going down" >&2; exit 4'), next: 'end' },
    { name: 'end', command: sh('echo "never"') },
  ],
});

/**
 * A flow for the metadata service tests: a static 3-way foreach (each child squares its item and
 * prints it), a branch whose step fails and is caught, and an end step. With `--param gate=DIR`
 * the children wait for DIR/children and `end` waits for DIR/end, so a test can act (stop the
 * service, read a running task's live log) while tasks are under way.
 */
import { defineFlow } from '../../../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
const wait = (name: string) => `if [ -n "$MF_PARAM_GATE" ]; then while [ ! -e "$MF_PARAM_GATE/${name}" ]; do sleep 0.05; done; fi; `;

export default defineFlow({
  name: 'GatedFlow',
  parameters: { gate: { type: 'string', default: '', help: 'a directory whose files open the gates' } },
  steps: [
    { name: 'start', command: sh('echo "starting"'), next: ['fan', 'risky'] },
    { name: 'fan', command: sh('echo "fanning out"'), foreach: { items: [1, 2, 3] }, next: 'square' },
    {
      name: 'square',
      command: sh(`${wait('children')}echo "square of $MF_FOREACH_ITEM"; echo "{\\"square\\": $((MF_FOREACH_ITEM * MF_FOREACH_ITEM))}" > "$MF_OUTPUT_DIR/outputs.json"`),
      next: 'gather',
    },
    { name: 'gather', join: true, command: sh('echo "gathered"'), next: 'join' },
    { name: 'risky', catch: { var: 'risky_failed' }, command: sh('echo "about to fail" >&2; exit 3'), next: 'join' },
    { name: 'join', join: true, command: sh('echo "joined"'), next: 'end' },
    { name: 'end', command: sh(`echo "end is up"; ${wait('end')}echo "all done"`) },
  ],
});

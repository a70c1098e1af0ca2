/**
 * A dynamic 100-way foreach: `start` decides the items at run time and writes them to its
 * outputs; each `square` child squares its item; `join` sums the children's outputs.
 *
 *   npx metaflow-cdk run examples/fanout.ts --param width=20
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
const node = (source: string) => [process.execPath, '-e', source];

export default defineFlow({
  name: 'FanoutFlow',
  image: 'public.ecr.aws/docker/library/node:20-slim',
  parameters: { width: { type: 'integer', default: 100, help: 'how many children' } },
  steps: [
    {
      name: 'start',
      command: node(`
        const n = Number(process.env.MF_PARAM_WIDTH);
        const items = Array.from({ length: n }, (_, i) => i + 1);
        require('fs').writeFileSync(process.env.MF_OUTPUT_DIR + '/outputs.json', JSON.stringify({ items }));
        console.log('fanning out over ' + n + ' items');`),
      foreach: { output: 'items' },
      next: 'square',
    },
    {
      name: 'square',
      resources: { cpu: 0.25, memory: 512 },
      command: sh('echo "{\\"square\\": $((MF_FOREACH_ITEM * MF_FOREACH_ITEM))}" > "$MF_OUTPUT_DIR/outputs.json"'),
      next: 'join',
    },
    {
      name: 'join',
      join: true,
      command: node(`
        const fs = require('fs');
        const root = process.env.MF_DATASTORE_ROOT;
        // A very wide join gets its input paths in a file instead (see the task contract).
        const list = process.env.MF_INPUT_PATHS_FILE;
        const inputs = list ? fs.readFileSync(root + '/' + list, 'utf8').split('\\n').filter(Boolean) : process.env.MF_INPUT_PATHS.split(',');
        const total = inputs.reduce((sum, p) => sum + JSON.parse(fs.readFileSync(root + '/' + p + '/outputs.json', 'utf8')).square, 0);
        fs.writeFileSync(process.env.MF_OUTPUT_DIR + '/outputs.json', JSON.stringify({ total, children: inputs.length }));
        console.log('sum of squares of 1..' + inputs.length + ' = ' + total);`),
      next: 'end',
    },
    { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"; echo') },
  ],
});

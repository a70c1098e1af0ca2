/**
 * A hyperparameter sweep: a static foreach over a list given as a flow parameter (100 learning
 * rates by default); each `train` child "trains" with its rate and reports a loss; `pick` keeps the
 * best one.
 *
 *   npx metaflow-cdk run examples/sweep.ts --param rates=0.1,0.01,0.001
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
const node = (source: string) => [process.execPath, '-e', source];
const defaultRates = Array.from({ length: 100 }, (_, i) => Number(((i + 1) / 1000).toFixed(3)));

export default defineFlow({
  name: 'SweepFlow',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { rates: { type: 'list', default: defaultRates, help: 'learning rates to try' } },
  steps: [
    { name: 'start', command: sh('echo "sweeping $(echo "$MF_PARAM_RATES" | tr , "\\n" | wc -l) learning rates"'), foreach: { param: 'rates' }, next: 'train' },
    {
      name: 'train',
      resources: { cpu: 1, memory: 1024 },
      retry: { times: 1, minutesBetweenRetries: 0 },
      // loss = (log10(rate) + 2)^2: the best rate is 0.01. awk does the maths.
      command: sh(
        'awk -v r="$MF_FOREACH_ITEM" \'BEGIN { l = (log(r)/log(10) + 2)^2; printf "{\\"rate\\": %s, \\"loss\\": %.6f}\\n", r, l }\' > "$MF_OUTPUT_DIR/outputs.json"',
      ),
      next: 'pick',
    },
    {
      name: 'pick',
      join: true,
      command: node(`
        const fs = require('fs');
        const root = process.env.MF_DATASTORE_ROOT;
        const list = process.env.MF_INPUT_PATHS_FILE; // set instead of MF_INPUT_PATHS for very wide joins
        const paths = list ? fs.readFileSync(root + '/' + list, 'utf8').split('\\n').filter(Boolean) : process.env.MF_INPUT_PATHS.split(',');
        const results = paths.map((p) => JSON.parse(fs.readFileSync(root + '/' + p + '/outputs.json', 'utf8')));
        const best = results.reduce((a, b) => (b.loss < a.loss ? b : a));
        fs.writeFileSync(process.env.MF_OUTPUT_DIR + '/outputs.json', JSON.stringify({ best, tried: results.length }));
        console.log('best of ' + results.length + ': rate ' + best.rate + ' (loss ' + best.loss + ')');`),
      next: 'end',
    },
    { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"; echo') },
  ],
});

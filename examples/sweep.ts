/**
 * A hyperparameter sweep: a static foreach over a list given as a flow parameter (100 learning
 * rates by default); each `train` child "trains" with its rate and reports a loss; `pick` keeps the
 * best one. The steps use the task helpers (`metaflow_cdk`: params, item, inputs, save), never
 * datastore paths.
 *
 *   npx metaflow-cdk run examples/sweep.ts --param rates=0.1,0.01,0.001
 */
import { defineFlow } from '../runner';

// Runs in the step's image: python3 is there (and on the machine of a local run); never a path of this machine.
const python = (source: string) => ['python3', '-c', source];
const defaultRates = Array.from({ length: 100 }, (_, i) => Number(((i + 1) / 1000).toFixed(3)));

export default defineFlow({
  name: 'SweepFlow',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { rates: { type: 'list', default: defaultRates, help: 'learning rates to try' } },
  steps: [
    {
      name: 'start',
      command: python('from metaflow_cdk import params\nprint("sweeping %d learning rates" % len(params()["rates"]))'),
      foreach: { param: 'rates' },
      next: 'train',
    },
    {
      name: 'train',
      resources: { cpu: 1, memory: 1024 },
      retry: { times: 1, minutesBetweenRetries: 0 },
      // loss = (log10(rate) + 2)^2: the best rate is 0.01.
      command: python(`
import math
from metaflow_cdk import item, save
rate = item()
save(rate=rate, loss=round((math.log10(rate) + 2) ** 2, 6))
`),
      next: 'pick',
    },
    {
      name: 'pick',
      join: true,
      command: python(`
from metaflow_cdk import inputs, save
results = inputs()
best = min(results, key=lambda r: r["loss"])
save(best=best, tried=len(results))
print("best of %d: rate %s (loss %s)" % (len(results), best["rate"], best["loss"]))
`),
      next: 'end',
    },
    { name: 'end', command: python('import json\nfrom metaflow_cdk import parent\nprint(json.dumps(parent()))') },
  ],
});

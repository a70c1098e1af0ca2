/**
 * A hyperparameter sweep: a static foreach over a list given as a flow parameter (100 learning
 * rates by default); each `train` child "trains" with its rate and reports a loss; `pick` keeps the
 * best one.
 *
 *   npx metaflow-cdk run examples/sweep.ts --param rates=0.1,0.01,0.001
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
// Runs in the step's image: python3 is there (and on the machine of a local run); never a path of this machine.
const python = (source: string) => ['python3', '-c', source];
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
      command: python(`
import json, os
root = os.environ["MF_DATASTORE_ROOT"]
listing = os.environ.get("MF_INPUT_PATHS_FILE")  # set instead of MF_INPUT_PATHS for very wide joins
paths = open(os.path.join(root, listing)).read().split() if listing else os.environ["MF_INPUT_PATHS"].split(",")
results = [json.load(open(os.path.join(root, p, "outputs.json"))) for p in paths]
best = min(results, key=lambda r: r["loss"])
json.dump({"best": best, "tried": len(results)}, open(os.path.join(os.environ["MF_OUTPUT_DIR"], "outputs.json"), "w"))
print("best of %d: rate %s (loss %s)" % (len(results), best["rate"], best["loss"]))
`),
      next: 'end',
    },
    { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"; echo') },
  ],
});

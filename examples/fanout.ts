/**
 * A dynamic 100-way foreach: `start` decides the items at run time and writes them to its
 * outputs; each `square` child squares its item; `join` sums the children's outputs.
 *
 *   npx metaflow-cdk run examples/fanout.ts --param width=20
 */
import { defineFlow } from '../runner';

const sh = (script: string) => ['/bin/sh', '-c', script];
// Runs in the step's image: python3 is there (and on the machine of a local run); never a path of this machine.
const python = (source: string) => ['python3', '-c', source];

export default defineFlow({
  name: 'FanoutFlow',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { width: { type: 'integer', default: 100, help: 'how many children' } },
  steps: [
    {
      name: 'start',
      command: python(`
import json, os
n = int(os.environ["MF_PARAM_WIDTH"])
json.dump({"items": list(range(1, n + 1))}, open(os.path.join(os.environ["MF_OUTPUT_DIR"], "outputs.json"), "w"))
print("fanning out over %d items" % n)
`),
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
      command: python(`
import json, os
root = os.environ["MF_DATASTORE_ROOT"]
listing = os.environ.get("MF_INPUT_PATHS_FILE")  # a very wide join gets its input paths in a file (see the task contract)
inputs = open(os.path.join(root, listing)).read().split() if listing else os.environ["MF_INPUT_PATHS"].split(",")
total = sum(json.load(open(os.path.join(root, p, "outputs.json")))["square"] for p in inputs)
json.dump({"total": total, "children": len(inputs)}, open(os.path.join(os.environ["MF_OUTPUT_DIR"], "outputs.json"), "w"))
print("sum of squares of 1..%d = %d" % (len(inputs), total))
`),
      next: 'end',
    },
    { name: 'end', command: sh('cat "$MF_DATASTORE_ROOT/$MF_INPUT_PATHS/outputs.json"; echo') },
  ],
});

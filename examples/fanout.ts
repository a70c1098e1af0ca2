/**
 * A dynamic 100-way foreach: `start` decides the items at run time and saves them; each `square`
 * child squares its item; `join` sums the children's outputs. The steps use the task helpers
 * (`metaflow_cdk`: params, item, inputs, save) — a 100-way join's inputs included — never
 * datastore paths.
 *
 *   npx metaflow-cdk run examples/fanout.ts --param width=20
 */
import { defineFlow } from '../runner';

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
from metaflow_cdk import params, save
n = params()["width"]
save(items=list(range(1, n + 1)))
print("fanning out over %d items" % n)
`),
      foreach: { output: 'items' },
      next: 'square',
    },
    {
      name: 'square',
      resources: { cpu: 0.25, memory: 512 },
      command: python('from metaflow_cdk import item, save\nsave(square=item() ** 2)'),
      next: 'join',
    },
    {
      name: 'join',
      join: true,
      // inputs(): every child's outputs, however wide the join (the helpers read the input list from its file when it is long).
      command: python(`
from metaflow_cdk import inputs, save
squares = [o["square"] for o in inputs()]
save(total=sum(squares), children=len(squares))
print("sum of squares of 1..%d = %d" % (len(squares), sum(squares)))
`),
      next: 'end',
    },
    { name: 'end', command: python('import json\nfrom metaflow_cdk import parent\nprint(json.dumps(parent()))') },
  ],
});

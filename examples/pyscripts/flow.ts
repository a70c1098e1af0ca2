/**
 * Python scripts beside the flow file: each step runs one of them with a relative path. The
 * scripts reach AWS Batch in the flow's code package (this folder, packed and uploaded once per
 * run; docs/batch.md "Code packages"); locally the tasks run in this folder, so `python3
 * train.py` means the same on both. The scripts read their inputs and save their outputs through
 * the task helpers (`metaflow_cdk`, on every task's PYTHONPATH), not through datastore paths.
 *
 *   node bin/metaflow-cdk.js run examples/pyscripts/flow.ts --param rows=500
 */
import { defineFlow } from '../../runner';

export default defineFlow({
  name: 'PyScriptsFlow',
  image: 'public.ecr.aws/docker/library/python:3.12-slim',
  parameters: { rows: { type: 'integer', default: 200, help: 'how many rows of synthetic data to make' } },
  steps: [
    { name: 'start', description: 'make a synthetic data set', command: ['python3', 'prepare.py'], next: 'train' },
    { name: 'train', description: 'fit a line to it', command: ['python3', 'train.py'], next: 'end' },
    { name: 'end', description: 'print what was learned', command: ['python3', 'report.py'] },
  ],
});

/**
 * Benchmark: what registering a run with the Metaflow metadata service costs. A 1,000-task
 * foreach of /bin/true (each child writes a one-key outputs.json) on the local layer, run in this
 * process without the service and then with the registrar hearing its events, alternating.
 * Prints the wall time of each, the time the run's end waited for the registration's drain, and
 * the service calls per task by kind.
 *
 *   ../shared/peers/start-metadata-service.sh /tmp/mfsvc && . /tmp/mfsvc/env
 *   METAFLOW_SERVICE_URL=$SERVICE_URL npx tsx bench/metadata.ts [--width 1000 --repeats 3]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultMaxWorkers, LocalComputeLayer } from '../runner/compute/local';
import { LocalDatastore } from '../runner/datastore/local';
import { defineFlow } from '../runner/flow/model';
import { validateFlow } from '../runner/flow/validate';
import { blobWriterFor, MetadataServiceClient, RunRegistrar } from '../runner/metadata';
import { runFlow } from '../runner/orchestrator/orchestrator';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const WIDTH = arg('width', 1000);
const REPEATS = arg('repeats', 3);
const WORKERS = arg('max-workers', defaultMaxWorkers());
const URL_ = process.env.METAFLOW_SERVICE_URL;

const flow = defineFlow({
  name: 'MetadataBenchFlow',
  steps: [
    { name: 'start', command: ['/bin/true'], foreach: { items: Array.from({ length: WIDTH }, (_, i) => i) }, next: 'child' },
    { name: 'child', command: ['/bin/sh', '-c', 'echo "{\\"i\\": $MF_FOREACH_ITEM}" > "$MF_OUTPUT_DIR/outputs.json"'], next: 'join' },
    { name: 'join', join: true, command: ['/bin/true'], next: 'end' },
    { name: 'end', command: ['/bin/true'] },
  ],
});

async function once(root: string, withService: boolean) {
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const datastore = new LocalDatastore(root);
  const client = new MetadataServiceClient({ url: URL_!, user: 'bench' });
  const registrar = withService ? new RunRegistrar({ client, blobs: blobWriterFor(datastore), datastore, graph: v.graph, warn: (l) => console.error(l) }) : undefined;
  const t = performance.now();
  await registrar?.preflight(flow.name);
  const record = await runFlow({ graph: v.graph, layer: new LocalComputeLayer({ maxWorkers: WORKERS }), datastore, parameters: {}, onEvent: registrar?.onEvent });
  const ran = performance.now();
  const summary = await registrar?.finish();
  const ms = performance.now() - t;
  if (record.status !== 'succeeded') throw new Error(`bench run ${record.status}: ${record.error}`);
  if (summary && summary.registered !== summary.tasks) throw new Error(`only ${summary.registered} of ${summary.tasks} tasks registered`);
  return { ms, drainMs: performance.now() - ran, calls: summary?.calls ?? {}, tasks: record.tasks.length };
}

async function main() {
  if (!URL_) throw new Error('set METAFLOW_SERVICE_URL (start the service with ../shared/peers/start-metadata-service.sh)');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mfcdk-mdbench-'));
  try {
    await once(root, false); // warm-up
    const without: number[] = [];
    const withSvc: { ms: number; drainMs: number; calls: Record<string, number>; tasks: number }[] = [];
    for (let i = 0; i < REPEATS; i++) {
      without.push((await once(root, false)).ms);
      withSvc.push(await once(root, true));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const tasks = withSvc[0].tasks + 1; // + the _parameters task
    const m0 = median(without);
    const m1 = median(withSvc.map((r) => r.ms));
    console.log(`foreach of ${WIDTH} children (${tasks} tasks with _parameters), ${WORKERS} workers, ${os.cpus().length} cores, median of ${REPEATS}`);
    console.log(`  without the service: ${(m0 / 1000).toFixed(2)} s`);
    console.log(`  with the service:    ${(m1 / 1000).toFixed(2)} s (+${((m1 - m0) / 1000).toFixed(2)} s, ${(((m1 - m0) / m0) * 100).toFixed(0)}%; the end's drain ${median(withSvc.map((r) => r.drainMs)).toFixed(0)} ms)`);
    const calls = withSvc[0].calls;
    const total = Object.values(calls).reduce((a, b) => a + b, 0);
    console.log(`  service calls: ${total} = ${(total / tasks).toFixed(2)} per task (${Object.entries(calls).map(([k, n]) => `${k} ${n}`).join(', ')})`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Benchmark: a wide foreach of no-op tasks (/bin/true) on the local compute layer.
 *
 *   npm run bench [-- --width 100 --repeats 7 --max-workers N]
 *   npm run bench -- --scale [--widths 1000,2000,4000,10000]
 *
 * Default: the runner's wall time for start → 100 children → join → end, and a baseline measured
 * in the same process: the same 103 /bin/true processes spawned the same way (own process group,
 * piped stdout/stderr, same concurrency, same start → fan-out → join → end order) with no
 * orchestrator. The difference per task is the orchestration overhead (DAG walk, events, run
 * record, datastore directories, status files, env building).
 *
 * --scale: one fresh process per width runs the flow once and reports its wall time, time per
 * task and the process's peak RSS (runner memory, Node itself included), to show that time is
 * linear in the width and memory stays bounded.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultMaxWorkers, LocalComputeLayer } from '../runner/compute/local';
import { LocalDatastore } from '../runner/datastore/local';
import { defineFlow } from '../runner/flow/model';
import { validateFlow } from '../runner/flow/validate';
import { runFlow } from '../runner/orchestrator/orchestrator';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const flag = (name: string) => process.argv.includes(`--${name}`);
const WIDTH = arg('width', 100);
const REPEATS = arg('repeats', 7);
const WORKERS = arg('max-workers', defaultMaxWorkers());
const TRUE = '/bin/true';

function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(TRUE, [], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MF_X: '1' } });
    child.stdout.on('data', () => undefined);
    child.stderr.on('data', () => undefined);
    child.once('error', reject);
    child.once('close', () => resolve());
  });
}

/** n processes with at most `workers` at a time. */
async function pool(n: number, workers: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await spawnTrue();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, workers) }, lane));
}

async function baseline(): Promise<number> {
  const t = performance.now();
  await spawnTrue(); // start
  await pool(WIDTH, WORKERS); // the children
  await spawnTrue(); // join
  await spawnTrue(); // end
  return performance.now() - t;
}

const flow = defineFlow({
  name: 'BenchFlow',
  steps: [
    { name: 'start', command: [TRUE], foreach: { items: Array.from({ length: WIDTH }, (_, i) => i) }, next: 'child' },
    { name: 'child', command: [TRUE], next: 'join' },
    { name: 'join', join: true, command: [TRUE], next: 'end' },
    { name: 'end', command: [TRUE] },
  ],
});

async function runner(root: string): Promise<number> {
  const v = validateFlow(flow);
  if (!v.ok) throw new Error(v.problems.join('\n'));
  const t = performance.now();
  const record = await runFlow({ graph: v.graph, layer: new LocalComputeLayer({ maxWorkers: WORKERS }), datastore: new LocalDatastore(root), parameters: {} });
  const ms = performance.now() - t;
  if (record.status !== 'succeeded' || record.tasks.length !== WIDTH + 3) throw new Error(`bench run ${record.status}: ${record.error}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const f = (ms: number) => `${ms.toFixed(1)} ms`;

/** --once: run the flow once in this process and print a JSON line (for --scale). */
async function once(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mfcdk-bench-'));
  try {
    const ms = await runner(root);
    console.log(JSON.stringify({ width: WIDTH, ms, maxRssKiB: process.resourceUsage().maxRSS }));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** --scale: each width in a fresh process, so that each peak RSS is its own. */
async function scale(): Promise<void> {
  const i = process.argv.indexOf('--widths');
  const widths = (i > 0 ? process.argv[i + 1] : '1000,2000,4000,10000').split(',').map(Number);
  console.log(`foreach of ${TRUE} at several widths, ${WORKERS} workers, ${os.cpus().length} cores, node ${process.version}, one run each in a fresh process`);
  console.log('  width   tasks   wall        per task    peak RSS');
  for (const width of widths) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, __filename, '--once', '--width', String(width), '--max-workers', String(WORKERS)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`width ${width}: exit ${code}`))));
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { ms: number; maxRssKiB: number };
    const tasks = width + 3;
    console.log(`  ${String(width).padStart(5)}   ${String(tasks).padStart(5)}   ${(r.ms / 1000).toFixed(2).padStart(6)} s   ${(r.ms / tasks).toFixed(2).padStart(5)} ms   ${(r.maxRssKiB / 1024).toFixed(0).padStart(4)} MiB`);
  }
}

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mfcdk-bench-'));
  try {
    // Warm-up: module loading, the first spawns, the page cache.
    await baseline();
    await runner(root);
    const base: number[] = [];
    const run: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      base.push(await baseline());
      run.push(await runner(root));
    }
    const tasks = WIDTH + 3;
    const overhead = (median(run) - median(base)) / tasks;
    console.log(`${WIDTH}-way foreach of ${TRUE} (${tasks} tasks), ${WORKERS} workers, ${os.cpus().length} cores, node ${process.version}, ${REPEATS} runs (median)`);
    console.log(`  runner (local layer):      ${f(median(run))}   [min ${f(Math.min(...run))}, max ${f(Math.max(...run))}]`);
    console.log(`  baseline (bare spawns):    ${f(median(base))}   [min ${f(Math.min(...base))}, max ${f(Math.max(...base))}]`);
    console.log(`  orchestration overhead:    ${overhead.toFixed(2)} ms per task`);
    const ok = median(run) <= 500 && overhead <= 5;
    console.log(`  target ≤ 500 ms total and ≤ 5 ms per task: ${ok ? 'met' : 'NOT met'}`);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

(flag('once') ? once() : flag('scale') ? scale() : main()).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

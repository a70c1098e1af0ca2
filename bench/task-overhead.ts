/**
 * What the one-container job shape costs per task, measured in the test harness: a Batch task of
 * examples/pyscripts (its code package built and stored in S3 on moto_server) played in the
 * python stand-in (bubblewrap, test/support/batch-job-player.ts), against the same container
 * running only the step's command (no loader: the floor).
 *
 *   npx tsx bench/task-overhead.ts [runs]
 *
 * Prints, per task: wall time of the container (median of the runs, and the ratio to the
 * floor measured in the same process), bytes moved through S3 (code package, inputs, outputs),
 * and the processes started before the step's command (its pid in the container's own pid
 * namespace, less bubblewrap's init).
 */
import { S3Client, CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { taskContainerOverrides, taskJobDefinition } from '../runner/batch/job-shape';
import { openS3Datastore } from '../runner/datastore/s3';
import { buildCodePackage } from '../runner/package/build';
import { storeCodePackage } from '../runner/package/store';
import { effectivePolicies } from '../runner/policy';
import { playContainerJob } from '../test/support/batch-job-player';
import { MOTO_CLIENT_CONFIG, startMoto } from '../test/support/moto';

const RUNS = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const moto = await startMoto();
  try {
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'us-east-1' });
    const s3 = new S3Client({ ...MOTO_CLIENT_CONFIG, endpoint: moto.endpoint, forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const datastore = openS3Datastore({ bucket: 'bench', prefix: 'metaflow' }, { region: 'us-east-1' });
    const root = join(__dirname, '..', 'examples', 'pyscripts');
    const built = await buildCodePackage({ root, flowFile: join(root, 'flow.ts') });
    const { ref } = await storeCodePackage(datastore, 'PyScriptsFlow', built);
    await built.dispose();
    // the step's command prints its own pid: in a fresh pid namespace that counts the processes before it
    const argv = ['sh', '-c', 'echo "pid=$$"; python3 prepare.py'];
    const policies = effectivePolicies({});
    const input = { flow: 'PyScriptsFlow', step: 'start', image: 'public.ecr.aws/docker/library/python:3.12-slim', policies, platform: 'EC2' as const };
    const definition = taskJobDefinition(input, argv);
    const env = { MF_FLOW: 'PyScriptsFlow', MF_RUN_ID: '1', MF_STEP: 'start', MF_TASK_ID: '0', MF_RETRY_COUNT: '0', MF_PARAM_ROWS: '200', MF_INPUT_PATHS: '' };
    const floorDefinition = { jobDefinitionName: 'floor', type: 'container' as const, containerProperties: { image: input.image, command: ['sh', '-c', 'mkdir -p /tmp/out && cd /tmp && echo "pid=$$" && python3 -c "print(1)"'] } };
    const loaded: number[] = [];
    const floor: number[] = [];
    let pid = 0;
    for (let i = 0; i <= RUNS; i++) {
      const overrides = taskContainerOverrides('start/0#0', definition, env, { datastoreUrl: 's3://bench/metaflow', fetchKeys: [], outputKey: `PyScriptsFlow/1/start/0/attempt-${i}` }, { codeUrl: ref.url, region: 'us-east-1' });
      let t = performance.now();
      const played = await playContainerJob(definition, overrides, { endpoint: moto.endpoint, jobId: `job-${i}` });
      if (played.exitCode !== 0) throw new Error(`the task failed (${played.exitCode ?? played.reason}): ${played.lines.join('\n')}`);
      if (i > 0) loaded.push(performance.now() - t);
      pid = Number(played.lines.find((l) => l.startsWith('pid='))?.slice(4));
      t = performance.now();
      await playContainerJob(floorDefinition, undefined, { endpoint: moto.endpoint, jobId: `floor-${i}` });
      if (i > 0) floor.push(performance.now() - t);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: 'metaflow/PyScriptsFlow/1/start/0/attempt-1/' }));
    const outputBytes = (listed.Contents ?? []).reduce((n, o) => n + (o.Size ?? 0), 0);
    const m = median(loaded);
    const f = median(floor);
    console.log(`one task of examples/pyscripts in the python stand-in, ${RUNS} runs after a warm-up:`);
    console.log(`  container wall time: loader + runtime + step ${m.toFixed(0)} ms median (min ${Math.min(...loaded).toFixed(0)}, max ${Math.max(...loaded).toFixed(0)}); the step alone ${f.toFixed(0)} ms; ratio ${(m / f).toFixed(2)}`);
    console.log(`  bytes moved through S3: code package ${ref.bytes} (${ref.files} user files + the runtime), outputs ${outputBytes}, inputs 0 (a start step)`);
    console.log(`  processes started before the step's command: ${pid - 2} (sh, exec'd into python3 running stage 0 and the runtime; the command is pid ${pid} in the container)`);
    console.log(`  loader in the job definition: ${JSON.stringify(definition.containerProperties!.command).length} characters of ECS's 8,192`);
  } finally {
    await moto.stop();
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});

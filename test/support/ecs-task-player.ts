/**
 * Plays a Batch multi-container job (`ecsProperties`) on this machine, for tests: each container
 * of the registered definition runs as a real `sh` process, in order of its `dependsOn`
 * (COMPLETE), with the definition's command and environment overridden by SubmitJob's
 * `ecsPropertiesOverride`. The task-scoped volume is a temporary directory standing for its mount
 * path (every `<mount>/` in commands and environment values is rewritten — values too, since the Step
 * Functions compiler passes multi-line commands through the environment: MF_ARGV_<i>),
 * and the stand-in `aws` of test/support/aws-standin is first on PATH, talking to the S3 endpoint
 * given (moto_server). The task's exit code is its essential container's, as Batch reports it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EcsPropertiesOverride, KeyValuePair, RegisterJobDefinitionCommandInput } from '@aws-sdk/client-batch';

export const AWS_STANDIN_DIR = join(__dirname, 'aws-standin');

export interface PlayedContainer {
  readonly name: string;
  readonly exitCode: number;
  /** stdout and stderr lines, in order of arrival. */
  readonly lines: string[];
}

export interface PlayedTask {
  /** The essential container's exit code. */
  readonly exitCode: number;
  readonly containers: PlayedContainer[];
}

export interface PlayOptions {
  /** The S3 endpoint the stand-in `aws` talks to (AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  /** Added to every container's environment (AWS_BATCH_JOB_ARRAY_INDEX for an array child). */
  readonly env?: Readonly<Record<string, string>>;
  /** Gets a function that kills the running container (TerminateJob). */
  readonly onKill?: (kill: () => void) => void;
  /** Each line as it comes, with its container's name. */
  readonly onLine?: (container: string, line: string) => void;
}

const toMap = (kv: readonly KeyValuePair[] | undefined) => Object.fromEntries((kv ?? []).map((e) => [e.name!, e.value!]));

export async function playEcsTask(definition: RegisterJobDefinitionCommandInput, override: EcsPropertiesOverride | undefined, options: PlayOptions): Promise<PlayedTask> {
  const task = definition.ecsProperties?.taskProperties?.[0];
  if (!task?.containers?.length) throw new Error(`job definition ${definition.jobDefinitionName} has no ecsProperties containers`);
  const overrides = new Map((override?.taskProperties?.[0]?.containers ?? []).map((c) => [c.name!, c]));
  const mounts = new Set(task.containers.flatMap((c) => (c.mountPoints ?? []).map((m) => m.containerPath!)));
  const volume = mkdtempSync(join(tmpdir(), 'mf-ecs-task-'));
  const local = (text: string) => [...mounts].reduce((t, m) => t.split(`${m}/`).join(`${volume}/`), text);
  const played: PlayedContainer[] = [];
  let killed = false;
  try {
    for (const c of task.containers) {
      const o = overrides.get(c.name!);
      for (const dep of c.dependsOn ?? []) {
        if (dep.condition !== 'COMPLETE' || !played.some((p) => p.name === dep.containerName)) throw new Error(`container ${c.name} depends on ${dep.containerName} (${dep.condition}), which this player cannot honour`);
      }
      const command = (o?.command ?? c.command ?? []).map(local);
      const env: Record<string, string> = { ...toMap(c.environment), ...toMap(o?.environment), ...options.env };
      for (const [k, v] of Object.entries(env)) env[k] = local(v);
      const lines: string[] = [];
      const exitCode = killed
        ? 137
        : await new Promise<number>((resolve) => {
            const [cmd, ...args] = command;
            const proc = spawn(cmd, args, { env: { ...env, PATH: `${AWS_STANDIN_DIR}:${process.env.PATH ?? ''}`, AWS_ENDPOINT_URL: options.endpoint }, stdio: ['ignore', 'pipe', 'pipe'] });
            options.onKill?.(() => {
              killed = true;
              proc.kill('SIGKILL');
            });
            const collect = (chunk: Buffer) => {
              for (const line of chunk.toString().split('\n').filter((l) => l !== '')) {
                lines.push(line);
                options.onLine?.(c.name!, line);
              }
            };
            proc.stdout.on('data', collect);
            proc.stderr.on('data', collect);
            proc.on('close', (code) => resolve(code ?? 137));
          });
      played.push({ name: c.name!, exitCode, lines });
    }
  } finally {
    rmSync(volume, { recursive: true, force: true });
  }
  const essential = task.containers.filter((c) => c.essential !== false).map((c) => played.find((p) => p.name === c.name)!);
  return { exitCode: essential.find((p) => p.exitCode !== 0)?.exitCode ?? 0, containers: played };
}

/**
 * Runs read back from a Metaflow metadata service (`runs --from service`, `show --from service`):
 * ours and those of Python Metaflow on the same stack, through the service's read routes
 * (metaflow-service v2.5.1 services/metadata_service/api: `GET /flows`, `/flows/{f}/runs`,
 * `/runs/{r}`, `/runs/{r}/steps`, `/steps/{s}/tasks`, `/runs/{r}/metadata`). A run's status is
 * computed as the Metaflow UI backend computes it (services/ui_backend_service/data/db/tables/
 * run.py and task.py), so `runs` and the UI agree.
 */
import type { MetadataServiceClient } from './client';
import { formatDuration, formatTable } from '../progress/table';

/** A run row of the service (`GET /flows/{f}/runs`). */
interface RunRow {
  readonly flow_id: string;
  /** The run's id: a number the service assigned (Python Metaflow), or the id the client gave (ours). */
  readonly run_number: string | number;
  readonly user_name?: string | null;
  /** Creation time, ms since the epoch. */
  readonly ts_epoch: number;
  /** The last heartbeat, s since the epoch. */
  readonly last_heartbeat_ts?: number | null;
  readonly tags?: readonly string[] | null;
  readonly system_tags?: readonly string[] | null;
}

interface TaskRow {
  readonly step_name: string;
  readonly task_id: string | number;
  readonly ts_epoch: number;
  readonly last_heartbeat_ts?: number | null;
}

interface MetadataRow {
  readonly step_name: string;
  readonly task_id: string | number;
  readonly field_name: string;
  readonly value: string;
  readonly tags?: readonly string[] | null;
  readonly ts_epoch: number;
}

/** The UI backend's run statuses. */
export type ServiceRunStatus = 'completed' | 'failed' | 'running';

/** A run as `runs --from service` lists it. */
export interface ServiceRun {
  readonly flow: string;
  readonly runId: string;
  /** The user when the run carries its `user:<name>` tag (not Step Functions runs), as the UI shows it. */
  readonly user?: string;
  /** User tags and system tags (`user:`, `runtime:`, `metaflow_version:`…), each once. */
  readonly tags: readonly string[];
  readonly startedAt: string;
  readonly status: ServiceRunStatus;
  readonly durationMs?: number;
  /** The `runtime:` system tag: `metaflow-cdk` for ours, `dev` for a Python Metaflow run from a laptop. */
  readonly runtime?: string;
}

/** The UI backend's task statuses. */
export type ServiceTaskStatus = 'completed' | 'failed' | 'unknown' | 'running' | 'pending';

export interface ServiceTask {
  readonly id: string;
  readonly status: ServiceTaskStatus;
  readonly attempts: number;
  /** The `caught` metadata of the last attempt (a failure a catch handled, metaflow-cdk runs). */
  readonly caught?: string;
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

/** A run with its steps and tasks, as `show --from service` prints it. */
export interface ServiceRunDetail extends ServiceRun {
  readonly steps: readonly { readonly name: string; readonly tasks: readonly ServiceTask[] }[];
}

/**
 * The UI backend's constants (services/ui_backend_service/data/db/tables/base.py): a run without a
 * heartbeat for RUN_INACTIVE_CUTOFF_TIME (6 min) is failed; a task, for HEARTBEAT_THRESHOLD
 * (6 × the service's 10 s WAIT_TIME); an old run without heartbeats after a day.
 */
export const RUN_INACTIVE_CUTOFF_S = 6 * 60;
export const TASK_HEARTBEAT_THRESHOLD_S = 60;
const OLD_RUN_FAILURE_CUTOFF_MS = 24 * 60 * 60 * 1000;

const enc = encodeURIComponent;

/** The service answered something that is not its JSON list: one line naming the route. */
export class ServiceAnswerError extends Error {}

async function getList<T>(client: MetadataServiceClient, route: string, required: boolean): Promise<T[]> {
  const body = await client.get(route);
  if (body === undefined && !required) return [];
  if (!Array.isArray(body)) {
    throw new ServiceAnswerError(
      `the metadata service at ${client.settings.url} answered GET ${route} with ${body === undefined ? '404' : 'no JSON list'}: is METAFLOW_SERVICE_URL the service's API URL?`,
    );
  }
  return body as T[];
}

/** Run rows, a few at a time (each is a request). */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

const attemptOf = (m: MetadataRow): number | undefined => {
  const tag = m.tags?.find((t) => t.startsWith('attempt_id:'));
  const n = tag === undefined ? NaN : Number(tag.slice('attempt_id:'.length));
  return Number.isInteger(n) ? n : undefined;
};

/**
 * A run's status, finish time and duration from the end step's `attempt` and `attempt_ok`
 * metadata and the run's heartbeat, by the UI backend's rules (run.py): the latest `attempt_ok`
 * of the end step decides (a newer `attempt` after a False one: retrying, running); without
 * one, a heartbeat in the last 6 minutes means running, else failed.
 */
export function runStatus(run: Pick<RunRow, 'ts_epoch' | 'last_heartbeat_ts'>, endMetadata: readonly MetadataRow[], now: number): { status: ServiceRunStatus; durationMs?: number } {
  const latest = (field: string) => endMetadata.filter((m) => m.field_name === field).sort((a, b) => b.ts_epoch - a.ts_epoch)[0];
  const ok = latest('attempt_ok');
  const okValue = ok === undefined ? undefined : /^true$/i.test(ok.value);
  const attempt = okValue === false ? latest('attempt') : undefined;
  const hb = run.last_heartbeat_ts ?? undefined;
  const beating = hb !== undefined && Math.abs(now / 1000 - hb) <= RUN_INACTIVE_CUTOFF_S;
  if (ok && attempt && ok.ts_epoch < attempt.ts_epoch) return { status: 'running', ...(hb !== undefined ? { durationMs: hb * 1000 - run.ts_epoch } : {}) };
  if (ok) return { status: okValue ? 'completed' : 'failed', durationMs: ok.ts_epoch - run.ts_epoch };
  if (hb !== undefined) return { status: beating ? 'running' : 'failed', durationMs: hb * 1000 - run.ts_epoch };
  const age = now - run.ts_epoch;
  return { status: 'failed', ...(age > OLD_RUN_FAILURE_CUTOFF_MS ? {} : { durationMs: age }) };
}

/**
 * A task's status by the UI backend's rules (task.py), for its last attempt: `attempt_ok`
 * True/False → completed/failed; done without `attempt_ok` → unknown; a later attempt started →
 * failed; a heartbeat older than a minute → failed; nothing yet → pending; else running.
 */
export function taskStatus(task: Pick<TaskRow, 'last_heartbeat_ts'>, metadata: readonly MetadataRow[], now: number): ServiceTask {
  const attempts = [...new Set(metadata.filter((m) => m.field_name === 'attempt').map((m) => attemptOf(m) ?? Number(m.value)).filter(Number.isInteger))];
  const last = attempts.length ? Math.max(...attempts) : undefined;
  const of = (field: string) => metadata.find((m) => m.field_name === field && (last === undefined || attemptOf(m) === last));
  const started = of('attempt');
  const ok = of('attempt_ok');
  const done = of('attempt-done');
  const caught = of('caught');
  const finished = Math.max(ok?.ts_epoch ?? -Infinity, done?.ts_epoch ?? -Infinity);
  const hb = task.last_heartbeat_ts ?? undefined;
  let status: ServiceTaskStatus;
  if (ok) status = /^true$/i.test(ok.value) ? 'completed' : 'failed';
  else if (done) status = 'unknown';
  else if (hb !== undefined && now / 1000 - hb > TASK_HEARTBEAT_THRESHOLD_S) status = 'failed';
  else if (hb === undefined && last === undefined) status = 'pending';
  else status = 'running';
  return {
    id: '',
    status,
    attempts: attempts.length,
    ...(caught ? { caught: caught.value } : {}),
    ...(started ? { startedAt: Math.min(...metadata.filter((m) => m.field_name === 'attempt').map((m) => m.ts_epoch)) } : {}),
    ...(Number.isFinite(finished) ? { finishedAt: finished } : {}),
  };
}

function summary(row: RunRow, status: { status: ServiceRunStatus; durationMs?: number }): ServiceRun {
  const systemTags = row.system_tags ?? [];
  const user = row.user_name && systemTags.includes(`user:${row.user_name}`) ? row.user_name : undefined;
  const runtime = systemTags.find((t) => t.startsWith('runtime:'))?.slice('runtime:'.length);
  return {
    flow: row.flow_id,
    runId: String(row.run_number),
    ...(user ? { user } : {}),
    tags: [...new Set([...systemTags, ...(row.tags ?? [])])],
    startedAt: new Date(row.ts_epoch).toISOString(),
    ...status,
    ...(runtime ? { runtime } : {}),
  };
}

/** The end step's metadata of a run: its tasks, then each one's metadata (usually one task). */
async function endMetadata(client: MetadataServiceClient, flow: string, runId: string): Promise<MetadataRow[]> {
  const runPath = `/flows/${enc(flow)}/runs/${enc(runId)}`;
  const tasks = await getList<TaskRow>(client, `${runPath}/steps/end/tasks`, false);
  const rows = await mapLimited(tasks, 4, (t) => getList<MetadataRow>(client, `${runPath}/steps/end/tasks/${enc(String(t.task_id))}/metadata`, false));
  return rows.flat();
}

/** Which runs to list: every run, or those carrying every one of `tags` (system or user tags). */
export type ServiceRunFilter = { readonly all: true } | { readonly all: false; readonly tags: readonly string[] };

/**
 * The newest `limit` runs of every flow that pass the filter, newest first, with their status;
 * `hidden` counts the runs the filter left out. Requests: one for the flows, one per flow, and
 * about two per run shown (its end step's tasks and their metadata).
 */
export async function listServiceRuns(
  client: MetadataServiceClient,
  options: { readonly filter: ServiceRunFilter; readonly limit: number; readonly flow?: string; readonly now?: number },
): Promise<{ runs: ServiceRun[]; hidden: number }> {
  const now = options.now ?? Date.now();
  const flows = options.flow !== undefined ? [options.flow] : (await getList<{ flow_id: string }>(client, '/flows', true)).map((f) => f.flow_id);
  const rows = (await mapLimited(flows, 8, (f) => getList<RunRow>(client, `/flows/${enc(f)}/runs`, false))).flat();
  const filter = options.filter;
  const passing = rows.filter((r) => filter.all || filter.tags.every((t) => r.system_tags?.includes(t) || r.tags?.includes(t)));
  passing.sort((a, b) => b.ts_epoch - a.ts_epoch);
  const shown = passing.slice(0, options.limit);
  const runs = await mapLimited(shown, 8, async (r) => summary(r, runStatus(r, await endMetadata(client, r.flow_id, String(r.run_number)), now)));
  return { runs, hidden: rows.length - passing.length };
}

/**
 * One run with its steps and tasks: `spec` is `<flow>/<run>` (Metaflow's pathspec) or a run id,
 * looked for in every flow. Undefined when no flow has it; throws when a bare run id is in more
 * than one flow (Python Metaflow's run numbers repeat across flows).
 */
export async function readServiceRun(client: MetadataServiceClient, spec: string, now = Date.now()): Promise<ServiceRunDetail | undefined | { ambiguous: string[] }> {
  const parts = spec.split('/');
  let row: RunRow | undefined;
  if (parts.length === 2) {
    row = (await client.get(`/flows/${enc(parts[0])}/runs/${enc(parts[1])}`)) as RunRow | undefined;
  } else {
    const flows = (await getList<{ flow_id: string }>(client, '/flows', true)).map((f) => f.flow_id);
    const found = (await mapLimited(flows, 8, async (f) => (await client.get(`/flows/${enc(f)}/runs/${enc(spec)}`)) as RunRow | undefined)).filter(
      (r): r is RunRow => r !== undefined && typeof r === 'object',
    );
    if (found.length > 1) return { ambiguous: found.map((r) => `${r.flow_id}/${r.run_number}`) };
    row = found[0];
  }
  if (row === undefined || typeof row !== 'object' || !('flow_id' in row)) return undefined;
  const runPath = `/flows/${enc(row.flow_id)}/runs/${enc(String(row.run_number))}`;
  const [steps, metadata] = await Promise.all([
    getList<{ step_name: string; ts_epoch: number }>(client, `${runPath}/steps`, false),
    getList<MetadataRow>(client, `${runPath}/metadata`, false),
  ]);
  // Steps in the order they were created; Metaflow's client hides `_parameters` and other `_` steps.
  const visible = steps.filter((s) => !s.step_name.startsWith('_')).sort((a, b) => a.ts_epoch - b.ts_epoch);
  const byTask = new Map<string, MetadataRow[]>();
  for (const m of metadata) {
    const key = `${m.step_name}/${m.task_id}`;
    byTask.set(key, [...(byTask.get(key) ?? []), m]);
  }
  const detailed = await mapLimited(visible, 8, async (s) => {
    const tasks = await getList<TaskRow>(client, `${runPath}/steps/${enc(s.step_name)}/tasks`, false);
    tasks.sort((a, b) => a.ts_epoch - b.ts_epoch);
    return {
      name: s.step_name,
      tasks: tasks.map((t) => ({ ...taskStatus(t, byTask.get(`${s.step_name}/${t.task_id}`) ?? [], now), id: String(t.task_id) })),
    };
  });
  return { ...summary(row, runStatus(row, metadata.filter((m) => m.step_name === 'end'), now)), steps: detailed };
}

/** `runs --from service` as a table. */
export function formatServiceRuns(runs: readonly ServiceRun[]): string {
  const rows: (string | number)[][] = [['run', 'flow', 'status', 'started', 'duration', 'user', 'runtime', 'tags']];
  const hiddenTag = (t: string) => /^(user|runtime|metaflow_version|python_version):/.test(t);
  for (const r of runs) rows.push([r.runId, r.flow, r.status, r.startedAt, formatDuration(r.durationMs), r.user ?? '-', r.runtime ?? '-', r.tags.filter((t) => !hiddenTag(t)).join(',')]);
  return formatTable(rows) + '\n';
}

/** `show --from service`: the run's status and, per step, its tasks by status. */
export function formatServiceRun(run: ServiceRunDetail, serviceUrl: string): string {
  const lines = [
    `Run ${run.flow}/${run.runId} in the metadata service ${serviceUrl}: ${run.status}${run.durationMs !== undefined ? ` in ${formatDuration(run.durationMs)}` : ''}`,
    `  started ${run.startedAt}${run.user ? ` by ${run.user}` : ''}${run.runtime ? ` (runtime ${run.runtime})` : ''}`,
  ];
  if (run.tags.length) lines.push(`  tags ${run.tags.join(', ')}`);
  const rows: (string | number)[][] = [['step', 'tasks', 'attempts', 'completed', 'failed', 'caught', 'running', 'other', 'duration']];
  for (const s of run.steps) {
    const count = (st: ServiceTaskStatus) => s.tasks.filter((t) => t.status === st).length;
    const caught = s.tasks.filter((t) => t.caught !== undefined).length;
    const starts = s.tasks.flatMap((t) => (t.startedAt !== undefined ? [t.startedAt] : []));
    const ends = s.tasks.flatMap((t) => (t.finishedAt !== undefined ? [t.finishedAt] : []));
    const duration = starts.length && ends.length ? Math.max(...ends) - Math.min(...starts) : undefined;
    const other = s.tasks.length - count('completed') - count('failed') - count('running');
    rows.push([s.name, s.tasks.length, s.tasks.reduce((n, t) => n + t.attempts, 0), count('completed'), count('failed'), caught, count('running'), other, formatDuration(duration)]);
  }
  lines.push('', formatTable(rows));
  const notable = run.steps.flatMap((s) => s.tasks.filter((t) => t.status === 'failed' || t.caught !== undefined).map((t) => ({ step: s.name, t })));
  if (notable.length) {
    lines.push('');
    for (const { step, t } of notable) lines.push(`${t.caught !== undefined ? 'caught' : 'failed'}: ${step}/${t.id} after ${t.attempts} attempt(s)${t.caught ? `: ${t.caught}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * `metaflow-cdk register` for a Step Functions run: no runner recorded it, so what the registrar
 * needs comes from what the execution left in the datastore. Its tasks are the status.json files
 * its jobs committed (every attempt, with its Batch job id), its parameters are in its run.json,
 * its DAG (`_graph_info`) is `_mfcdk/graph-info.json` in the code package the run.json names, its
 * logs are the MFLOG files each job's runtime wrote beside its task (mfcdk_metadata.py), its
 * outputs the committed outputs.json. The service is read first (registerRecord), so what the
 * jobs registered themselves is not sent again: same task ids (`t-<id>`), attempts, artifact
 * attempts and metadata fields as the job runtime's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Datastore, RunRecord } from '../datastore/types';
import type { CommandContext } from './commands';
import type { MetadataServiceClient } from '../metadata';
import { UserInputError } from '../errors';
import { NO_SERVICE, registerRecordedRun } from './metadata-support';

/**
 * `_graph_info` from the run's code package, or why there is none (one line's worth). The
 * package is fetched from the datastore and checked against its sha1 (runner/package/store.ts).
 */
export async function graphInfoOfPackage(
  datastore: Datastore,
  record: RunRecord,
): Promise<{ info?: Record<string, unknown>; catchVars?: Record<string, string>; missing?: string }> {
  if (!record.codePackage) return { missing: 'its run record names no code package (a state machine compiled before records named it)' };
  const { GRAPH_INFO_PACKAGE_PATH } = require('../metadata/graph-info') as typeof import('../metadata/graph-info');
  const { fetchCodePackage } = require('../package/store') as typeof import('../package/store');
  const { extract } = require('tar') as typeof import('tar');
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'metaflow-cdk-graph-'));
  try {
    const file = path.join(tmp, 'package.tgz');
    try {
      await fetchCodePackage(datastore, record.codePackage, file);
    } catch (err) {
      return { missing: (err as Error).message };
    }
    const dir = path.join(tmp, 'x');
    await fs.promises.mkdir(dir);
    await extract({ file, cwd: dir, strict: true, filter: (p) => p.replace(/^\.\//, '') === GRAPH_INFO_PACKAGE_PATH });
    let text: string;
    try {
      text = await fs.promises.readFile(path.join(dir, GRAPH_INFO_PACKAGE_PATH), 'utf8');
    } catch {
      return { missing: `its code package ${record.codePackage.url} holds no ${GRAPH_INFO_PACKAGE_PATH} (packed without a metadata service)` };
    }
    const parsed = JSON.parse(text) as { graph_info?: unknown; catch_vars?: unknown };
    if (!parsed || typeof parsed.graph_info !== 'object' || parsed.graph_info === null) {
      return { missing: `${GRAPH_INFO_PACKAGE_PATH} in ${record.codePackage.url} has no graph_info` };
    }
    const vars = parsed.catch_vars;
    const catchVars = vars && typeof vars === 'object' && !Array.isArray(vars)
      ? Object.fromEntries(Object.entries(vars).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : undefined;
    return { info: parsed.graph_info as Record<string, unknown>, ...(catchVars ? { catchVars } : {}) };
  } catch (err) {
    return { missing: `its code package ${record.codePackage.url} could not be read: ${(err as Error).message}` };
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true });
  }
}

/** Register a Step Functions run's finished tasks; returns how many are left out. */
export async function registerStepFunctionsRun(record: RunRecord, datastore: Datastore, context: CommandContext): Promise<number> {
  const { readMetaflowConfig } = require('../config/metaflow-config') as typeof import('../config/metaflow-config');
  const m = require('../metadata') as typeof import('../metadata');
  const settings = m.serviceSettings(readMetaflowConfig(context.env), context.env);
  if (!settings) throw new UserInputError(NO_SERVICE);
  const { info, catchVars, missing } = await graphInfoOfPackage(datastore, record);
  if (missing) context.stderr.write(`metaflow-cdk: warning: the DAG of ${record.flow} run ${record.runId} (_graph_info) is not registered: ${missing}\n`);
  // A record that says running may be of an execution that was stopped or timed out (runner/sfn/reconcile.ts), as `show` asks.
  const { reconcileForDisplay } = require('../sfn/reconcile') as typeof import('../sfn/reconcile');
  const [now] = await reconcileForDisplay([record], (line) => context.stderr.write(`metaflow-cdk: ${line}\n`));
  if (now.status === 'running') {
    // Only a task that finished has a status.json; one still running registers itself from its job.
    context.stderr.write(
      `metaflow-cdk: ${record.flow} run ${record.runId} is still running: registering the ${record.tasks.length} tasks that have finished; ` +
        `tasks still running register themselves (run \`metaflow-cdk register ${record.runId}\` again once it has ended)\n`,
    );
  }
  return registerRecordedRun(
    record,
    {
      graphInfo: info,
      ...(catchVars ? { catchVars } : {}),
      parameters: record.parameters,
      datastore,
      compute: record.compute,
      // What the job runtime records of its Batch job from outside the container: the job id (an array child's `<job>:<index>`).
      attemptMetadata: (_step, facts): Record<string, string> => (facts.externalId ? { 'aws-batch-job-id': facts.externalId } : {}),
      user: await runUser(record, new m.MetadataServiceClient(settings, { attempts: 1 })),
    },
    context,
  );
}

/**
 * The user the run's jobs registered it for (the run's `user_name` in the service), so a run
 * partly registered by its jobs is completed under the same name; undefined when the service
 * does not have the run (it is then registered for the config's user).
 */
async function runUser(record: RunRecord, client: MetadataServiceClient): Promise<string | undefined> {
  try {
    const run = (await client.get(`/flows/${encodeURIComponent(record.flow)}/runs/${encodeURIComponent(record.runId)}`)) as { user_name?: unknown } | undefined;
    return typeof run?.user_name === 'string' && run.user_name ? run.user_name : undefined;
  } catch {
    return undefined; // the registration itself says what is wrong with the service
  }
}

/**
 * `runs --from service` and `show --from service`: runs read from the Metaflow metadata service
 * the config names (runner/metadata/reader.ts), ours and Python Metaflow's side by side. Every
 * failure is one line: no service configured, a bad URL, a refused key, an HTML answer, a service
 * that does not answer.
 */
import { describeValue } from '../../core/describe-value';
import { CommandFailedError, UserInputError } from '../errors';
import type { CommandContext } from './commands';
import type { DatastoreFlags } from './datastore-options';
import { runFilter } from './tags';

/** Where `runs` and `show` read runs from. */
export const RUN_SOURCES = ['datastore', 'service'] as const;

/** The `--from` option's help. */
export const FROM_HELP = 'where to read runs: datastore (the runner\'s records, default) or service (the Metaflow metadata service the config names: Python Metaflow runs too)';

/** `--from` → whether the service is asked; one line for another value or for datastore flags given with it. */
export function readsFromService(flags: DatastoreFlags & { from?: string; team?: string }): boolean {
  if (flags.from === undefined || flags.from === 'datastore') return false;
  if (flags.from !== 'service') throw new UserInputError(`--from ${describeValue(flags.from)}: unknown source (available: ${RUN_SOURCES.join(', ')})`);
  const given = (['datastore', 'datastoreRoot', 'root', 'team'] as const).filter((k) => flags[k] !== undefined);
  if (given.length) {
    const flag = { datastore: '--datastore', datastoreRoot: '--datastore-root', root: '--root', team: '--team' }[given[0]];
    throw new UserInputError(`${flag} does not apply to --from service (the service lists every run it has registered, wherever its datastore is)`);
  }
  return true;
}

function openClient(context: Pick<CommandContext, 'env'>) {
  const { readMetaflowConfig } = require('../config/metaflow-config') as typeof import('../config/metaflow-config');
  const m = require('../metadata') as typeof import('../metadata');
  const settings = m.serviceSettings(readMetaflowConfig(context.env), context.env);
  if (!settings) {
    throw new UserInputError(
      '--from service: no metadata service configured (METAFLOW_SERVICE_URL unset, or METAFLOW_DEFAULT_METADATA is not "service"): run metaflow-cdk configure, or set them',
    );
  }
  // A read command: a few quick tries, then one line.
  return { m, client: new m.MetadataServiceClient(settings, { attempts: 3, baseDelayMs: 200 }) };
}

/** The client's errors as one line each: configuration (exit 2), a service that did not answer (exit 1). */
async function oneLine<T>(m: typeof import('../metadata'), work: () => Promise<T>): Promise<T> {
  const { ServiceAnswerError } = require('../metadata/reader') as typeof import('../metadata/reader');
  try {
    return await work();
  } catch (err) {
    if (err instanceof m.ServiceConfigError || err instanceof ServiceAnswerError) throw new UserInputError(err.message);
    if (err instanceof m.ServiceUnavailableError || err instanceof m.ServiceRequestError) throw new CommandFailedError(err.message);
    throw err;
  }
}

/** `runs --from service`. */
export async function listRunsFromService(flags: { all?: boolean; user?: string; tag?: string[] }, limit: number, context: CommandContext): Promise<void> {
  const filter = runFilter(flags, context.env);
  const { m, client } = openClient(context);
  const reader = require('../metadata/reader') as typeof import('../metadata/reader');
  const { runs, hidden } = await oneLine(m, () => reader.listServiceRuns(client, { filter, limit }));
  const others = hidden ? `; ${hidden} other run${hidden === 1 ? '' : 's'} not shown (--all lists every run)` : '';
  if (!runs.length) {
    context.stdout.write(`no runs${filter.all ? '' : ` tagged ${filter.tags.join(', ')}`} in the metadata service ${client.settings.url}${others}\n`);
    return;
  }
  context.stdout.write(reader.formatServiceRuns(runs));
  if (others) context.stderr.write(`metaflow-cdk: showing runs tagged ${(filter as { tags: readonly string[] }).tags.join(', ')}${others}\n`);
}

/** `show <flow>/<run> --from service` (or a run id found in one flow). */
export async function showRunFromService(spec: string, json: boolean, context: CommandContext): Promise<void> {
  if (!/^[^/]+(\/[^/]+)?$/.test(spec)) throw new UserInputError(`show --from service takes <flow>/<run> or a run id, got ${describeValue(spec)}`);
  const { m, client } = openClient(context);
  const reader = require('../metadata/reader') as typeof import('../metadata/reader');
  const run = await oneLine(m, () => reader.readServiceRun(client, spec));
  if (run === undefined) throw new CommandFailedError(`no run ${spec} in the metadata service ${client.settings.url} (\`metaflow-cdk runs --from service --all\` lists them)`);
  if ('ambiguous' in run) throw new UserInputError(`run id ${spec} is in several flows of the metadata service (${run.ambiguous.join(', ')}): give <flow>/<run>`);
  context.stdout.write(json ? JSON.stringify(run, null, 2) + '\n' : reader.formatServiceRun(run, client.settings.url));
}

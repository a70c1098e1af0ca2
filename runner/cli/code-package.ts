/**
 * The CLI's side of code packages (runner/package): `run --compute batch` and `resume` pack the
 * flow's folder and put it into the datastore once per run before anything is submitted, with
 * one line saying what was shipped; local runs only need the package root as the tasks' working
 * directory.
 */
import * as fs from 'node:fs';
import type { CodePackageRef, Datastore } from '../datastore/types';
import type { Flow } from '../flow/model';
import { UserInputError } from '../errors';
import { packageRootOf } from '../package/root';
import { taskRuntimeFiles } from '../task-runtime';
import type { CommandContext } from './commands';

/** The package root of a flow run on this machine, which must be a folder (the tasks' working directory). */
export function localPackageRoot(flow: Flow, flowFile: string): string {
  const root = packageRootOf(flow, flowFile);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UserInputError(`flow "${flow.name}": package root ${root} is not a folder${flow.package?.root !== undefined ? ` (package.root ${JSON.stringify(flow.package.root)} is relative to ${flowFile})` : ''}`);
  }
  return root;
}

/**
 * Pack the flow's package root and store the package in the datastore (skipped when the same
 * content is there already); prints `code package: <n> files, <size>, <url> (uploaded|already
 * there)` to `out` and size warnings to stderr.
 */
export async function shipCodePackage(
  flow: Flow,
  flowFile: string,
  datastore: Datastore,
  out: NodeJS.WritableStream,
  context: Pick<CommandContext, 'stderr'>,
  /** Files added beside the task runtime under `_mfcdk/` (path → content). @default - none */
  runtimeExtras: Readonly<Record<string, string>> = {},
): Promise<CodePackageRef> {
  // Loaded only when a package is made: tar and ignore stay out of the CLI's start-up.
  const { buildCodePackage, formatBytes } = require('../package/build') as typeof import('../package/build');
  const { storeCodePackage } = require('../package/store') as typeof import('../package/store');
  const built = await buildCodePackage({
    root: packageRootOf(flow, flowFile),
    include: flow.package?.include,
    exclude: flow.package?.exclude,
    flowFile,
    onWarning: (line) => context.stderr.write(`metaflow-cdk: warning: ${line}\n`),
    runtimeFiles: { ...taskRuntimeFiles(), ...runtimeExtras },
  });
  try {
    const { ref, uploaded } = await storeCodePackage(datastore, flow.name, built);
    out.write(`code package: ${ref.files} files, ${formatBytes(ref.bytes)}, ${ref.url} (${uploaded ? 'uploaded' : 'already there'})\n`);
    return ref;
  } finally {
    await built.dispose();
  }
}

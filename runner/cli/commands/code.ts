import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { findRun } from '../run-lookup';
import { UserInputError } from '../../errors';

interface CodeFlags extends DatastoreFlags {
  dir?: string;
  list?: boolean;
}

/** `metaflow-cdk code <run-id>`: fetch a run's code package and unpack it (or list it). */
export const registerCode: CommandRegistrar = (program, context) => {
  const cmd = new Command('code')
    .description("fetch the code package a run's tasks got (AWS Batch runs) and unpack it into a folder, or list its files")
    .argument('<run-id>', 'the run')
    .option('--dir <dir>', 'where to unpack it, a new or empty folder (default: ./<flow>-<run-id>-code)')
    .option('--list', 'print its files and sizes instead of unpacking it')
    .addHelpText('after', '\nExit codes: 0 done, 1 the datastore or the package failed, 2 bad input (unknown run, no package, folder not empty).');
  addDatastoreOptions(cmd).action(async (runId: string, flags: CodeFlags) => {
    if (flags.list && flags.dir !== undefined) throw new UserInputError('--list prints the files; --dir unpacks them: give one of them');
    const datastore = await openDatastore(flags, context, { write: false });
    const run = await findRun(datastore, runId);
    if (!run.codePackage) throw new UserInputError(`run ${runId} has no code package: its tasks ran in the flow's folder on the machine that ran it (${run.compute} compute)`);
    const dir = path.resolve(flags.dir ?? `${run.flow}-${runId}-code`);
    if (!flags.list && fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length > 0)) {
      throw new UserInputError(`${dir} is not an empty folder; give a new or empty one with --dir`);
    }
    // Loaded only here: tar stays out of the CLI's start-up.
    const { extractCodePackage, fetchCodePackage, listCodePackage } = require('../../package/store') as typeof import('../../package/store');
    const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'metaflow-cdk-code-'));
    try {
      const file = path.join(tmp, 'package.tgz');
      await fetchCodePackage(datastore, run.codePackage, file);
      if (flags.list) {
        for (const entry of await listCodePackage(file)) context.stdout.write(`${entry.size}\t${entry.path}\n`);
        return;
      }
      await extractCodePackage(file, dir);
      // A Step Functions run's record names the package only (no file count): the package's own entries.
      const files = run.codePackage.files ?? (await listCodePackage(file)).length;
      context.stdout.write(`code of ${run.flow} run ${runId}: ${files} files in ${dir}\n`);
    } finally {
      await fs.promises.rm(tmp, { recursive: true, force: true });
    }
  });
  program.addCommand(cmd);
};

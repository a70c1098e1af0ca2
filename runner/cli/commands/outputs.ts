import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { describeValue } from '../../../core/describe-value';
import type { CommandRegistrar } from './index';
import { addDatastoreOptions, DatastoreFlags, openDatastore } from '../datastore-options';
import { findTask } from '../run-lookup';
import { readTaskOutputs } from '../task-outputs';
import { CommandFailedError, UserInputError } from '../../errors';

/** A value as `outputs` prints it: a string as it is (as `jq -r`), anything else as JSON. */
const valueText = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value, null, 2)) + '\n';

/**
 * `metaflow-cdk outputs <run>/<step>/<task> [name] [--to PATH]`: a task's outputs.json (no name),
 * one value of it, or one file it wrote, printed or copied to PATH, from any datastore.
 */
export const registerOutputs: CommandRegistrar = (program, context) => {
  const cmd = new Command('outputs')
    .description("print a task's outputs.json, one value of it, or a file the task wrote (or copy it out with --to)")
    .argument('<run/step/task>', 'the task, e.g. 20260101-120000-abc123/train/0')
    .argument('[name]', 'a value of its outputs.json, or a file it wrote (see `metaflow-cdk show <run>/<step>`)')
    .option('--to <path>', 'write it to this file (or into this directory) instead of printing it');
  addDatastoreOptions(cmd).action(async (spec: string, name: string | undefined, flags: DatastoreFlags & { to?: string }) => {
    const datastore = await openDatastore(flags, context, { write: false });
    const { run, task } = await findTask(datastore, spec);
    const outputs = await readTaskOutputs(datastore, run, task);
    const target = (base: string) => {
      const to = path.resolve(flags.to!);
      return fs.existsSync(to) && fs.statSync(to).isDirectory() ? path.join(to, path.basename(base)) : to;
    };
    const emit = (text: string, base: string) => {
      if (flags.to === undefined) return void context.stdout.write(text);
      const file = target(base);
      fs.writeFileSync(file, text);
      context.stderr.write(`wrote ${file}\n`);
    };
    if (name === undefined) return emit(JSON.stringify(outputs.values, null, 2) + '\n', 'outputs.json');
    if (Object.prototype.hasOwnProperty.call(outputs.values, name)) return emit(valueText(outputs.values[name]), `${name}.json`);
    const file = outputs.files.find((f) => f.name === name);
    if (!file) {
      const values = Object.keys(outputs.values);
      const files = outputs.files.map((f) => f.name);
      throw new UserInputError(
        `task ${spec} has no output ${describeValue(name)} (values: ${values.length ? values.join(', ') : 'none'}; files: ${files.length ? files.slice(0, 20).join(', ') : 'none'}${files.length > 20 ? ', ...' : ''})`,
      );
    }
    const key = `${outputs.outputsAt}/${file.name}`;
    if (flags.to !== undefined) {
      const to = target(file.name);
      if (!(await datastore.copyToFile(key, to))) throw new CommandFailedError(`${datastore.root}/${key} is gone from the datastore`);
      context.stderr.write(`wrote ${to} (${file.bytes} bytes)\n`);
      return;
    }
    // Printed: fetched to a temporary file first (an S3 object arrives as a download).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaflow-cdk-outputs-'));
    try {
      const tmp = path.join(dir, 'file');
      if (!(await datastore.copyToFile(key, tmp))) throw new CommandFailedError(`${datastore.root}/${key} is gone from the datastore`);
      context.stdout.write(fs.readFileSync(tmp));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  program.addCommand(cmd);
};

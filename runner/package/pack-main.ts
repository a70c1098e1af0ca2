/**
 * `node pack-main.js <root> <out.tgz> [flow-file] [extra-runtime-files.json]`: build a code package (runner/package/build.ts)
 * into <out.tgz> and print its sha1. For callers that must be synchronous — a CDK construct packs
 * at synth (lib/step-functions/flow-code-package.ts) with `execFileSync` — while the packer is
 * asynchronous. Problems are one line on stderr, exit 2 (bad input) or 1.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { buildCodePackage } from './build';
import { taskRuntimeFiles } from '../task-runtime';
import { UserInputError } from '../errors';

async function main(argv: readonly string[]): Promise<void> {
  const [root, out, flowFile, extraFiles] = argv;
  if (!root || !out) throw new UserInputError('usage: pack-main <root> <out.tgz> [flow-file] [extra-runtime-files.json]');
  // More files under _mfcdk/ (e.g. graph-info.json for the metadata service), as {path: text}.
  const extra = extraFiles ? (JSON.parse(readFileSync(extraFiles, 'utf8')) as Record<string, string>) : {};
  const built = await buildCodePackage({
    root,
    flowFile: flowFile || undefined,
    onWarning: (line) => process.stderr.write(`metaflow-cdk: warning: ${line}\n`),
    runtimeFiles: { ...taskRuntimeFiles(), ...extra },
  });
  try {
    copyFileSync(built.file, out);
    process.stdout.write(`${built.sha1}\n`);
  } finally {
    await built.dispose();
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`metaflow-cdk: ${err.message}\n`);
  process.exit(err instanceof UserInputError ? 2 : 1);
});

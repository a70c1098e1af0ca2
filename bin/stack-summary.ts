#!/usr/bin/env node
/**
 * Print what `cdk synth` produced: where each template is, what it contains (resources by type)
 * and the Metaflow configuration it outputs. Part of the README's first command (`npm start`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ALL_METAFLOW_CONFIG_KEYS, metaflowOutputId } from '../core/metaflow-config-keys';

interface Template {
  Description?: string;
  Resources: Record<string, { Type: string }>;
  Outputs?: Record<string, { Description?: string }>;
}

function main(outdir: string): number {
  const manifestPath = join(outdir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    process.stderr.write(`stack-summary: ${manifestPath} not found; run \`npx cdk synth\` first\n`);
    return 2;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { artifacts: Record<string, { type: string; properties?: { templateFile?: string } }> };
  const stacks = Object.entries(manifest.artifacts).filter(([, a]) => a.type === 'aws:cloudformation:stack');
  const outputKey = new Map(ALL_METAFLOW_CONFIG_KEYS.map((key) => [metaflowOutputId(key), key]));
  for (const [name, artifact] of stacks) {
    const file = join(outdir, artifact.properties!.templateFile!);
    const template = JSON.parse(readFileSync(file, 'utf8')) as Template;
    const byType = new Map<string, number>();
    for (const resource of Object.values(template.Resources)) byType.set(resource.Type, (byType.get(resource.Type) ?? 0) + 1);
    const lines = [
      `Stack ${name}: ${relative(process.cwd(), file)}`,
      `  ${template.Description ?? ''}`,
      `  ${Object.keys(template.Resources).length} resources:`,
      ...[...byType.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([type, n]) => `    ${String(n).padStart(3)}  ${type}`),
      `  Metaflow configuration outputs (read after deploy by \`metaflow-cdk configure\`):`,
      ...Object.entries(template.Outputs ?? {}).map(([id, output]) => {
        const key = outputKey.get(id);
        return `    ${id.padEnd(34)} ${key ? `METAFLOW_${key}` : (output.Description ?? '')}`;
      }),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return 0;
}

process.exitCode = main(process.argv[2] ?? 'cdk.out');

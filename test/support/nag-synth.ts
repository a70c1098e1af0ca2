import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';

/** What a synth with cdk-nag on produced. */
export interface NagSynth {
  /** The synth error (cdk-nag findings fail the synth), if any. */
  readonly error?: Error;
  /** The stack's template file. */
  readonly templatePath: string;
  /** Unacknowledged cdk-nag findings: rule and construct path. */
  readonly violations: Array<{ rule: string; path: string }>;
}

/** Unacknowledged findings of the validation report cdk-nag 3 writes to the outdir. */
export function nagViolationsIn(outdir: string): Array<{ rule: string; path: string }> {
  const report = join(outdir, 'validation-report.json');
  if (!existsSync(report)) return [];
  const parsed = JSON.parse(readFileSync(report, 'utf8')) as {
    pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
  };
  return parsed.pluginReports.flatMap((r) => r.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))));
}

/** Synthesize `app` (built with `outdir`) with cdk-nag's AwsSolutions checks on. */
export function synthWithNagChecks(app: App, stack: Stack, outdir: string): NagSynth {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let error: Error | undefined;
  try {
    app.synth();
  } catch (err) {
    error = err as Error;
  }
  return { error, templatePath: join(outdir, `${stack.artifactId}.template.json`), violations: nagViolationsIn(outdir) };
}

/** A fresh output directory for a synth. */
export function freshOutdir(prefix = 'metaflow-synth-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Extracts the package's public API with API Extractor: compiles the declarations of lib/ and
 * runner/ into a temporary directory (tsc, declarations only), runs API Extractor on each entry
 * point (`metaflow-cdk` and `metaflow-cdk/runner`) and loads the doc models it writes. Both the
 * API.md generator and the documentation check read these models.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';
import { ApiModel, ApiPackage } from '@microsoft/api-extractor-model';

export const REPO_ROOT = join(__dirname, '..', '..');

/** One entry point of the package: its import path and its declaration file under the build. */
export interface EntryPoint {
  readonly importPath: string;
  readonly title: string;
  readonly declarationFile: string;
}

export const ENTRY_POINTS: readonly EntryPoint[] = [
  { importPath: 'metaflow-cdk', title: 'Constructs', declarationFile: 'lib/index.d.ts' },
  { importPath: 'metaflow-cdk/runner', title: 'Runner', declarationFile: 'runner/index.d.ts' },
];

/** An entry point with its API Extractor doc model. */
export interface ExtractedEntryPoint extends EntryPoint {
  readonly apiPackage: ApiPackage;
}

/** Build the declarations and extract every entry point's doc model. */
export function extractApi(): ExtractedEntryPoint[] {
  const work = mkdtempSync(join(tmpdir(), 'metaflow-cdk-api-'));
  try {
    const declarations = join(work, 'types');
    const tsc = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO_ROOT, 'tsconfig.build.json'),
      '--emitDeclarationOnly', '--sourceMap', 'false', '--inlineSources', 'false', '--outDir', declarations], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`);
    return ENTRY_POINTS.map((entry, index) => ({
      ...entry,
      apiPackage: extractDocModel(REPO_ROOT, join(declarations, entry.declarationFile), join(work, `entry-${index}.api.json`)),
    }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Run API Extractor on one declaration entry point of the package in `projectFolder` (its
 * package.json, tsconfig.build.json or tsconfig.json, and tsdoc.json, which defines `@default`)
 * and load the doc model it writes to `apiJsonFilePath`.
 */
export function extractDocModel(projectFolder: string, declarationFile: string, apiJsonFilePath: string): ApiPackage {
  const tsconfig = ['tsconfig.build.json', 'tsconfig.json'].map((f) => join(projectFolder, f)).find((f) => existsSync(f));
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder,
      mainEntryPointFilePath: declarationFile,
      compiler: { tsconfigFilePath: tsconfig },
      apiReport: { enabled: false },
      docModel: { enabled: true, apiJsonFilePath },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      messages: {
        // The documentation rules that matter here are ours (check.ts); API Extractor's own
        // findings (release tags, forgotten exports, TSDoc syntax) are not errors for this package.
        extractorMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
      },
    },
    configObjectFullPath: join(projectFolder, 'api-extractor.json'),
    packageJsonFullPath: join(projectFolder, 'package.json'),
  });
  const result = Extractor.invoke(config, {
    localBuild: true,
    messageCallback: (message) => {
      // Compiler warnings and errors reach the console; everything else stays quiet.
      if (message.logLevel !== ExtractorLogLevel.Warning && message.logLevel !== ExtractorLogLevel.Error) message.handled = true;
    },
  });
  if (!result.succeeded) throw new Error(`API Extractor failed on ${declarationFile} (${result.errorCount} errors)`);
  return new ApiModel().loadPackage(apiJsonFilePath);
}

import { buildSync } from 'esbuild';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LATEST_VERSION, schemaStatus, startFakeMigrationService } from './fake-migration-service';

import { MIGRATION_HANDLER_ENTRY } from '../../lib/metadata/migration-handler/properties';

const ENTRY = join(__dirname, '..', '..', 'lib', 'metadata', 'migration-handler', 'index.ts');

/**
 * NodejsFunction bundles the entry with esbuild (locally, no Docker) for the Lambda Node.js
 * runtime. Bundle it the same way and run the bundle: it must need nothing outside Node itself.
 */
describe('migration handler bundle', () => {
  test('the entry the construct bundles is the handler file', () => {
    expect(MIGRATION_HANDLER_ENTRY).toBe(ENTRY);
  });

  test('bundles with esbuild alone, imports only Node built-ins, and its handler works', async () => {
    const result = buildSync({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      write: false,
      metafile: true,
    });
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports.filter((path) => !path.startsWith('node:'))).toEqual([]);

    const dir = mkdtempSync(join(tmpdir(), 'migration-bundle-'));
    const service = await startFakeMigrationService({ status: [schemaStatus(LATEST_VERSION)] });
    try {
      const file = join(dir, 'index.js');
      writeFileSync(file, result.outputFiles[0].text);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const bundle = require(file) as { handler: (event: unknown) => Promise<{ Data: Record<string, string> }> };
      const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
      const res = await bundle.handler({ RequestType: 'Create', ResourceProperties: { MigrationServiceUrl: service.url } });
      log.mockRestore();
      expect(res.Data.UpgradeRan).toBe('false');
    } finally {
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

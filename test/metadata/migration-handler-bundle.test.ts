import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LATEST_VERSION, schemaStatus, startFakeMigrationService } from './fake-migration-service';

import { bundleHandler } from '../../lib/lambda-bundle/bundle';

/**
 * The construct's Lambda code is one `index.js` bundled with esbuild (at build time for the
 * published package, at synth time from the sources): bundle it the way both paths do and run
 * the bundle. It must need nothing outside Node itself. (test/package/packed-tarball.test.ts
 * synthesizes the prebuilt bundle from the installed package.)
 */
describe('migration handler bundle', () => {
  test('bundles with esbuild alone, imports only Node built-ins, and its handler works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'migration-bundle-'));
    const service = await startFakeMigrationService({ status: [schemaStatus(LATEST_VERSION)] });
    try {
      const imports = bundleHandler(dir, join(__dirname, '../../lib/metadata/migration-handler'));
      expect(imports.filter((path) => !path.startsWith('node:'))).toEqual([]);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const bundle = require(join(dir, 'index.js')) as { handler: (event: unknown) => Promise<{ Data: Record<string, string> }> };
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

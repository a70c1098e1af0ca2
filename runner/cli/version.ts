import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The version of the installed metaflow-cdk package, read from its package.json: the nearest one
 * named `metaflow-cdk` above this file (runner/cli/ in the repository, dist/runner/cli/ in the
 * published package).
 */
export function packageVersion(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'metaflow-cdk' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no (readable) package.json here: keep looking upwards
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

/**
 * A package-lock.json for a user's app that depends on the packed metaflow-cdk tarball, so that
 * `npm ci --offline` installs it from npm's cache alone. The app's dependency tree is the
 * tarball's runtime dependencies at the versions this repository's own lockfile pinned (and so
 * `npm ci` here already fetched): every package reachable from them, found the way Node resolves
 * (nearest node_modules first), copied with its integrity. Without it, `npm install --offline`
 * fails: a lockfile install caches tarballs, not the registry documents a range resolution needs.
 */
export function appLockfile(repoRoot: string, appName: string, tarballSpec: string): string {
  const repoLock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    peerDependencies: Record<string, string>;
    peerDependenciesMeta: Record<string, unknown>;
  };
  const packages: Record<string, LockEntry> = {};
  const pending: Array<[string, string]> = Object.keys(pkg.dependencies).map((name) => ['', name]);
  while (pending.length > 0) {
    const [from, name] = pending.pop()!;
    const path = resolveInLock(repoLock.packages, from, name);
    if (path === undefined || packages[path]) continue;
    const { dev: _dev, devOptional, ...entry } = repoLock.packages[path];
    packages[path] = devOptional ? { ...entry, optional: true } : entry;
    for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) pending.push([path, dep]);
  }
  return JSON.stringify({
    name: appName,
    version: '0.1.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: appName, version: '0.1.0', dependencies: { 'metaflow-cdk': tarballSpec } },
      'node_modules/metaflow-cdk': {
        version: pkg.version,
        resolved: tarballSpec,
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        peerDependencies: pkg.peerDependencies,
        peerDependenciesMeta: pkg.peerDependenciesMeta,
      },
      ...packages,
    },
  }, null, 2);
}

/** The lock path Node would load `name` from when required by the package at `from` ('' = root). */
function resolveInLock(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  for (let dir = from; ; dir = parentPackage(dir)) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (dir === '') return undefined; // an optional dependency for another platform
  }
}

function parentPackage(path: string): string {
  const at = path.lastIndexOf('/node_modules/');
  return at < 0 ? '' : path.slice(0, at);
}

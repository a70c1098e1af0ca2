/**
 * Code packages: the flow's own files (and the task runtime) shipped to AWS Batch tasks as one
 * content-addressed tgz in the datastore. docs/batch.md "Code packages".
 */
export { checkPackageRoot, collectFiles, EXCLUDED_FOLDERS, WALK_CONCURRENCY } from './collect';
export type { CollectedFile, CollectedFiles, CollectOptions } from './collect';
export { PACKAGE_GZIP_LEVEL, PACKAGE_MTIME, packFiles } from './pack';
export type { GeneratedFiles, PackedFile } from './pack';
export { buildCodePackage, checkPackageSize, CODE_PACKAGE_MAX_BYTES, CODE_PACKAGE_WARN_BYTES, formatBytes, MANIFEST_PATH } from './build';
export type { BuildOptions, BuiltCodePackage, PackageManifest } from './build';
export { packageRootOf } from './root';
export { codePackageKey, extractCodePackage, fetchCodePackage, listCodePackage, storeCodePackage } from './store';
export type { StoredCodePackage } from './store';

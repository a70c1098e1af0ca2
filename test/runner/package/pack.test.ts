/**
 * Packing is reproducible: the same files give the same bytes (and sha1) whatever their mtimes,
 * atimes, permissions beyond the executable bit, or the order they were created in; one changed
 * byte gives another sha1. The headers carry nothing of the machine; the runtime and the
 * manifest are in; sizes warn and refuse naming the biggest files.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { list } from 'tar';
import { buildCodePackage, checkPackageSize, MANIFEST_PATH, PackageManifest } from '../../../runner/package/build';
import { collectFiles } from '../../../runner/package/collect';
import { PACKAGE_MTIME } from '../../../runner/package/pack';
import { codePackageKey, extractCodePackage, listCodePackage } from '../../../runner/package/store';
import { taskRuntimeFiles } from '../../../runner/task-runtime';
import { tempDir } from '../support/harness';

const FILES: [string, string][] = [
  ['train.py', 'print("train")\n'],
  ['lib/util.py', 'X = 1\n'],
  ['run.sh', '#!/bin/sh\necho hi\n'],
  ['data/a-file-with-a-rather-long-name-that-needs-more-than-one-hundred-characters-in-its-tar-path-header-entry.txt', 'long\n'],
];

/** The same files, written in `order`, with mtimes/atimes and group/other bits set by `variant`. */
function makeTree(order: readonly number[], variant: number): string {
  // The same folder name: the manifest records it.
  const root = path.join(tempDir(`mfcdk-pack-${variant}-`), 'project');
  for (const i of order) {
    const [p, content] = FILES[i];
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), content);
    const when = new Date(Date.UTC(2020 + variant, i, 1));
    fs.utimesSync(path.join(root, p), when, when);
    fs.chmodSync(path.join(root, p), p.endsWith('.sh') ? (variant ? 0o775 : 0o700) : variant ? 0o664 : 0o600);
  }
  return root;
}

const runtime = { '_mfcdk/mfcdk_task.py': 'print("runtime")\n' };

test('same files → same bytes and sha1, whatever the mtimes, atimes, modes and creation order; one byte changed → another sha1', async () => {
  const a = await buildCodePackage({ root: makeTree([0, 1, 2, 3], 0), runtimeFiles: runtime });
  const b = await buildCodePackage({ root: makeTree([3, 2, 1, 0], 1), runtimeFiles: runtime });
  try {
    expect(a.sha1).toBe(b.sha1);
    expect(fs.readFileSync(a.file).equals(fs.readFileSync(b.file))).toBe(true);
    expect(a.sha1).toBe(createHash('sha1').update(fs.readFileSync(a.file)).digest('hex'));
    expect(a.bytes).toBe(fs.statSync(a.file).size);
    expect([a.files, a.sourceBytes]).toEqual([4, FILES.reduce((n, [, c]) => n + c.length, 0)]);
  } finally {
    await Promise.all([a.dispose(), b.dispose()]);
  }
  const changedRoot = makeTree([0, 1, 2, 3], 0);
  fs.writeFileSync(path.join(changedRoot, 'lib/util.py'), 'X = 2\n');
  const c = await buildCodePackage({ root: changedRoot, runtimeFiles: runtime });
  expect(c.sha1).not.toBe(a.sha1);
  await c.dispose();
  expect(fs.existsSync(path.dirname(a.file))).toBe(false);
});

test('headers: fixed mtime, no owner, mode 0644 or 0755 by the executable bit; gzip MTIME zero and OS unknown; runtime and manifest in', async () => {
  const root = makeTree([0, 1, 2, 3], 1);
  const built = await buildCodePackage({ root, runtimeFiles: runtime, flowFile: path.join(root, 'flow.ts') });
  try {
    const gz = fs.readFileSync(built.file);
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    const entries: { path: string; mode?: number; mtime?: Date; uid?: number; gid?: number; uname?: string; type: string }[] = [];
    await list({ file: built.file, onReadEntry: (e) => entries.push({ path: e.path, mode: e.mode, mtime: e.mtime, uid: e.uid, gid: e.gid, uname: e.uname, type: e.type }) });
    expect(entries.map((e) => e.path)).toEqual([MANIFEST_PATH, '_mfcdk/mfcdk_task.py', FILES[3][0], 'lib/util.py', 'run.sh', 'train.py'].sort());
    for (const e of entries) {
      expect(e).toMatchObject({ type: 'File', mode: e.path === 'run.sh' ? 0o755 : 0o644, mtime: PACKAGE_MTIME });
      expect([e.uid ?? 0, e.gid ?? 0, e.uname ?? '']).toEqual([0, 0, '']);
    }
    const out = tempDir('mfcdk-unpacked-');
    await extractCodePackage(built.file, out);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, MANIFEST_PATH), 'utf8')) as PackageManifest;
    expect(manifest).toEqual({
      format: 1,
      root: path.basename(root),
      flowFile: 'flow.ts',
      files: [...FILES].sort(([x], [y]) => (x < y ? -1 : 1)).map(([p, c]) => ({ path: p, size: c.length, executable: p === 'run.sh' })),
      runtime: ['_mfcdk/mfcdk_task.py'],
    });
    // No absolute path of this machine anywhere in the manifest.
    expect(JSON.stringify(manifest)).not.toContain(path.dirname(root));
    expect(fs.readFileSync(path.join(out, 'train.py'), 'utf8')).toBe(FILES[0][1]);
    expect((await listCodePackage(built.file)).find((e) => e.path === 'lib/util.py')).toEqual({ path: 'lib/util.py', size: 6 });
  } finally {
    await built.dispose();
  }
});

test('the task runtime is packed by default; a user file at _mfcdk/ is refused in one line', async () => {
  const root = makeTree([0], 0);
  const built = await buildCodePackage({ root });
  const names: string[] = [];
  await list({ file: built.file, onReadEntry: (e) => names.push(e.path) });
  await built.dispose();
  expect(names).toEqual(expect.arrayContaining(Object.keys(taskRuntimeFiles())));
  fs.mkdirSync(path.join(root, '_mfcdk'));
  fs.writeFileSync(path.join(root, '_mfcdk', 'x.py'), '');
  await expect(buildCodePackage({ root })).rejects.toThrow(/^package root .*: _mfcdk\/: the folder _mfcdk\/ of a package belongs to the task runtime/);
});

test('size: a warning line above warnBytes and a refusal above maxBytes, both naming the biggest files', async () => {
  const root = tempDir('mfcdk-size-');
  fs.writeFileSync(path.join(root, 'big.bin'), Buffer.alloc(3000));
  fs.writeFileSync(path.join(root, 'mid.bin'), Buffer.alloc(2000));
  fs.writeFileSync(path.join(root, 'small.py'), 'x');
  const collected = await collectFiles(root);
  const warnings: string[] = [];
  checkPackageSize(collected, { warnBytes: 4000, onWarning: (l) => warnings.push(l) });
  expect(warnings).toEqual([`package root ${root} holds 4.9 KiB in 3 files, more than 3.9 KiB: every task downloads it; the biggest: big.bin (2.9 KiB), mid.bin (2.0 KiB), small.py (1 B)`]);
  expect(() => checkPackageSize(collected, { maxBytes: 4096 })).toThrow(
    `package root ${root} holds 4.9 KiB in 3 files, more than the 4.0 KiB a code package may hold; the biggest: big.bin (2.9 KiB), mid.bin (2.0 KiB), small.py (1 B) (put data in S3 and add such files to package.exclude)`,
  );
  const quiet: string[] = [];
  checkPackageSize(collected, { onWarning: (l) => quiet.push(l) });
  expect(quiet).toEqual([]);
});

test('codePackageKey: <flow>/data/<sha[:2]>/<sha>, bad input refused', () => {
  const sha = 'ab'.padEnd(40, '0');
  expect(codePackageKey('MyFlow', sha)).toBe(`MyFlow/data/ab/${sha}`);
  expect(() => codePackageKey('My/Flow', sha)).toThrow('code package key: bad flow name "My/Flow"');
  expect(() => codePackageKey('MyFlow', 'XYZ')).toThrow('code package key: bad sha1 "XYZ" (40 lower-case hex digits)');
});

/**
 * Which files a code package holds: the default rules, .gitignore at every level, include and
 * exclude, symlinks (followed inside the root, one error each outside, dangling or looping),
 * refused roots, the runtime's folder, and a walk that reads a bounded number of folders at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { collectFiles, EXCLUDED_FOLDERS } from '../../../runner/package/collect';
import { UserInputError } from '../../../runner/errors';
import { tempDir } from '../support/harness';

/** Write files (path → content) under a new temporary root. */
function tree(files: Record<string, string>): string {
  const root = tempDir('mfcdk-pkg-');
  for (const [p, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), content);
  }
  return root;
}

const paths = async (root: string, options = {}) => (await collectFiles(root, options)).files.map((f) => f.path);

test('hidden files and folders, build and dependency folders are out; the rest is in, sorted by path', async () => {
  const root = tree({
    'train.py': 'x',
    'lib/util.py': 'x',
    'B.txt': 'x',
    '.env': 'secret',
    '.git/config': 'x',
    '.venv/bin/python': 'x',
    '.metaflow-cdk/run.json': 'x',
    'lib/.hidden/x.py': 'x',
    'node_modules/a/index.js': 'x',
    '__pycache__/train.cpython-312.pyc': 'x',
    'dist/out.js': 'x',
    'build/x.o': 'x',
    'cdk.out/t.json': 'x',
    '.cache/x': 'x',
    'venv/bin/activate': 'x',
    'pkg.egg-info/PKG-INFO': 'x',
    'lib/node_modules/b.js': 'x',
    'distances.py': 'x',
  });
  expect(await paths(root)).toEqual(['B.txt', 'distances.py', 'lib/util.py', 'train.py']);
  expect(EXCLUDED_FOLDERS).toEqual(expect.arrayContaining(['node_modules', '__pycache__', 'dist', 'build', 'cdk.out', '.cache', 'venv', '*.egg-info']));
});

test('.gitignore files are respected at every level, a deeper one overriding a shallower one', async () => {
  const root = tree({
    '.gitignore': '*.csv\n/out/\n',
    'a.csv': 'x',
    'keep.py': 'x',
    'out/o.txt': 'x',
    'sub/out/kept.txt': 'x', // "/out/" is anchored to the root's folder
    'sub/.gitignore': '!important.csv\n*.tmp\n',
    'sub/important.csv': 'x',
    'sub/other.csv': 'x',
    'sub/x.tmp': 'x',
    'x.tmp': 'x', // sub's rule does not apply above it
  });
  expect(await paths(root)).toEqual(['keep.py', 'sub/important.csv', 'sub/out/kept.txt', 'x.tmp']);
});

test('exclude removes files and folders (and wins over include); include brings back what the default rules drop', async () => {
  const root = tree({
    'train.py': 'x',
    'data/big.bin': 'x',
    'data/small.txt': 'x',
    '.env.example': 'x',
    'build/model.bin': 'x',
    'build/other.o': 'x',
    'notes.log': 'x',
    '.gitignore': '*.log\n',
  });
  expect(await paths(root, { exclude: ['data/', '*.py'] })).toEqual([]);
  expect(await paths(root, { include: ['.env.example', 'build/model.bin', '*.log'], exclude: ['data/big.bin'] })).toEqual([
    '.env.example',
    'build/model.bin',
    'data/small.txt',
    'notes.log',
    'train.py',
  ]);
  expect(await paths(root, { include: ['build/'], exclude: ['build/other.o'] })).toEqual(['build/model.bin', 'data/big.bin', 'data/small.txt', 'train.py']);
});

describe('symlinks', () => {
  test('a link to a file or a folder inside the root is followed: its content is packed under the link\'s path', async () => {
    const root = tree({ 'real/a.py': 'print(1)', 'shared.py': 'x' });
    fs.symlinkSync('real', path.join(root, 'alias'));
    fs.symlinkSync('shared.py', path.join(root, 'link.py'));
    const collected = await collectFiles(root);
    expect(collected.files.map((f) => [f.path, f.size])).toEqual([
      ['alias/a.py', 8],
      ['link.py', 1],
      ['real/a.py', 8],
      ['shared.py', 1],
    ]);
  });

  test('outside the root, dangling or looping: one line each naming the link and its target; excluded links are fine', async () => {
    const outside = tree({ 'secret.txt': 'x' });
    const root = tree({ 'a.py': 'x', 'sub/b.py': 'x' });
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(root, 'escape.txt'));
    fs.symlinkSync('nowhere.py', path.join(root, 'dangling.py'));
    fs.symlinkSync('..', path.join(root, 'sub', 'up'));
    fs.symlinkSync('self', path.join(root, 'self'));
    const err = await collectFiles(root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserInputError);
    expect((err as Error).message.split('\n')).toEqual([
      `package root ${root}: symlink dangling.py → nowhere.py points to nothing`,
      `metaflow-cdk: package root ${root}: symlink escape.txt → ${path.join(outside, 'secret.txt')} points outside the package root ${root}`,
      `metaflow-cdk: package root ${root}: symlink self → self loops`,
      `metaflow-cdk: package root ${root}: symlink sub/up → .. loops (it points to a folder that holds it)`,
    ]);
    expect(await paths(root, { exclude: ['escape.txt', 'dangling.py', 'up', 'self'] })).toEqual(['a.py', 'sub/b.py']);
  });
});

test('refused roots: /, the home directory, a missing folder, a file; a user folder named _mfcdk', async () => {
  const home = tempDir('mfcdk-home-');
  await expect(collectFiles('/')).rejects.toThrow(/^package root \/ is the file system root; put the flow in a project folder or set package\.root$/);
  await expect(collectFiles(home, { homeDir: home })).rejects.toThrow(new RegExp(`^package root ${home} is your home directory`));
  await expect(collectFiles(path.join(home, 'nope'))).rejects.toThrow(`package root ${path.join(home, 'nope')} does not exist`);
  const root = tree({ 'f.txt': 'x', '_mfcdk/mine.py': 'x' });
  await expect(collectFiles(path.join(root, 'f.txt'))).rejects.toThrow(`package root ${path.join(root, 'f.txt')} is not a directory`);
  await expect(collectFiles(root)).rejects.toThrow(`package root ${root}: _mfcdk/: the folder _mfcdk/ of a package belongs to the task runtime; rename it or add it to package.exclude`);
  expect(await paths(root, { exclude: ['_mfcdk/'] })).toEqual(['f.txt']);
});

test('the walk reads at most `concurrency` folders at once', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) for (let j = 0; j < 3; j++) files[`d${i}/e${j}/f.txt`] = 'x';
  const root = tree(files);
  let open = 0;
  let most = 0;
  const readdir = fs.promises.readdir;
  const spy = jest.spyOn(fs.promises, 'readdir').mockImplementation((async (...args: Parameters<typeof readdir>) => {
    open++;
    most = Math.max(most, open);
    try {
      await new Promise((r) => setImmediate(r));
      return await readdir(...args);
    } finally {
      open--;
    }
  }) as typeof readdir);
  try {
    expect((await collectFiles(root, { concurrency: 3 })).files).toHaveLength(120);
  } finally {
    spy.mockRestore();
  }
  expect(most).toBe(3);
});

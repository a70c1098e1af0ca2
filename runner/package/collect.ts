/**
 * Which files of a flow's directory go into its code package. The walk starts at the package
 * root (the flow file's directory, or the flow's `package.root`) and keeps every file except:
 * hidden files and folders, the build and dependency folders of {@link EXCLUDED_FOLDERS}, what a
 * `.gitignore` at any level ignores, and what the flow's `package.exclude` names. The flow's
 * `package.include` brings back what the default rules drop (never what `exclude` names).
 *
 * Symlinks (Metaflow PR #177): a link to a file or folder inside the root is followed and packed
 * as a regular file or folder; a link that points outside the root, dangles or loops is one error
 * naming the link and its target, unless `exclude` names it. The walk reads at most
 * {@link WALK_CONCURRENCY} directories at a time (bounded open files on big trees, metaflow#975).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { UserInputError } from '../errors';
import { RUNTIME_DIR_IN_PACKAGE } from '../task-runtime';

/**
 * Folders never packed unless `package.include` names them: dependencies, caches and build
 * outputs that a task either rebuilds or must not depend on. Matched by name at any depth;
 * `*.egg-info` by suffix.
 */
export const EXCLUDED_FOLDERS: readonly string[] = ['node_modules', '__pycache__', 'dist', 'build', 'cdk.out', '.cache', 'venv', '*.egg-info'];

/** How many directories the walk reads (and so how many file descriptors it holds) at once. */
export const WALK_CONCURRENCY = 16;

/** One file of a package, as found by {@link collectFiles}. */
export interface CollectedFile {
  /** Its path in the package: relative to the root, `/`-separated (symlinks keep the link's path). */
  readonly path: string;
  /** Where to read it (the link itself when it is a symlink: reading follows it). */
  readonly absolute: string;
  /** Its size in bytes when walked. */
  readonly size: number;
  /** Whether its owner may execute it (packed as 0755, else 0644). */
  readonly executable: boolean;
}

/** What {@link collectFiles} returns. */
export interface CollectedFiles {
  /** The root, absolute, as given (not resolved through symlinks). */
  readonly root: string;
  /** Every file, sorted by path (byte order). */
  readonly files: readonly CollectedFile[];
  /** The sum of their sizes. */
  readonly bytes: number;
}

/** What to collect besides the default rules. */
export interface CollectOptions {
  /** gitignore-style patterns of files and folders to pack although the default rules drop them. @default none */
  readonly include?: readonly string[];
  /** gitignore-style patterns of files and folders never to pack (their symlinks are not checked). @default none */
  readonly exclude?: readonly string[];
  /** Reads at most this many directories at once. @default WALK_CONCURRENCY */
  readonly concurrency?: number;
  /** The home directory refused as a root (tests). @default os.homedir() */
  readonly homeDir?: string;
}

const excludedFolder = (name: string) => EXCLUDED_FOLDERS.some((f) => (f.startsWith('*') ? name.endsWith(f.slice(1)) : name === f));

/** One `.gitignore`: its rules, relative to the folder that holds it (`''` for the root). */
interface GitIgnore {
  readonly dir: string;
  readonly rules: Ignore;
}

/** Whether the `.gitignore`s from the root down ignore `rel` (a deeper file's verdict wins, as in git). */
function gitIgnored(rel: string, isDir: boolean, levels: readonly GitIgnore[]): boolean {
  let ignored = false;
  for (const { dir, rules } of levels) {
    if (dir !== '' && !rel.startsWith(`${dir}/`)) continue;
    const test = rules.test((dir === '' ? rel : rel.slice(dir.length + 1)) + (isDir ? '/' : ''));
    if (test.ignored) ignored = true;
    else if (test.unignored) ignored = false;
  }
  return ignored;
}

const patternsOf = (patterns: readonly string[] | undefined) => ignore({ allowRelativePaths: true }).add([...(patterns ?? [])]);

/** Run `fn` over a growing queue, at most `limit` at a time. */
async function drain<T>(queue: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let active = 0;
  let failure: unknown;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (failure === undefined && active < limit && queue.length) {
        const item = queue.shift()!;
        active++;
        fn(item).then(
          () => {
            active--;
            pump();
          },
          (err: unknown) => {
            active--;
            failure ??= err;
            pump();
          },
        );
      }
      if (active === 0 && (failure !== undefined || queue.length === 0)) resolve();
    };
    pump();
  });
  if (failure !== undefined) throw failure;
}

/** A directory to read: its path in the package, where it is, and what applies inside it. */
interface Folder {
  readonly rel: string;
  readonly absolute: string;
  /** Real paths of it and its ancestors (a link to one of them loops). */
  readonly realAncestors: readonly string[];
  readonly gitignores: readonly GitIgnore[];
  /** Inside a folder the default rules drop, entered because `include` names it or something in it. */
  readonly dropped: boolean;
}

/**
 * Refuse a root that cannot be one: missing, not a directory, `/`, or the home directory itself
 * (packing a whole home directory is never meant). One line each.
 */
export function checkPackageRoot(root: string, homeDir: string = os.homedir()): string {
  const abs = path.resolve(root);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch {
    throw new UserInputError(`package root ${abs} does not exist`);
  }
  if (!stat.isDirectory()) throw new UserInputError(`package root ${abs} is not a directory`);
  const real = fs.realpathSync(abs);
  if (path.parse(real).root === real) throw new UserInputError(`package root ${abs} is the file system root; put the flow in a project folder or set package.root`);
  if (real === path.resolve(homeDir) || (fs.existsSync(homeDir) && real === fs.realpathSync(homeDir))) {
    throw new UserInputError(`package root ${abs} is your home directory; put the flow in a project folder or set package.root`);
  }
  return abs;
}

/** Collect the files of a package root (see the module comment for the rules). */
export async function collectFiles(root: string, options: CollectOptions = {}): Promise<CollectedFiles> {
  const abs = checkPackageRoot(root, options.homeDir);
  const realRoot = fs.realpathSync(abs);
  const include = patternsOf(options.include);
  const exclude = patternsOf(options.exclude);
  const includePrefixes = (options.include ?? []).map((p) => p.replace(/^\//, '')).filter((p) => !p.startsWith('!'));
  const files: CollectedFile[] = [];
  const problems: string[] = [];
  const insideRoot = (real: string) => real === realRoot || real.startsWith(realRoot + path.sep);

  const readFolder = async (folder: Folder): Promise<void> => {
    const entries = await fs.promises.readdir(folder.absolute, { withFileTypes: true });
    let gitignores = folder.gitignores;
    if (!folder.dropped && entries.some((e) => e.name === '.gitignore' && !e.isDirectory())) {
      const text = await fs.promises.readFile(path.join(folder.absolute, '.gitignore'), 'utf8').catch(() => '');
      gitignores = [...gitignores, { dir: folder.rel, rules: ignore({ allowRelativePaths: true }).add(text) }];
    }
    for (const entry of entries) {
      const rel = folder.rel ? `${folder.rel}/${entry.name}` : entry.name;
      const absolute = path.join(folder.absolute, entry.name);
      let isDir = entry.isDirectory();
      let real: string | undefined;
      let stat: fs.Stats | undefined;
      if (entry.isSymbolicLink()) {
        if (exclude.ignores(rel) || exclude.ignores(`${rel}/`)) continue;
        const target = await fs.promises.readlink(absolute).catch(() => '?');
        try {
          real = await fs.promises.realpath(absolute);
          stat = await fs.promises.stat(absolute);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          problems.push(`symlink ${rel} → ${target} ${code === 'ELOOP' ? 'loops' : 'points to nothing'}`);
          continue;
        }
        if (!insideRoot(real)) {
          problems.push(`symlink ${rel} → ${target} points outside the package root ${abs}`);
          continue;
        }
        isDir = stat.isDirectory();
        if (isDir && folder.realAncestors.some((a) => a === real || a.startsWith(real + path.sep))) {
          problems.push(`symlink ${rel} → ${target} loops (it points to a folder that holds it)`);
          continue;
        }
      } else if (!isDir && !entry.isFile()) continue; // sockets, fifos, devices
      const patternPath = isDir ? `${rel}/` : rel;
      if (exclude.ignores(patternPath)) continue;
      const defaultDrop =
        folder.dropped || entry.name.startsWith('.') || (isDir && excludedFolder(entry.name)) || gitIgnored(rel, isDir, gitignores);
      const included = include.ignores(patternPath);
      if (rel === RUNTIME_DIR_IN_PACKAGE && !(defaultDrop && !included)) {
        problems.push(`${rel}${isDir ? '/' : ''}: the folder ${RUNTIME_DIR_IN_PACKAGE}/ of a package belongs to the task runtime; rename it or add it to package.exclude`);
        continue;
      }
      if (isDir) {
        // A dropped folder is entered only when include names it or a path inside it.
        if (defaultDrop && !included && !includePrefixes.some((p) => p.startsWith(`${rel}/`))) continue;
        const realDir = real ?? (await fs.promises.realpath(absolute));
        queue.push({ rel, absolute, realAncestors: [...folder.realAncestors, realDir], gitignores, dropped: defaultDrop && !included });
        continue;
      }
      if (defaultDrop && !included) continue;
      stat ??= await fs.promises.stat(absolute);
      files.push({ path: rel, absolute, size: stat.size, executable: (stat.mode & 0o100) !== 0 });
    }
  };

  const queue: Folder[] = [{ rel: '', absolute: abs, realAncestors: [realRoot], gitignores: [], dropped: false }];
  await drain(queue, options.concurrency ?? WALK_CONCURRENCY, readFolder);
  if (problems.length) {
    problems.sort();
    throw new UserInputError(`package root ${abs}: ${problems.join(`\nmetaflow-cdk: package root ${abs}: `)}`);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { root: abs, files, bytes: files.reduce((n, f) => n + f.size, 0) };
}

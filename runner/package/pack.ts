/**
 * Packing a code package reproducibly: the same files give the same bytes, so the same sha1 and
 * the same S3 key, and an unchanged flow is never uploaded twice (Metaflow's rule: a tgz at
 * compresslevel 3 with every mtime fixed and the gzip timestamp zeroed).
 *
 * The tar is written by node-tar with portable headers (no uid, gid, user or group names, atime
 * or ctime), every mtime {@link PACKAGE_MTIME}, modes 0644 or 0755 by the owner's executable bit,
 * no hard-link entries (a file linked twice is packed twice), files only (folders are implied
 * by the paths), sorted by path. It is gzipped by Node's zlib at level 3; the gzip header's
 * MTIME is zero and its OS byte is 255 ("unknown", what Python's gzip writes), so the header does
 * not depend on the machine. zlib's compressed bytes are the same for the same input on the same
 * zlib build; two different Node builds may compress differently, which costs one upload more,
 * never a wrong package.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform, TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Header, Pack, ReadEntry } from 'tar';
import type { CollectedFiles } from './collect';

/** The mtime of every file in a package. */
export const PACKAGE_MTIME = new Date('1980-01-01T00:00:00Z');
/** gzip level of packages (Metaflow's compresslevel 3: fast, and most code compresses well anyway). */
export const PACKAGE_GZIP_LEVEL = 3;
/** How many files node-tar reads at once while packing. */
const READS_AT_ONCE = 4;

/** A file given by its content (the task runtime, the manifest). */
export type GeneratedFiles = Readonly<Record<string, string | Buffer>>;

/** What {@link packFiles} wrote. */
export interface PackedFile {
  /** The tgz's sha1, hex. */
  readonly sha1: string;
  /** The tgz's size in bytes. */
  readonly bytes: number;
}

/** Sets the gzip header's MTIME (bytes 4–7) to zero and its OS byte (9) to 255 (RFC 1952 §2.3). */
class GzipHeaderFix extends Transform {
  private seen = 0;

  _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.seen < 10) {
      chunk = Buffer.from(chunk);
      for (let i = this.seen; i < Math.min(10, this.seen + chunk.length); i++) {
        const at = i - this.seen;
        if (i >= 4 && i <= 7) chunk[at] = 0;
        if (i === 9) chunk[at] = 255;
      }
    }
    this.seen += chunk.length;
    done(null, chunk);
  }
}

/** Counts and hashes what goes through. */
class HashTap extends Transform {
  readonly hash = createHash('sha1');
  bytes = 0;

  _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/** A tar entry for a file given by its content, with the package's fixed metadata. */
function generatedEntry(file: string, content: string | Buffer): ReadEntry {
  const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const entry = new ReadEntry(new Header({ path: file, mode: 0o644, size: body.length, mtime: PACKAGE_MTIME, type: 'File' }));
  entry.end(body);
  return entry;
}

/** A copy of a file's stat with the package's metadata: fixed mode, one link, fixed mtime. */
function normalizedStat(stat: fs.Stats, executable: boolean): fs.Stats {
  const copy = Object.assign(Object.create(Object.getPrototypeOf(stat) as object) as fs.Stats, stat);
  copy.mode = (stat.mode & ~0o7777) | (executable ? 0o755 : 0o644);
  copy.nlink = 1;
  copy.mtime = PACKAGE_MTIME;
  return copy;
}

/**
 * Pack `collected`'s files and the `generated` ones (path → content) into a reproducible tgz at
 * `outFile`; returns its sha1 and size. Every path, both kinds together, goes in sorted order;
 * a generated path must not be one of the collected files'.
 */
export async function packFiles(collected: CollectedFiles, generated: GeneratedFiles, outFile: string): Promise<PackedFile> {
  const byPath = new Map(collected.files.map((f) => [f.path, f]));
  const clash = Object.keys(generated).find((p) => byPath.has(p));
  if (clash !== undefined) throw new Error(`${clash} is both a file of the package root and a generated file`);
  const statCache = new Map<string, fs.Stats>();
  await Promise.all(
    collected.files.map(async (f) => {
      // node-tar looks a file up by path.resolve(cwd, path): give it the normalized stat there.
      statCache.set(path.resolve(collected.root, f.path), normalizedStat(await fs.promises.stat(f.absolute), f.executable));
    }),
  );
  const pack = new Pack({ cwd: collected.root, portable: true, follow: true, noDirRecurse: true, mtime: PACKAGE_MTIME, jobs: READS_AT_ONCE, statCache });
  const paths = [...byPath.keys(), ...Object.keys(generated)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const tap = new HashTap();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, createGzip({ level: PACKAGE_GZIP_LEVEL }), new GzipHeaderFix(), tap, fs.createWriteStream(outFile));
  for (const p of paths) {
    if (byPath.has(p)) pack.add(p);
    else pack.add(generatedEntry(p, generated[p]) as never);
  }
  pack.end();
  await done;
  return { sha1: tap.hash.digest('hex'), bytes: tap.bytes };
}

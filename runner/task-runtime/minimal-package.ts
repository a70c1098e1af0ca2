/**
 * A minimal code package: a gzipped ustar archive of the task runtime (`_mfcdk/…`,
 * {@link taskRuntimeFiles}) plus any files given, named by its sha1 as stage 0 expects
 * (`…/<sha1>`, checked after download). What FlowStateMachine ships for flows without their own
 * package (steps that use only their image), and what tests run. Regular files only, names
 * under 100 bytes, fixed mode and mtime (same files → same bytes).
 *
 * TODO(code packages): runner/package (a flow folder's files, .gitignore, node-tar) replaces this
 * writer when it lands; the package layout stays the same.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { taskRuntimeFiles } from './index';

export interface MinimalCodePackage {
  /** The tgz's bytes. */
  readonly body: Buffer;
  /** Its sha1 (hex), the last part of its key. */
  readonly sha1: string;
  /** Its content-addressed key under a datastore root: `<flow>/data/<sha[:2]>/<sha>`. */
  key(flow: string): string;
}

function header(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  if (Buffer.byteLength(name) >= 100) throw new Error(`code package: file name ${name} is over 99 bytes, which this minimal tar writer cannot store`);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
  h.write(name, 0);
  h.write(octal(0o644, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(0, 12), 136);
  h.write('        ', 148); // the checksum counts its own field as spaces
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  const sum = h.reduce((n, b) => n + b, 0);
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

/** The package of the task runtime and `files` (path → content). */
export function minimalCodePackage(files: Readonly<Record<string, string>> = {}): MinimalCodePackage {
  const all = { ...taskRuntimeFiles(), ...files };
  const parts: Buffer[] = [];
  for (const name of Object.keys(all).sort()) {
    const data = Buffer.from(all[name]);
    parts.push(header(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  const body = gzipSync(Buffer.concat(parts), { level: 6 });
  const sha1 = createHash('sha1').update(body).digest('hex');
  return { body, sha1, key: (flow) => `${flow}/data/${sha1.slice(0, 2)}/${sha1}` };
}

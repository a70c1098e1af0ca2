/**
 * A pickle writer for JSON-like values (null, booleans, numbers, strings, arrays, plain objects),
 * protocol 2: what Metaflow's Python client unpickles as a task's artifact (`gzip+pickle-v2`,
 * plugins/datastores/serializers/pickle_serializer.py in Metaflow). The opcodes are those of
 * CPython's Lib/pickletools.py; no memo is written (the unpickler does not need one).
 */

const PROTO = 0x80;
const STOP = 0x2e; // .
const NONE = 0x4e; // N
const NEWTRUE = 0x88;
const NEWFALSE = 0x89;
const BININT1 = 0x4b; // K: 1-byte unsigned
const BININT2 = 0x4d; // M: 2-byte unsigned, little-endian
const BININT = 0x4a; // J: 4-byte signed, little-endian
const LONG1 = 0x8a; // 1-byte length, then a little-endian two's complement integer
const BINFLOAT = 0x47; // G: 8-byte big-endian IEEE double
const BINUNICODE = 0x58; // X: 4-byte little-endian length, then UTF-8
const EMPTY_LIST = 0x5d; // ]
const EMPTY_DICT = 0x7d; // }
const MARK = 0x28; // (
const APPENDS = 0x65; // e
const SETITEMS = 0x75; // u
const GLOBAL = 0x63; // c: module\nname\n
const TUPLE1 = 0x85;
const REDUCE = 0x52; // R
const BUILD = 0x62; // b

/**
 * A failed task's exception as Metaflow keeps it: the `_exception` artifact, an instance of
 * `metaflow.exception.MetaflowExceptionWrapper` (metaflow/exception.py) whose state is `type`,
 * `exception` and `stacktrace`; the Python client's `Task.exception` returns it and prints the
 * stacktrace, or `[no stacktrace]` and `type: exception`. Metaflow pickles it through its
 * `__reduce__` (the class called with None, then the state set).
 */
export class MetaflowExceptionWrapper {
  constructor(
    /** The exception's class, `module.Name`. */
    readonly type: string,
    /** Its message. */
    readonly exception: string,
    /** What printing it shows, or null. */
    readonly stacktrace: string | null,
  ) {}
}

const WRAPPER_GLOBAL = Buffer.from('metaflow.exception\nMetaflowExceptionWrapper\n', 'utf8');

/** The value could not be pickled (a function, a symbol, a cycle, a non-plain object). */
export class UnpicklableValueError extends Error {}

/** The pickle (protocol 2) of a JSON-like value: what Python's `pickle.loads` turns into the same value. */
export function pickleJson(value: unknown): Buffer {
  const out: Buffer[] = [Buffer.from([PROTO, 2])];
  write(value, out, new Set());
  out.push(Buffer.from([STOP]));
  return Buffer.concat(out);
}

function write(value: unknown, out: Buffer[], seen: Set<object>): void {
  if (value === null || value === undefined) return void out.push(Buffer.from([NONE]));
  if (value === true) return void out.push(Buffer.from([NEWTRUE]));
  if (value === false) return void out.push(Buffer.from([NEWFALSE]));
  if (typeof value === 'number') return writeNumber(value, out);
  if (typeof value === 'bigint') return writeInteger(value, out);
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    const head = Buffer.alloc(5);
    head[0] = BINUNICODE;
    head.writeUInt32LE(bytes.length, 1);
    return void out.push(head, bytes);
  }
  if (value instanceof MetaflowExceptionWrapper) {
    // MetaflowExceptionWrapper.__reduce__: (MetaflowExceptionWrapper, (None,), self.__dict__)
    out.push(Buffer.from([GLOBAL]), WRAPPER_GLOBAL, Buffer.from([NONE, TUPLE1, REDUCE]));
    write({ exception: value.exception, type: value.type, stacktrace: value.stacktrace }, out, seen);
    return void out.push(Buffer.from([BUILD]));
  }
  if (typeof value === 'object') {
    if (seen.has(value)) throw new UnpicklableValueError('the value refers to itself');
    seen.add(value);
    if (Array.isArray(value)) {
      out.push(Buffer.from([EMPTY_LIST]));
      if (value.length) {
        out.push(Buffer.from([MARK]));
        for (const item of value) write(item, out, seen);
        out.push(Buffer.from([APPENDS]));
      }
    } else {
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new UnpicklableValueError(`a ${proto?.constructor?.name ?? 'non-plain'} object is not JSON-like`);
      const entries = Object.entries(value);
      out.push(Buffer.from([EMPTY_DICT]));
      if (entries.length) {
        out.push(Buffer.from([MARK]));
        for (const [k, v] of entries) {
          write(k, out, seen);
          write(v, out, seen);
        }
        out.push(Buffer.from([SETITEMS]));
      }
    }
    seen.delete(value);
    return;
  }
  throw new UnpicklableValueError(`a ${typeof value} is not JSON-like`);
}

function writeNumber(n: number, out: Buffer[]): void {
  if (Number.isSafeInteger(n) && !Object.is(n, -0)) return writeInteger(BigInt(n), out);
  const b = Buffer.alloc(9);
  b[0] = BINFLOAT;
  b.writeDoubleBE(n, 1);
  out.push(b);
}

function writeInteger(n: bigint, out: Buffer[]): void {
  if (n >= 0n && n < 0x100n) return void out.push(Buffer.from([BININT1, Number(n)]));
  if (n >= 0n && n < 0x10000n) {
    const b = Buffer.alloc(3);
    b[0] = BININT2;
    b.writeUInt16LE(Number(n), 1);
    return void out.push(b);
  }
  if (n >= -(2n ** 31n) && n < 2n ** 31n) {
    const b = Buffer.alloc(5);
    b[0] = BININT;
    b.writeInt32LE(Number(n), 1);
    return void out.push(b);
  }
  // Two's complement, little-endian, in the fewest bytes that keep the sign bit right.
  const bytes: number[] = [];
  let v = n;
  for (;;) {
    const byte = Number(v & 0xffn);
    bytes.push(byte);
    v >>= 8n;
    if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
  }
  out.push(Buffer.from([LONG1, bytes.length, ...bytes]));
}

/** The Python type of a value once unpickled, as Metaflow records it (`str(type(obj))`) in a task's data.json. */
export function pythonTypeName(value: unknown): string {
  if (value instanceof MetaflowExceptionWrapper) return "<class 'metaflow.exception.MetaflowExceptionWrapper'>";
  const name =
    value === null || value === undefined
      ? 'NoneType'
      : typeof value === 'boolean'
        ? 'bool'
        : typeof value === 'bigint' || (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0))
          ? 'int'
          : typeof value === 'number'
            ? 'float'
            : typeof value === 'string'
              ? 'str'
              : Array.isArray(value)
                ? 'list'
                : 'dict';
  return `<class '${name}'>`;
}

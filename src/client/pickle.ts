/**
 * A safe pickle reader for plain data (protocols 0–5): None, bools, ints,
 * floats, str, bytes, bytearray, lists, tuples, dicts, sets, frozensets.
 * Opcodes that would import, call or build objects are refused; this is
 * JavaScript interpreting the opcodes itself, so nothing in a pickle is ever
 * executed. A few constructors that only make plain data (set, frozenset,
 * bytes, bytearray, _codecs.encode: Python itself writes these types with
 * them in some protocols) are interpreted here from their arguments, never
 * called.
 * @module
 */

/** A pickle that is not plain data or is not a pickle at all; the message is one line for the user. */
export class PickleError extends Error {}

/** A Python dict becomes a prototype-free object (so a "__proto__" key stays a key); tuples become arrays. */
export type PickleDict = Record<string, unknown>;

const HIGHEST_PROTOCOL = 5;

const refusedOps: Record<number, [string, string]> = {
  0x52: ["REDUCE", "would call a function"],
  0x62: ["BUILD", "would set an object's state"],
  0x6f: ["OBJ", "would build an object"],
  0x81: ["NEWOBJ", "would build an object"],
  0x92: ["NEWOBJ_EX", "would build an object"],
  0x82: ["EXT1", "would import a registered extension"],
  0x83: ["EXT2", "would import a registered extension"],
  0x84: ["EXT4", "would import a registered extension"],
  0x50: ["PERSID", "would load a persistent object"],
  0x51: ["BINPERSID", "would load a persistent object"],
  0x97: ["NEXT_BUFFER", "uses an out-of-band buffer"],
};

/** Constructors Python uses for plain data in some protocols; interpreted here, never called. */
const plainConstructors = new Set([
  "builtins.set",
  "builtins.frozenset",
  "builtins.bytearray",
  "builtins.bytes",
  "__builtin__.set",
  "__builtin__.frozenset",
  "__builtin__.bytearray",
  "__builtin__.bytes",
  "_codecs.encode",
]);

class Constructor {
  constructor(readonly name: string) {}
}

function refuse(op: string, what: string): never {
  throw new PickleError(`refused: pickle uses ${op} (${what}); keg reads plain data only and executed nothing`);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Lenient = new TextDecoder("utf-8");

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    // Python writes lone surrogates (surrogatepass); keep the rest of the string.
    return utf8Lenient.decode(bytes);
  }
}

const latin1 = (bytes: Uint8Array) => Array.from(bytes, (b) => String.fromCharCode(b)).join("");

function toInt(big: bigint): number | bigint {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/** Two's-complement little-endian bytes (LONG1, LONG4). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let hex = "";
  for (let i = bytes.length - 1; i >= 0; i--) hex += bytes[i]!.toString(16).padStart(2, "0");
  let big = BigInt("0x" + hex);
  if (bytes[bytes.length - 1]! & 0x80) big -= 1n << BigInt(bytes.length * 8);
  return toInt(big);
}

function parseTextInt(text: string): number | bigint {
  if (!/^[+-]?\d+$/.test(text)) throw new PickleError(`bad pickle: '${text.slice(0, 40)}' is not an integer`);
  return toInt(BigInt(text));
}

function parseTextFloat(text: string): number {
  const special: Record<string, number> = { inf: Infinity, infinity: Infinity, nan: NaN };
  const word = text.toLowerCase().replace(/^[+-]/, "");
  if (word in special) return text.startsWith("-") ? -special[word]! : special[word]!;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new PickleError(`bad pickle: '${text.slice(0, 40)}' is not a float`);
  return Number(text);
}

/** Python 2 str literal (STRING): quotes and backslash escapes, giving bytes read as latin-1. */
function parseQuoted(text: string): string {
  const quote = text[0];
  if (text.length < 2 || (quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) {
    throw new PickleError("bad pickle: STRING argument is not quoted");
  }
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", "\\": "\\", "'": "'", '"': '"', "\n": "" };
  return text.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[\s\S])/g, (all, esc: string) => {
    if (esc[0] === "x") return String.fromCharCode(parseInt(esc.slice(1), 16));
    if (/^[0-7]/.test(esc)) return String.fromCharCode(parseInt(esc, 8) & 0xff);
    return simple[esc] ?? all;
  });
}

/** UNICODE's raw-unicode-escape: latin-1 bytes plus \uXXXX and \UXXXXXXXX. */
function parseRawUnicode(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4?: string, u8?: string) => {
    const code = parseInt((u4 ?? u8)!, 16);
    if (code > 0x10ffff) throw new PickleError("bad pickle: UNICODE escape out of range");
    return String.fromCodePoint(code);
  });
}

function keyString(key: unknown): string {
  if (typeof key === "string") return key;
  if (key === null) return "null";
  if (typeof key === "number" || typeof key === "bigint" || typeof key === "boolean") return String(key);
  return JSON.stringify(key, (_, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? latin1(v) : v instanceof Set ? [...v] : v));
}

const isDict = (value: unknown): value is PickleDict =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === null;

/**
 * Reads one pickle and returns its value: dicts as prototype-free objects
 * (non-str keys turned into strings), lists and tuples as arrays, sets as
 * `Set`, bytes and bytearray as `Uint8Array`, ints beyond 2^53 as `bigint`.
 * Throws PickleError (`refused: …` or `bad pickle: …`), never anything else
 * for any input.
 * @example readPickle(new Uint8Array([0x80, 4, 0x4b, 7, 0x2e])) // 7
 */
export function readPickle(data: Uint8Array): unknown {
  try {
    return read(data);
  } catch (error) {
    if (error instanceof PickleError) throw error;
    throw new PickleError(`bad pickle: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function read(data: Uint8Array): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const tuples = new WeakSet<object>();
  const frozen = new WeakSet<object>();

  const take = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0 || n > data.length - pos) throw new PickleError(`bad pickle: truncated at byte ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => data[take(1)]!;
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  const i32 = () => view.getInt32(take(4), true);
  const u64 = () => {
    const at = take(8);
    const big = view.getBigUint64(at, true);
    // Every length must fit in what is left; anything larger is garbage.
    return big > BigInt(data.length) ? Infinity : Number(big);
  };
  const bytes = (n: number) => {
    const at = take(n);
    return data.slice(at, at + n);
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`bad pickle: truncated at byte ${pos}`);
    const text = latin1(data.subarray(pos, end));
    pos = end + 1;
    return text;
  };

  const plain = (value: unknown) => {
    if (value instanceof Constructor) refuse("GLOBAL", `holds a reference to ${value.name}, not data`);
    return value;
  };
  const push = (value: unknown) => stack.push(value);
  const pop = () => {
    if (stack.length === 0) throw new PickleError(`bad pickle: stack underflow at byte ${pos - 1}`);
    return plain(stack.pop());
  };
  const top = () => {
    if (stack.length === 0) throw new PickleError(`bad pickle: stack underflow at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const items = stack;
    const previous = marks.pop();
    if (!previous) throw new PickleError(`bad pickle: no MARK before byte ${pos - 1}`);
    stack = previous;
    items.forEach(plain);
    return items;
  };
  const tuple = (items: unknown[]) => {
    tuples.add(items);
    return items;
  };
  const list = (): unknown[] => {
    const target = top();
    if (!Array.isArray(target) || tuples.has(target)) throw new PickleError("bad pickle: APPEND to something not a list");
    return target;
  };
  const dict = (): PickleDict => {
    const target = top();
    if (!isDict(target)) throw new PickleError("bad pickle: SETITEM on something not a dict");
    return target;
  };
  const setItems = (target: PickleDict, items: unknown[]) => {
    if (items.length % 2) throw new PickleError("bad pickle: odd number of dict items");
    for (let i = 0; i < items.length; i += 2) target[keyString(items[i])] = items[i + 1];
    return target;
  };
  const memoGet = (index: number) => {
    if (!memo.has(index)) throw new PickleError(`bad pickle: memo entry ${index} is missing`);
    push(memo.get(index));
  };
  const memoPut = (index: number) => memo.set(index, top());
  const global = (op: string, module: string, name: string) => {
    const full = `${module}.${name}`;
    if (plainConstructors.has(full)) return new Constructor(full);
    refuse(op, `would import ${full.slice(0, 200)}`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x2e: // STOP
        if (marks.length) throw new PickleError("bad pickle: MARK left open at STOP");
        return pop();
      case 0x80: {
        const protocol = u8();
        if (protocol > HIGHEST_PROTOCOL) throw new PickleError(`bad pickle: unsupported protocol ${protocol}`);
        break;
      }
      case 0x95: // FRAME: the whole payload is already here, so only check its length.
        if (u64() > data.length - pos) throw new PickleError(`bad pickle: truncated at byte ${pos}`);
        break;
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x49: {
        const text = line();
        push(text === "01" ? true : text === "00" ? false : parseTextInt(text));
        break;
      }
      case 0x4a:
        push(i32());
        break;
      case 0x4b:
        push(u8());
        break;
      case 0x4d:
        push(u16());
        break;
      case 0x4c: // LONG
        push(parseTextInt(line().replace(/L$/, "")));
        break;
      case 0x8a:
        push(decodeLong(bytes(u8())));
        break;
      case 0x8b: {
        const n = i32();
        if (n < 0) throw new PickleError("bad pickle: negative LONG4 length");
        push(decodeLong(bytes(n)));
        break;
      }
      case 0x46:
        push(parseTextFloat(line()));
        break;
      case 0x47:
        push(view.getFloat64(take(8), false));
        break;
      case 0x53: // STRING (Python 2 str)
        push(parseQuoted(line()));
        break;
      case 0x54: {
        const n = i32();
        if (n < 0) throw new PickleError("bad pickle: negative BINSTRING length");
        push(latin1(bytes(n)));
        break;
      }
      case 0x55:
        push(latin1(bytes(u8())));
        break;
      case 0x56:
        push(parseRawUnicode(line()));
        break;
      case 0x58:
        push(decodeUtf8(bytes(u32())));
        break;
      case 0x8c:
        push(decodeUtf8(bytes(u8())));
        break;
      case 0x8d:
        push(decodeUtf8(bytes(u64())));
        break;
      case 0x42:
        push(bytes(u32()));
        break;
      case 0x43:
        push(bytes(u8()));
        break;
      case 0x8e:
      case 0x96: // BINBYTES8, BYTEARRAY8
        push(bytes(u64()));
        break;
      case 0x98: // READONLY_BUFFER
        top();
        break;
      case 0x5d:
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        const value = pop();
        list().push(value);
        break;
      }
      case 0x65: {
        const items = popMark();
        list().push(...items);
        break;
      }
      case 0x29:
        push(tuple([]));
        break;
      case 0x74:
        push(tuple(popMark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        push(tuple(items));
        break;
      }
      case 0x7d:
        push(Object.create(null));
        break;
      case 0x64: // DICT
        push(setItems(Object.create(null), popMark()));
        break;
      case 0x73: {
        const value = pop();
        const key = pop();
        setItems(dict(), [key, value]);
        break;
      }
      case 0x75: {
        const items = popMark();
        setItems(dict(), items);
        break;
      }
      case 0x8f:
        push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const target = top();
        if (!(target instanceof Set) || frozen.has(target)) throw new PickleError("bad pickle: ADDITEMS to something not a set");
        for (const item of items) target.add(item);
        break;
      }
      case 0x91: {
        const set = new Set(popMark());
        frozen.add(set);
        push(set);
        break;
      }
      case 0x70:
        memoPut(parseMemoIndex(line()));
        break;
      case 0x71:
        memoPut(u8());
        break;
      case 0x72:
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x67:
        memoGet(parseMemoIndex(line()));
        break;
      case 0x68:
        memoGet(u8());
        break;
      case 0x6a:
        memoGet(u32());
        break;
      case 0x63: {
        const module = line();
        push(global("GLOBAL", module, line()));
        break;
      }
      case 0x93: {
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") refuse("STACK_GLOBAL", "would import an object");
        push(global("STACK_GLOBAL", module, name));
        break;
      }
      case 0x69: {
        const module = line();
        refuse("INST", `would build an instance of ${`${module}.${line()}`.slice(0, 200)}`);
      }
      case 0x52: {
        const args = pop();
        const callee = stack.pop();
        if (!(callee instanceof Constructor)) refuse("REDUCE", "would call a function");
        push(construct(callee.name, args, tuples, frozen));
        break;
      }
      default: {
        const refused = refusedOps[op];
        if (refused) refuse(...refused);
        throw new PickleError(`bad pickle: unknown opcode 0x${op.toString(16).padStart(2, "0")} at byte ${pos - 1}`);
      }
    }
  }
}

function parseMemoIndex(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new PickleError(`bad pickle: bad memo index '${text.slice(0, 40)}'`);
  return Number(text);
}

/** The effect of calling one of plainConstructors, computed from plain arguments. */
function construct(name: string, args: unknown, tuples: WeakSet<object>, frozen: WeakSet<object>): unknown {
  const bad = (): never => {
    throw new PickleError(`bad pickle: unexpected arguments for ${name}`);
  };
  if (!Array.isArray(args) || !tuples.has(args)) return bad();
  const kind = name.slice(name.indexOf(".") + 1);
  if (kind === "set" || kind === "frozenset") {
    if (args.length > 1) return bad();
    const source = args[0] ?? [];
    if (!Array.isArray(source) && !(source instanceof Set)) return bad();
    const set = new Set(source);
    if (kind === "frozenset") frozen.add(set);
    return set;
  }
  if (kind === "bytearray" || kind === "bytes") {
    if (args.length === 0) return new Uint8Array();
    if (args.length === 1 && args[0] instanceof Uint8Array) return args[0].slice();
    if (args.length === 2) return encodeLatin1(args[0], args[1]) ?? bad();
    return bad();
  }
  // _codecs.encode(str, "latin1"): how protocols 0–2 write bytes.
  return (args.length === 2 && encodeLatin1(args[0], args[1])) || bad();
}

function encodeLatin1(text: unknown, encoding: unknown): Uint8Array | undefined {
  if (typeof text !== "string" || typeof encoding !== "string") return undefined;
  if (!["latin1", "latin-1", "iso-8859-1", "iso8859-1"].includes(encoding.toLowerCase())) return undefined;
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) return undefined;
    out[i] = code;
  }
  return out;
}

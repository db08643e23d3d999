/**
 * Structured-output records on the CLI side (docs/usage.md "Runs"): decode a record's payload by its encoder, show it as one
 * terminal line, or write it as one JSON line for `--output-file`.
 * @module
 */
import { readPickle } from "./pickle.ts";

export const Encoder = { RAW: 1, PICKLE: 2, JSON: 3, YAML: 4 } as const;

export type DecodedRecord = {
  encoder: "raw" | "pickle" | "json" | "yaml";
  /** The decoded value (absent for raw records and errors). */
  value?: unknown;
  /** Payload size in bytes. */
  size: number;
  /** One-line reason the payload could not be decoded. */
  error?: string;
  /** The payload of a raw record. */
  raw?: Uint8Array;
};

const names = { 1: "raw", 2: "pickle", 3: "json", 4: "yaml" } as const;

/** Deeper nesting than this is refused rather than risking the stack. */
const MAX_DEPTH = 2000;
/**
 * Values reached through shared references (pickle memo, YAML aliases) count
 * each time; plain JSON cannot hold more values than it has bytes.
 */
const itemBudget = (size: number) => Math.max(200_000, 4 * size);

/** The JSON-safe form computed while decoding, reused for display and --output-file. */
const safeValues = new WeakMap<DecodedRecord, unknown>();

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one record; never throws: a payload that cannot be decoded (bad
 * JSON, a pickle that is not plain data) comes back with `error` set.
 * @example await decodeRecord(Encoder.JSON, new TextEncoder().encode('{"a":1}')) // { encoder: "json", value: { a: 1 }, size: 7 }
 */
export async function decodeRecord(encoder: number, payload: Uint8Array): Promise<DecodedRecord> {
  const size = payload.length;
  const name = names[encoder as keyof typeof names];
  if (!name) return { encoder: "raw", size, raw: payload, error: `unknown encoder ${encoder}, kept as raw bytes` };
  if (name === "raw") return { encoder: name, size, raw: payload };
  let value: unknown;
  try {
    value = name === "pickle" ? readPickle(payload) : await decodeText(name, payload);
  } catch (error) {
    return { encoder: name, size, error: oneLine(error) };
  }
  let safe: unknown;
  try {
    // Converting now turns absurd depth or expansion (shared references) into an error here.
    safe = toJsonSafe(value, itemBudget(size));
  } catch (error) {
    return { encoder: name, size, error: `refused: ${oneLine(error)}` };
  }
  const record: DecodedRecord = { encoder: name, value, size };
  safeValues.set(record, safe);
  return record;
}

async function decodeText(name: "json" | "yaml", payload: Uint8Array): Promise<unknown> {
  const label = name === "json" ? "JSON" : "YAML";
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    throw new Error(`bad ${label}: payload is not UTF-8`);
  }
  try {
    return name === "json" ? parseJson(text) : await parseYaml(text);
  } catch (error) {
    throw new Error(`bad ${label}: ${oneLine(error)}`);
  }
}

/**
 * The terminal line for a record.
 * @example formatRecord({ encoder: "json", value: { a: 1 }, size: 7 }) // '[record json] {"a":1}'
 */
export function formatRecord(r: DecodedRecord): string {
  const head = `[record ${r.encoder}]`;
  if (r.encoder === "raw") return `${head} ${r.size} bytes${r.error ? ` (${r.error})` : ""}`;
  if (r.error !== undefined) return `${head} ${r.error}`;
  return `${head} ${JSON.stringify(jsonSafeOf(r))}`;
}

/**
 * The `--output-file` line for a record (no trailing newline).
 * @example recordJsonLine({ encoder: "raw", size: 2, raw: new Uint8Array([1, 2]) }) // '{"encoder":"raw","size":2,"base64":"AQI="}'
 */
export function recordJsonLine(r: DecodedRecord): string {
  if (r.encoder === "raw") {
    const base64 = Buffer.from(r.raw ?? new Uint8Array()).toString("base64");
    return JSON.stringify({ encoder: r.encoder, size: r.size, base64, ...(r.error !== undefined && { error: r.error }) });
  }
  if (r.error !== undefined) return JSON.stringify({ encoder: r.encoder, error: r.error });
  return JSON.stringify({ encoder: r.encoder, value: jsonSafeOf(r) });
}

const jsonSafeOf = (r: DecodedRecord) => (safeValues.has(r) ? safeValues.get(r) : toJsonSafe(r.value));

/**
 * A copy of value that JSON.stringify writes without loss of meaning: bytes
 * as `{"$bytes": base64}`, non-finite numbers as "NaN"/"Infinity"/"-Infinity",
 * bigints as numbers when safe and strings otherwise, sets as arrays, a
 * cycle as "[Circular]". Throws on nesting deeper than MAX_DEPTH or more
 * than maxItems values.
 */
export function toJsonSafe(value: unknown, maxItems = Infinity): unknown {
  let items = 0;
  const path = new Set<object>();
  const visit = (v: unknown, depth: number): unknown => {
    if (++items > maxItems) throw new Error(`value expands to more than ${maxItems} items`);
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
    if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
    if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString("base64") };
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? String(v) : v.toISOString();
    if (typeof v !== "object") return String(v);
    if (depth >= MAX_DEPTH) throw new Error(`value is nested deeper than ${MAX_DEPTH} levels`);
    if (path.has(v)) return "[Circular]";
    path.add(v);
    let out: unknown;
    if (Array.isArray(v)) {
      const array = new Array(v.length);
      for (let i = 0; i < v.length; i++) array[i] = visit(v[i], depth + 1);
      out = array;
    } else if (v instanceof Set) {
      const array: unknown[] = [];
      for (const item of v) array.push(visit(item, depth + 1));
      out = array;
    } else {
      const obj: Record<string, unknown> = Object.create(null);
      if (v instanceof Map) for (const [key, item] of v) obj[String(key)] = visit(item, depth + 1);
      else for (const key of Object.keys(v)) obj[key] = visit((v as Record<string, unknown>)[key], depth + 1);
      out = obj;
    }
    path.delete(v);
    return out;
  };
  return visit(value, 0);
}

/**
 * JSON as Python's json.dumps writes it: integers beyond 2^53 kept as
 * bigint, and its NaN/Infinity/-Infinity extension accepted.
 */
export function parseJson(text: string): unknown {
  let fast: unknown;
  try {
    fast = JSON.parse(text);
    // Only an integer of 16 or more digits can lose precision; floats are fine as parsed.
    if (!/(?<![\d.])\d{16,}(?![\d.eE])/.test(text)) return fast;
  } catch (error) {
    if (!/NaN|Infinity/.test(text)) throw error;
    try {
      return JSON.parse(replaceNonFinite(text), revive);
    } catch {
      throw error;
    }
  }
  return JSON.parse(text, revive);
}

/** Python never escapes a letter, so this spelling of "NaN" can only be ours. */
const NAN_TOKEN = '"\\u004EaN"';

function revive(_key: string, value: unknown, context?: { source?: string }): unknown {
  const source = context?.source;
  if (source === undefined) return value;
  if (typeof value === "number" && !Number.isSafeInteger(value) && /^-?\d+$/.test(source)) return toInt(BigInt(source));
  if (typeof value === "string" && source === NAN_TOKEN) return NaN;
  return value;
}

const toInt = (big: bigint) => (Number.isSafeInteger(Number(big)) ? Number(big) : big);

/** Rewrites bare NaN/Infinity outside strings: ±1e999 parses as ±Infinity, NaN as NAN_TOKEN. */
function replaceNonFinite(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
    } else if (c === "N" && text.startsWith("NaN", i)) {
      out += text.slice(from, i) + NAN_TOKEN;
      from = i += 3;
      i--;
    } else if (c === "I" && text.startsWith("Infinity", i)) {
      out += text.slice(from, i) + "1e999";
      from = i += 8;
      i--;
    }
  }
  return out + text.slice(from);
}

async function parseYaml(text: string): Promise<unknown> {
  const { parseDocument } = await import("yaml");
  const doc = parseDocument(text, { intAsBigInt: true, schema: "core", prettyErrors: false });
  if (doc.errors.length) throw doc.errors[0];
  return bigintsToNumbers(doc.toJS({ maxAliasCount: 100 }));
}

/** With intAsBigInt every YAML int is a bigint; only the large ones should stay so. */
function bigintsToNumbers(value: unknown): unknown {
  const seen = new Set<object>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "bigint") return toInt(v);
    if (typeof v !== "object" || v === null || seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) for (let i = 0; i < v.length; i++) v[i] = walk(v[i]);
    else if (!(v instanceof Uint8Array) && !(v instanceof Date)) {
      for (const key of Object.keys(v)) (v as Record<string, unknown>)[key] = walk((v as Record<string, unknown>)[key]);
    }
    return v;
  };
  return walk(value);
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.trim().split("\n")[0]!.trim();
}

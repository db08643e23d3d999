/**
 * Reading POST /v1/runs: the run spec ahead of the zip, then the zip streamed
 * to disk under the upload limit (Bun.serve's own cap is raised above it, so
 * this check gives the clear error).
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { KegError } from "../errors.ts";
import type { RunSpec } from "../wire/api.ts";
import { isEnvName } from "../wire/names.ts";

const MAX_SPEC_BYTES = 1024 * 1024;

export type BodyReader = ReadableStreamDefaultReader<Uint8Array>;

const tooLarge = (limit: number) =>
  new KegError("too_large", `Upload is over the box's limit of ${Math.round(limit / 1048576)} MiB. Upload less, or raise it with 'keg-agent serve --max-upload MIB'.`);

/** Reads the 4-byte length and the JSON spec; returns the spec and the bytes already read past it. */
export async function readSpec(reader: BodyReader): Promise<{ spec: RunSpec; rest: Uint8Array }> {
  let buffered = new Uint8Array(0);
  const need = async (bytes: number) => {
    while (buffered.length < bytes) {
      const { value, done } = await reader.read();
      if (done) throw new KegError("bad_request", "The run request ended early. Retry the command.");
      const joined = new Uint8Array(buffered.length + value.length);
      joined.set(buffered);
      joined.set(value, buffered.length);
      buffered = joined;
    }
  };
  await need(4);
  const length = new DataView(buffered.buffer).getUint32(0);
  if (length > MAX_SPEC_BYTES) throw new KegError("bad_request", "The run spec is too large. Pass fewer or smaller --env values.");
  await need(4 + length);
  let spec: RunSpec;
  try {
    spec = JSON.parse(new TextDecoder().decode(buffered.subarray(4, 4 + length)));
  } catch {
    throw new KegError("bad_request", "The run spec is not valid JSON. Use a keg of the same version.");
  }
  return { spec, rest: buffered.subarray(4 + length) };
}

/** Streams the rest of the body to `path`, refusing more than `limit` bytes. */
export async function saveUpload(reader: BodyReader, first: Uint8Array, path: string, limit: number, declared?: number): Promise<number> {
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  const fd = openSync(path, "w", 0o600);
  let total = 0;
  try {
    for (let chunk: Uint8Array | undefined = first; chunk; ) {
      total += chunk.length;
      if (total > limit) throw tooLarge(limit);
      writeSync(fd, chunk);
      const next = await reader.read();
      chunk = next.done ? undefined : next.value;
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

export function validateSpec(spec: RunSpec): RunSpec {
  const bad = (what: string) => new KegError("bad_request", `Bad run request: ${what}. Use a keg of the same version.`);
  if (spec.command !== "python" && spec.command !== "exec") throw bad("unknown command");
  if (!Array.isArray(spec.args) || spec.args.some((a) => typeof a !== "string")) throw bad("args must be strings");
  if (spec.command === "exec" && !spec.args.length) throw bad("no program to run");
  if (spec.command === "python" && typeof spec.entry !== "string") throw bad("no script");
  if (typeof spec.env !== "object" || !spec.env) throw bad("env must be an object");
  for (const [key, value] of Object.entries(spec.env)) {
    if (!isEnvName(key)) throw bad(`'${key}' is not a valid variable name`);
    if (typeof value !== "string") throw bad(`env ${key} must be a string`);
  }
  if (typeof spec.timeout !== "number" || spec.timeout < 0) throw bad("timeout must be a number ≥ 0");
  if (!Array.isArray(spec.downloads)) throw bad("downloads must be a list");
  return spec;
}

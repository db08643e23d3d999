/**
 * Reading POST /v1/runs: the run spec ahead of the zip, then the zip under the
 * upload limit (the server's own cap is raised above it, so this check gives
 * the clear error): kept in memory while it is small, streamed to disk past that.
 * @module
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { joinBytes } from "../bytes.ts";
import { KegError } from "../errors.ts";
import { RunSpecSchema, type RunSpec } from "../wire/schemas.ts";
import { parseRequest } from "./routes/validate.ts";

const MAX_SPEC_BYTES = 1024 * 1024;

export type BodyReader = ReadableStreamDefaultReader<Uint8Array>;

const tooLarge = (limit: number) =>
  new KegError("too_large", `Upload is over the box's limit of ${Math.round(limit / 1048576)} MiB. Upload less, or raise it with 'keg-agent serve --max-upload MIB'.`);

/** Reads the 4-byte length and the JSON spec, checked by its schema; returns the spec and the bytes already read past it. */
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
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(buffered.subarray(4, 4 + length)));
  } catch {
    throw new KegError("bad_request", "The run spec is not valid JSON. Use a keg of the same version.");
  }
  return { spec: parseRequest(RunSpecSchema, json, "run spec"), rest: buffered.subarray(4 + length) };
}

/** Up to this size an upload stays in memory: a script and a few files need no file written and read back. */
export const IN_MEMORY_BYTES = 1024 * 1024;

/**
 * Reads the rest of the body, refusing more than `limit` bytes: its bytes
 * while it stays within IN_MEMORY_BYTES, else the path it was streamed to.
 */
export async function saveUpload(reader: BodyReader, first: Uint8Array, path: string, limit: number, declared?: number): Promise<Uint8Array | string> {
  if (declared !== undefined && declared > limit) throw tooLarge(limit);
  const held: Uint8Array[] = [];
  let total = 0;
  let fd: number | undefined;
  try {
    for (let chunk: Uint8Array | undefined = first; chunk; ) {
      total += chunk.length;
      if (total > limit) throw tooLarge(limit);
      if (fd === undefined && total > IN_MEMORY_BYTES) {
        fd = openSync(path, "w", 0o600);
        for (const piece of held.splice(0)) writeSync(fd, piece);
      }
      if (fd === undefined) held.push(chunk);
      else writeSync(fd, chunk);
      const next = await reader.read();
      chunk = next.done ? undefined : next.value;
    }
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return fd !== undefined ? path : joinBytes(held, total);
}

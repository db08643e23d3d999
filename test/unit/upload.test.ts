/** src/agent/upload.ts: a small upload stays in memory, a bigger one is streamed to its file, one over the limit is refused. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { IN_MEMORY_BYTES, saveUpload } from "../../src/agent/upload.ts";
import { KegError } from "../../src/errors.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";

let dir: TempDir;
beforeEach(() => (dir = tempDir("keg-upload-")));
afterEach(() => dir[Symbol.dispose]());

/** A body of `size` bytes (each byte its offset mod 251) in chunks of `chunk` bytes, the first one already read. */
function body(size: number, chunk: number) {
  const bytes = new Uint8Array(size).map((_, i) => i % 251);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < size; at += chunk) chunks.push(bytes.slice(at, at + chunk));
  const [first = new Uint8Array(0), ...rest] = chunks;
  const reader = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = rest.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  }).getReader();
  return { bytes, first, reader };
}

test("up to 1 MiB the upload's bytes come back and no file is written", async () => {
  const { bytes, first, reader } = body(IN_MEMORY_BYTES, 64 * 1024);
  const path = dir.join("upload.zip");
  const saved = await saveUpload(reader, first, path, 10 * IN_MEMORY_BYTES);
  expect(saved).toEqual(bytes);
  expect(existsSync(path)).toBe(false);
});

test("past 1 MiB every byte goes to the file, the ones held so far first", async () => {
  const { bytes, first, reader } = body(IN_MEMORY_BYTES + 1, 64 * 1024);
  const path = dir.join("upload.zip");
  expect(await saveUpload(reader, first, path, 10 * IN_MEMORY_BYTES)).toBe(path);
  expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
});

test("over the limit: too_large naming it, in memory or on disk", async () => {
  for (const size of [1000, 2 * IN_MEMORY_BYTES]) {
    const { first, reader } = body(size + 1, 300);
    const error = await saveUpload(reader, first, dir.join(`upload-${size}.zip`), size).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KegError);
    expect((error as KegError).code).toBe("too_large");
  }
});

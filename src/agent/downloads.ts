/**
 * `--download`: a file from the run folder, as frames of gzip data. A file that
 * is already gzip goes as it is, so the CLI stores it decompressed (docs/usage.md "Runs").
 * Paths are checked to stay inside the run folder, links included.
 * @module
 */
import { closeSync, createReadStream, openSync, readSync, realpathSync, statSync } from "node:fs";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { createGzip } from "node:zlib";
import { encodeFrame, encodeJsonFrame, Frame } from "../wire/frames.ts";

const CHUNK = 256 * 1024;

/** The real path of `wanted` inside `workDir`, or an error sentence. */
export function resolveDownload(workDir: string, wanted: string): { path: string } | { error: string } {
  if (!wanted || wanted.includes("\0") || isAbsolute(wanted) || wanted.split(/[\\/]/).includes(".."))
    return { error: `'${wanted}' is not a path inside the run folder` };
  let real: string;
  try {
    real = realpathSync(resolve(workDir, wanted));
  } catch {
    return { error: `'${wanted}' does not exist in the run folder` };
  }
  const root = realpathSync(workDir);
  const rel = relative(root, real);
  if (rel.startsWith(`..${sep}`) || rel === ".." || isAbsolute(rel)) return { error: `'${wanted}' points outside the run folder` };
  if (!statSync(real).isFile()) return { error: `'${wanted}' is not a regular file` };
  return { path: real };
}

function isGzip(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const magic = Buffer.alloc(2);
    return readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

/** Frames for one download: `file`, then `file_data` chunks, then `file_end`. */
export async function* downloadFrames(workDir: string, wanted: string, allowed: () => boolean): AsyncGenerator<Uint8Array> {
  const found = resolveDownload(workDir, wanted);
  if ("error" in found) {
    yield encodeJsonFrame(Frame.file_end, { path: wanted, ok: false, error: found.error });
    return;
  }
  if (!allowed()) {
    yield encodeJsonFrame(Frame.file_end, { path: wanted, ok: false, error: "this command's lock was taken over after going stale" });
    return;
  }
  const gzip = isGzip(found.path);
  yield encodeJsonFrame(Frame.file, { path: wanted, size: statSync(found.path).size, gzip });
  try {
    const source = createReadStream(found.path, { highWaterMark: CHUNK });
    const stream = gzip ? source : source.pipe(createGzip({ level: 1 }));
    for await (const chunk of stream) yield encodeFrame(Frame.file_data, chunk as Buffer);
    yield encodeJsonFrame(Frame.file_end, { path: wanted, ok: true });
  } catch (error) {
    yield encodeJsonFrame(Frame.file_end, { path: wanted, ok: false, error: (error as Error).message });
  }
}

/**
 * Replacing a file whole: a unique temp file beside it, renamed over it, so a
 * reader sees the old or the new content, never a torn file. `sync` (the
 * default) also survives a power cut; run files, rewritten on every run, skip it.
 * @module
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";

export function writeFileAtomically(path: string, data: string | Uint8Array, options: { mode?: number; sync?: boolean } = {}): void {
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(temp, "w", options.mode ?? 0o600);
  try {
    if (typeof data === "string") writeSync(fd, data);
    else writeSync(fd, data);
    if (options.sync !== false) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
}

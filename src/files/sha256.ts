/** The SHA-256 of a file, read in large blocks (several times faster here than a read stream's 64 KiB chunks). @module */
import { closeSync, openSync, readSync } from "node:fs";

const BLOCK = 4 * 1024 * 1024;

export function sha256OfFile(path: string): string {
  // Loaded here, not with the binary: node:crypto costs milliseconds at every start of keg.
  const { createHash } = process.getBuiltinModule("node:crypto") as typeof import("node:crypto");
  const hash = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const block = Buffer.allocUnsafe(BLOCK);
    for (let read = readSync(fd, block, 0, BLOCK, null); read > 0; read = readSync(fd, block, 0, BLOCK, null)) hash.update(block.subarray(0, read));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/**
 * An advisory lock on a lock file, held for one short step (docs/usage.md
 * "Configuration"). The file is created exclusively and holds the owner's pid, so a
 * lock left by a dead process is recognised and taken over.
 * @module
 */
import { statSync, unlinkSync } from "node:fs";
import { failure } from "../errors.ts";
import { createPidFile, readPidFile, removeStalePidFile } from "../files/pid-file.ts";
import { processAlive } from "../files/process-alive.ts";

const STALE_MS = 10_000;
const GIVE_UP_MS = 15_000;

function ownerIsGone(lockPath: string, pid: number): boolean {
  try {
    if (pid > 0 && pid !== process.pid && !processAlive(pid)) return true;
    return Date.now() - statSync(lockPath).mtimeMs > STALE_MS;
  } catch {
    return false;
  }
}

export async function withFileLock<T>(lockPath: string, step: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + GIVE_UP_MS;
  let delay = 1;
  for (;;) {
    if (createPidFile(lockPath)) break;
    const owner = readPidFile(lockPath);
    if (ownerIsGone(lockPath, owner)) {
      removeStalePidFile(lockPath, owner);
      continue;
    }
    if (Date.now() > deadline) throw failure(`${lockPath} stays locked by another keg. Remove it if no keg is running.`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 20);
  }
  try {
    return await step();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {}
  }
}

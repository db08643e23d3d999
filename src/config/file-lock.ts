/**
 * An advisory lock on a lock file, held for one short step (SPEC §5 "Client
 * storage"). The file is created exclusively and holds the owner's pid, so a
 * lock left by a dead process is recognised and taken over.
 * @module
 */
import { closeSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { failure } from "../errors.ts";
import { processAlive } from "../process-alive.ts";

const STALE_MS = 10_000;
const GIVE_UP_MS = 15_000;

function ownerIsGone(lockPath: string): boolean {
  try {
    const pid = Number(readFileSync(lockPath, "utf8"));
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
    try {
      const fd = openSync(lockPath, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (ownerIsGone(lockPath)) {
        // Rename, not unlink: of several processes that judged it stale, only
        // one can move it away, so none deletes a lock another just took.
        const aside = `${lockPath}.stale.${process.pid}`;
        try {
          renameSync(lockPath, aside);
          unlinkSync(aside);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw failure(`${lockPath} stays locked by another keg. Remove it if no keg is running.`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 20);
    }
  }
  try {
    return await step();
  } finally {
    try {
      unlinkSync(lockPath);
    } catch {}
  }
}

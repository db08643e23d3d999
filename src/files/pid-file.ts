/**
 * A claim held by a process: a file created exclusively that holds its pid.
 * It appears whole (written aside, then linked into place), so a claim is
 * never seen empty. A claim left by a dead process is moved aside (rename,
 * so of several processes that judged it stale only one moves it) and taken
 * again.
 * @module
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";

/** Creates `path` holding our pid; false when it already exists. */
export function createPidFile(path: string): boolean {
  const aside = `${path}.new.${process.pid}`;
  writeFileSync(aside, String(process.pid), { mode: 0o600 });
  try {
    linkSync(aside, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(aside, { force: true });
  }
}

/** The pid in `path`, or 0 when it is missing, unreadable or not a pid. */
export function readPidFile(path: string): number {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

/**
 * Removes the claim of `stalePid` so that only one of the processes that saw
 * it stale succeeds. What was moved aside is checked: a claim another taker
 * made meanwhile is linked back. (A third process that claims the path in
 * the microseconds between the two keeps it, and the one put aside loses
 * its claim: this needs a stale claim and three takers at once.)
 */
export function removeStalePidFile(path: string, stalePid: number): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return;
  }
  try {
    if (readPidFile(aside) !== stalePid) linkSync(aside, path);
  } catch {
  } finally {
    rmSync(aside, { force: true });
  }
}

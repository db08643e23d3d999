/**
 * A claim held by a process: a file created exclusively that holds its pid.
 * A claim left by a dead process is moved aside (rename, so of several
 * processes that judged it stale only one removes it) and taken again.
 * @module
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";

/** Creates `path` holding our pid; false when it already exists. */
export function createPidFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeSync(fd, String(process.pid));
  } finally {
    closeSync(fd);
  }
  return true;
}

/** The pid in `path`, or 0 when it is unreadable or empty (a claim being written). */
export function readPidFile(path: string): number {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

/** Removes a stale claim so that only one of the processes that saw it stale succeeds. */
export function removeStalePidFile(path: string): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
    rmSync(aside, { force: true });
  } catch {}
}

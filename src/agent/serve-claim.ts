/**
 * One serving agent per state dir: a second `serve` on it would clear the
 * first one's command locks and fight over its runs. The claim is a pid file
 * in the state dir, created exclusively; a claim whose process is gone is
 * taken over. (`keg-agent users …` does not claim: it may run beside serve.)
 * @module
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../errors.ts";
import { createPidFile, readPidFile, removeStalePidFile } from "../files/pid-file.ts";
import { processAlive } from "../files/process-alive.ts";

/**
 * Whether `pid` is a serving keg-agent: alive, and (where /proc tells) running
 * `serve`, so a pid reused after a reboot does not block the start.
 */
function servingAgent(pid: number): boolean {
  if (!(pid > 0) || !processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("serve");
  } catch {
    return true;
  }
}

/** Claims `stateDir` for this process; returns the release. */
export function claimStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, "serve.pid");
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createPidFile(path)) return () => rmSync(path, { force: true });
    const holder = readPidFile(path);
    // Our own pid: this process replaced itself with a new binary (an update) and keeps its claim.
    if (holder === process.pid) return () => rmSync(path, { force: true });
    if (servingAgent(holder))
      throw new KegError("failed", `Another keg-agent (pid ${holder}) serves ${stateDir}. Stop it first, or give this one its own --state-dir.`);
    // Left by a process that died: move it aside (only one taker succeeds), then claim again.
    removeStalePidFile(path);
  }
  throw new KegError("failed", `Could not claim ${stateDir} for this keg-agent. Check who else uses it.`);
}

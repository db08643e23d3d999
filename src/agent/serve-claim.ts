/**
 * One writer of a state dir at a time (docs/development.md "LMDB"). The
 * serving agent claims the dir for its life with `serve.pid`, and only a
 * second `serve` is refused: it would clear the first one's command locks and
 * fight over its runs. `keg-agent users …` with no agent serving claims
 * `users.pid` for the moment it writes the state itself, and `serve` waits for
 * such a claim to end before it opens the state.
 *
 * Each side creates its own claim first and looks for the other's second, so
 * whichever way two of them interleave, one of them sees the other: a users
 * command that finds a serving agent asks it over its socket instead, and a
 * `serve` that finds a users command waits. A claim is a pid file created
 * exclusively (src/files/pid-file.ts); one whose process is gone counts for
 * nothing and is taken over.
 * @module
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../errors.ts";
import { createPidFile, readPidFile, removeStalePidFile } from "../files/pid-file.ts";
import { processAlive } from "../files/process-alive.ts";
import { sleep } from "../sleep.ts";

/** A users command writes in milliseconds: waiting longer for one means it is stuck. */
const USERS_WRITE_WAIT_MS = 10_000;
const SERVE_WAIT_MS = 30_000;
const POLL_MS = 10;

const servePath = (stateDir: string) => join(stateDir, "serve.pid");
const usersPath = (stateDir: string) => join(stateDir, "users.pid");

/**
 * Whether `pid` is a live keg-agent running `word` (`serve`, `users`): where
 * /proc tells, its command line says so, so a pid reused after a reboot
 * does not count.
 */
function agentDoing(pid: number, word: string): boolean {
  if (!(pid > 0) || !processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(word);
  } catch {
    return true;
  }
}

/** The pid of the agent serving `stateDir`, or 0 when none does. */
export function servingAgentOf(stateDir: string): number {
  const pid = readPidFile(servePath(stateDir));
  return agentDoing(pid, "serve") ? pid : 0;
}

/** Claims `stateDir` for this serving process; returns the release. */
export function claimStateDir(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = servePath(stateDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (createPidFile(path)) return () => rmSync(path, { force: true });
    const holder = readPidFile(path);
    // Our own pid: this process replaced itself with a new binary (an update) and keeps its claim.
    if (holder === process.pid) return () => rmSync(path, { force: true });
    if (agentDoing(holder, "serve"))
      throw new KegError("failed", `Another keg-agent (pid ${holder}) serves ${stateDir}. Stop it first, or give this one its own --state-dir.`);
    removeStalePidFile(path, holder);
  }
  throw new KegError("failed", `Could not claim ${stateDir} for this keg-agent. Check who else uses it.`);
}

/**
 * `serve`'s side, between its claim and opening the state: returns once no
 * users command is writing it (`onWait` is told the first time one is).
 */
export async function waitForUsersWriter(stateDir: string, onWait: (pid: number) => void): Promise<void> {
  const deadline = Date.now() + SERVE_WAIT_MS;
  let told = false;
  for (;;) {
    const holder = readPidFile(usersPath(stateDir));
    if (!agentDoing(holder, "users")) return;
    if (!told) onWait(holder);
    told = true;
    if (Date.now() > deadline)
      throw new KegError("failed", `keg-agent users (pid ${holder}) has been changing ${stateDir} for ${SERVE_WAIT_MS / 1000} s. Stop it, then start the agent again.`);
    await sleep(POLL_MS);
  }
}

/**
 * A users command's claim to write the state itself, once no other users
 * command holds one; returns the release. The caller then looks for a
 * serving agent again: one that started meanwhile is asked instead.
 */
export async function claimUsersWrite(stateDir: string): Promise<() => void> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = usersPath(stateDir);
  const deadline = Date.now() + USERS_WRITE_WAIT_MS;
  for (;;) {
    if (createPidFile(path)) return () => rmSync(path, { force: true });
    const holder = readPidFile(path);
    if (!agentDoing(holder, "users")) removeStalePidFile(path, holder);
    else if (Date.now() > deadline)
      throw new KegError("failed", `keg-agent users (pid ${holder}) has been changing ${stateDir} for ${USERS_WRITE_WAIT_MS / 1000} s. Wait for it to end, or stop it, then run the command again.`);
    else await sleep(POLL_MS);
  }
}

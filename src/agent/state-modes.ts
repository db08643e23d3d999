/**
 * Who may reach what in the state dir (docs/security.md "What a script can
 * reach"). The agent owns the state dir; with `--run-as` the run user may
 * only pass through it (mode 0711: no listing) to its own run folders, whose
 * `work/` and `tmp/` it owns. The LMDB (tokens, locks, history), the spools,
 * pids and exit records stay the agent's, mode 0700/0600.
 * @module
 */
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { RunUser } from "./run-user.ts";

/** Sets the modes of the state dir's own folders at start. */
export function secureStateDir(stateDir: string, user: RunUser): void {
  const passThrough = user.switches ? 0o711 : 0o700;
  chmodSync(stateDir, passThrough);
  for (const [name, mode] of [
    ["db", 0o700],
    ["volatile", 0o700],
    ["runs", passThrough],
  ] as const) {
    const path = join(stateDir, name);
    mkdirSync(path, { recursive: true, mode });
    chmodSync(path, mode);
  }
}

/** Gives a freshly unpacked run folder's `work/` and `tmp/` to the run user; the rest stays the agent's. */
export function handOverRun(runDir: string, work: string, tmp: string, user: RunUser): void {
  if (!user.switches) return;
  chmodSync(runDir, 0o711);
  for (const path of [work, tmp]) chownTree(path, user.uid, user.gid);
}

/** Gives a tree the agent made to the run user (the box's venv: pip runs as that user). */
export function handOverTree(path: string, user: RunUser): void {
  if (user.switches) chownTree(path, user.uid, user.gid);
}

/** chown of a whole tree, links themselves (never their targets). */
function chownTree(path: string, uid: number, gid: number): void {
  if (!existsSync(path)) return;
  lchownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

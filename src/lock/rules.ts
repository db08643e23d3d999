/**
 * The lock rules of docs/locks.md as pure functions: given the lock state, the
 * caller and the time, say what happens. No I/O; src/lock/store.ts applies the
 * decisions inside one LMDB write transaction.
 * @module
 */
export type CommandName = "python" | "exec" | "pip" | "update";

export type CommandLock = {
  user: string;
  command: CommandName;
  /** ISO time the lock was granted */
  since: string;
  /** ms epoch of the last output or heartbeat */
  activity: number;
  generation: number;
  runId?: string;
};

export type UserLock = { user: string; since: string; note?: string };

export type LockState = { command?: CommandLock; user?: UserLock };

export type Refusal = { ok: false; reason: "busy"; holder: CommandLock } | { ok: false; reason: "locked"; holder: UserLock };

export type CommandRequest = { user: string; force: boolean; now: number; ttlMs: number };

export const isStale = (lock: CommandLock, now: number, ttlMs: number) => now - lock.activity >= ttlMs;

/**
 * May `user` start a command now? A user lock blocks everyone but its holder;
 * a live command lock blocks everyone, its holder too; a stale one is
 * replaced. --force-command passes both and takes nothing.
 */
export function decideCommand(state: LockState, req: CommandRequest): { ok: true; take: boolean; staleHolder?: CommandLock } | Refusal {
  if (req.force) return { ok: true, take: false };
  if (state.user && state.user.user !== req.user) return { ok: false, reason: "locked", holder: state.user };
  if (state.command && !isStale(state.command, req.now, req.ttlMs)) return { ok: false, reason: "busy", holder: state.command };
  return { ok: true, take: true, staleHolder: state.command };
}

export type UserLockDecision =
  | { ok: true; kind: "taken" }
  | { ok: true; kind: "already-yours"; holder: UserLock }
  | { ok: false; holder: UserLock };

/** A user lock may be taken while a command runs; the holder locking again keeps the original. */
export function decideUserLock(state: LockState, user: string): UserLockDecision {
  if (!state.user) return { ok: true, kind: "taken" };
  if (state.user.user === user) return { ok: true, kind: "already-yours", holder: state.user };
  return { ok: false, holder: state.user };
}

export type UnlockDecision =
  | { ok: true; kind: "not-locked" }
  | { ok: true; kind: "unlocked"; holder: UserLock; forced: boolean }
  | { ok: false; holder: UserLock };

export function decideUnlock(state: LockState, user: string, force: boolean): UnlockDecision {
  if (!state.user) return { ok: true, kind: "not-locked" };
  if (state.user.user === user) return { ok: true, kind: "unlocked", holder: state.user, forced: false };
  if (force) return { ok: true, kind: "unlocked", holder: state.user, forced: true };
  return { ok: false, holder: state.user };
}

/** ISO 8601 UTC to the second (docs/locks.md). */
export function isoSeconds(ms: number): string {
  const second = Math.floor(ms / 1000);
  // Remembered for the second: a busy box asks for the same one many times.
  if (second !== lastSecond) {
    lastSecond = second;
    lastIso = new Date(second * 1000).toISOString().replace(".000Z", "Z");
  }
  return lastIso;
}
let lastSecond = NaN;
let lastIso = "";

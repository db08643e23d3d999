/** The exact lock sentences of docs/locks.md, written once. @module */
import type { CommandLock, UserLock } from "./rules.ts";

const since = (lock: UserLock) => `since ${lock.since}${lock.note ? `, note: ${lock.note}` : ""}`;

export const messages = {
  busy: (box: string, lock: CommandLock) =>
    `Box '${box}' is busy — '${lock.command}' in progress by ${lock.user}. Use --force-command to override.`,
  lockedForCommand: (box: string, lock: UserLock) =>
    `Box '${box}' is locked by ${lock.user} (${since(lock)}). Use --force-command to override.`,
  locked: (box: string, lock: UserLock) => `Box '${box}' locked by ${lock.user} at ${lock.since}`,
  alreadyLocked: (box: string, lock: UserLock) => `Box '${box}' is already locked by ${lock.user} (${since(lock)})`,
  unlocked: (box: string) => `Box '${box}' unlocked`,
  notLocked: (box: string) => `Box '${box}' is not locked`,
  /** what a waiter is told it waits for (docs/locks.md "Waiting in line") */
  waitingBusy: (lock: CommandLock) => `busy — '${lock.command}' by ${lock.user}`,
  waitingLocked: (lock: UserLock) => `locked by ${lock.user}${lock.note ? ` (${lock.note})` : ""}`,
  unlockNeedsForce: (box: string, lock: UserLock) => `Box '${box}' is locked by ${lock.user}. Use --force to unlock it.`,
};

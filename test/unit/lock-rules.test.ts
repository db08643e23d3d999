/** The pure lock rules of docs/locks.md (src/lock/rules.ts) and their exact sentences (src/lock/messages.ts). */
import { describe, expect, test } from "bun:test";
import { messages } from "../../src/lock/messages.ts";
import {
  decideCommand,
  decideUnlock,
  decideUserLock,
  isoSeconds,
  isStale,
  type CommandLock,
  type LockState,
  type UserLock,
} from "../../src/lock/rules.ts";

const NOW = Date.parse("2026-03-20T14:30:00.750Z");
const TTL = 3_000;

const command = (user: string, activityAgoMs: number, generation = 7): CommandLock => ({
  user,
  command: "python",
  since: "2026-03-20T14:00:00Z",
  activity: NOW - activityAgoMs,
  generation,
});
const userLock = (user: string, note?: string): UserLock => ({ user, since: "2026-03-20T13:00:00Z", ...(note ? { note } : {}) });

describe("isStale: inactivity of at least the TTL (docs/locks.md counts inactivity, not age)", () => {
  test.each([
    ["just touched", 0, false],
    ["1 ms short of the TTL", TTL - 1, false],
    ["exactly the TTL", TTL, true],
    ["well past the TTL", TTL * 10, true],
  ])("%s", (_, ago, stale) => {
    expect(isStale(command("alice", ago), NOW, TTL)).toBe(stale);
  });

  test("an old lock with recent activity is not stale", () => {
    const lock = { ...command("alice", 0), since: "2020-01-01T00:00:00Z" };
    expect(isStale(lock, NOW, TTL)).toBe(false);
  });
});

describe("decideCommand", () => {
  const fresh = command("alice", 500);
  const stale = command("alice", TTL + 1);
  const req = (user: string, force = false) => ({ user, force, now: NOW, ttlMs: TTL });

  test.each<[string, LockState, ReturnType<typeof req>, ReturnType<typeof decideCommand>]>([
    ["a free box: take the lock", {}, req("bob"), { ok: true, take: true, staleHolder: undefined }],
    ["busy blocks another user", { command: fresh }, req("bob"), { ok: false, reason: "busy", holder: fresh }],
    ["busy blocks its own holder too", { command: fresh }, req("alice"), { ok: false, reason: "busy", holder: fresh }],
    ["a stale lock is replaced, naming its holder", { command: stale }, req("bob"), { ok: true, take: true, staleHolder: stale }],
    ["another's user lock blocks", { user: userLock("alice") }, req("bob"), { ok: false, reason: "locked", holder: userLock("alice") }],
    ["the user lock's holder may run", { user: userLock("alice") }, req("alice"), { ok: true, take: true, staleHolder: undefined }],
    [
      "the holder of a user lock is still blocked by a live command",
      { user: userLock("alice"), command: command("bob", 0) },
      req("alice"),
      { ok: false, reason: "busy", holder: command("bob", 0) },
    ],
    [
      "a user lock is reported before a command lock",
      { user: userLock("alice", "flashing"), command: fresh },
      req("bob"),
      { ok: false, reason: "locked", holder: userLock("alice", "flashing") },
    ],
    ["--force-command passes a command lock and takes nothing", { command: fresh }, req("bob", true), { ok: true, take: false }],
    ["--force-command passes a user lock", { user: userLock("alice") }, req("bob", true), { ok: true, take: false }],
    ["--force-command on a free box takes nothing", {}, req("bob", true), { ok: true, take: false }],
  ])("%s", (_, state, request, expected) => {
    expect(decideCommand(state, request)).toEqual(expected);
  });
});

describe("decideUserLock: may be taken while a command runs; the holder keeps the original", () => {
  test.each<[string, LockState, string, ReturnType<typeof decideUserLock>]>([
    ["a free box", {}, "alice", { ok: true, kind: "taken" }],
    ["a busy box (the command goes on)", { command: command("bob", 0) }, "alice", { ok: true, kind: "taken" }],
    ["the holder again", { user: userLock("alice", "n") }, "alice", { ok: true, kind: "already-yours", holder: userLock("alice", "n") }],
    ["another user", { user: userLock("alice", "n") }, "bob", { ok: false, holder: userLock("alice", "n") }],
  ])("%s", (_, state, user, expected) => {
    expect(decideUserLock(state, user)).toEqual(expected);
  });
});

describe("decideUnlock", () => {
  const locked: LockState = { user: userLock("alice") };
  test.each<[string, LockState, string, boolean, ReturnType<typeof decideUnlock>]>([
    ["not locked", {}, "bob", false, { ok: true, kind: "not-locked" }],
    ["not locked, forced", {}, "bob", true, { ok: true, kind: "not-locked" }],
    ["the holder", locked, "alice", false, { ok: true, kind: "unlocked", holder: userLock("alice"), forced: false }],
    ["the holder with --force is not a forced unlock", locked, "alice", true, { ok: true, kind: "unlocked", holder: userLock("alice"), forced: false }],
    ["another user", locked, "bob", false, { ok: false, holder: userLock("alice") }],
    ["another user with --force", locked, "bob", true, { ok: true, kind: "unlocked", holder: userLock("alice"), forced: true }],
    ["a busy box is not a user lock", { command: command("alice", 0) }, "bob", false, { ok: true, kind: "not-locked" }],
  ])("%s", (_, state, user, force, expected) => {
    expect(decideUnlock(state, user, force)).toEqual(expected);
  });
});

describe("isoSeconds: ISO 8601 UTC to the second", () => {
  test.each([
    [Date.parse("2026-03-20T14:30:00.000Z"), "2026-03-20T14:30:00Z"],
    [Date.parse("2026-03-20T14:30:00.999Z"), "2026-03-20T14:30:00Z"],
    [Date.parse("2026-03-20T14:30:59.500Z"), "2026-03-20T14:30:59Z"],
    [Date.parse("1999-12-31T23:59:59.001Z"), "1999-12-31T23:59:59Z"],
    [0, "1970-01-01T00:00:00Z"],
  ])("%p → %s", (ms, iso) => {
    expect(isoSeconds(ms)).toBe(iso);
  });
});

describe("messages: the exact sentences of docs/locks.md", () => {
  const box = "lab-box";
  const busy = (cmd: CommandLock["command"]) => ({ ...command("alice", 0), command: cmd });

  test.each(["python", "exec", "pip", "update"] as const)("busy names the command '%s'", (cmd) => {
    expect(messages.busy(box, busy(cmd))).toBe(`Box 'lab-box' is busy — '${cmd}' in progress by alice. Use --force-command to override.`);
  });

  test("the user lock sentences", () => {
    const bob = { user: "bob", since: "2026-03-20T13:00:00Z" };
    const mine = { user: "alice", since: "2026-03-20T14:30:00Z" };
    expect({
      locked: messages.locked(box, mine),
      alreadyLocked: messages.alreadyLocked(box, bob),
      unlocked: messages.unlocked(box),
      notLocked: messages.notLocked(box),
      unlockNeedsForce: messages.unlockNeedsForce(box, bob),
      lockedForCommand: messages.lockedForCommand(box, bob),
    }).toEqual({
      locked: "Box 'lab-box' locked by alice at 2026-03-20T14:30:00Z",
      alreadyLocked: "Box 'lab-box' is already locked by bob (since 2026-03-20T13:00:00Z)",
      unlocked: "Box 'lab-box' unlocked",
      notLocked: "Box 'lab-box' is not locked",
      unlockNeedsForce: "Box 'lab-box' is locked by bob. Use --force to unlock it.",
      lockedForCommand: "Box 'lab-box' is locked by bob (since 2026-03-20T13:00:00Z). Use --force-command to override.",
    });
  });

  test("the note shows in the refusals", () => {
    const bob = { user: "bob", since: "2026-03-20T13:00:00Z", note: "flashing firmware" };
    expect(messages.alreadyLocked(box, bob)).toBe("Box 'lab-box' is already locked by bob (since 2026-03-20T13:00:00Z, note: flashing firmware)");
    expect(messages.lockedForCommand(box, bob)).toBe(
      "Box 'lab-box' is locked by bob (since 2026-03-20T13:00:00Z, note: flashing firmware). Use --force-command to override.",
    );
  });

  test("what a waiter is told (docs/locks.md 'Waiting in line')", () => {
    expect(`waiting for ${box}: #2 in line, ${messages.waitingBusy(busy("python"))}`).toBe("waiting for lab-box: #2 in line, busy — 'python' by alice");
    expect(messages.waitingLocked(userLock("alice"))).toBe("locked by alice");
    expect(messages.waitingLocked(userLock("alice", "flashing"))).toBe("locked by alice (flashing)");
  });
});

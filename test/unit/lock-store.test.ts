/** The LMDB lock store: one write transaction per change, fencing by generation, history. Real LMDB in a temp dir. */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openState, type State } from "../../src/agent/state.ts";
import { LockRefusal } from "../../src/errors.ts";
import { GENERATION_BLOCK, LockStore } from "../../src/lock/store.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";

let dir: TempDir;
let state: State;

function store(ttlMs = 60_000) {
  dir = tempDir("keg-store-");
  state = openState(dir.path);
  return new LockStore(state, ttlMs);
}

afterEach(async () => {
  await state.close();
  dir[Symbol.dispose]();
});

describe("LockStore", () => {
  test("generations only grow, across grants, forced runs and a reopened store", async () => {
    const locks = store();
    const first = locks.acquireCommand("lab", "alice", "python", false);
    expect(locks.releaseCommand(first.generation)).toBe(true);
    const forced = locks.acquireCommand("lab", "bob", "exec", true);
    const second = locks.acquireCommand("lab", "alice", "exec", false);
    expect(forced.forced).toBe(true);
    expect([first.generation, forced.generation, second.generation]).toEqual([1, 2, 3]);
    await state.close();
    state = openState(dir.path);
    const reopened = new LockStore(state, 60_000);
    reopened.clearCommandLock();
    // A new life goes on above the block the last one reserved (docs/locks.md "Durability").
    expect(reopened.acquireCommand("lab", "carol", "pip", false).generation).toBe(GENERATION_BLOCK + 1);
  });

  test("a busy box refuses everyone, its holder too, with the spec's sentence", () => {
    const locks = store();
    locks.acquireCommand("lab", "alice", "python", false);
    for (const user of ["alice", "bob"]) {
      const error = (() => {
        try {
          locks.acquireCommand("lab", user, "exec", false);
        } catch (e) {
          return e;
        }
      })() as LockRefusal;
      expect(error).toBeInstanceOf(LockRefusal);
      expect(error.exitCode).toBe(75);
      expect(error.message).toBe("Box 'lab' is busy — 'python' in progress by alice. Use --force-command to override.");
      expect(error.blocker).toBe("busy — 'python' by alice");
    }
  });

  test("fencing: after a stale takeover the old generation can neither touch nor release the new holder's lock", () => {
    const locks = store(0); // every lock is stale at once
    const old = locks.acquireCommand("lab", "alice", "python", false);
    const fresh = locks.acquireCommand("lab", "bob", "exec", false);
    expect(locks.touch(old.generation)).toBe(false);
    expect(locks.isCurrent(old.generation)).toBe(false);
    expect(locks.releaseCommand(old.generation)).toBe(false);
    expect(locks.read().command).toMatchObject({ user: "bob", generation: fresh.generation });
    expect(locks.history().map((e) => e.event)).toEqual(["command-taken", "command-stale", "command-taken"]);
  });

  test("a restart clears the command lock and keeps the user lock", () => {
    const locks = store();
    locks.lockUser("lab", "alice", "scope attached");
    locks.acquireCommand("lab", "alice", "python", false);
    locks.clearCommandLock();
    expect(locks.read()).toEqual({ command: undefined, user: { user: "alice", since: expect.any(String), note: "scope attached" } });
    expect(locks.history().at(-1)).toMatchObject({ event: "cleared-at-start", user: "alice", command: "python" });
  });

  test("history keeps the latest events, oldest first, bounded", () => {
    const locks = store();
    for (let i = 0; i < 1100; i++) locks.releaseCommand(locks.acquireCommand("lab", `u${i}`, "exec", false).generation);
    const latest = locks.history(50);
    expect(latest).toHaveLength(50);
    expect(latest.at(-1)).toMatchObject({ event: "command-released", user: "u1099" });
    expect(latest[0]).toMatchObject({ user: "u1075" });
    expect(locks.history(5000).length).toBeLessThanOrEqual(1000);
  });

  test("group commit: 24 users' locks arriving together are decided in one transaction, one sync; exactly one wins", async () => {
    const locks = store();
    const before = locks.stats.commits;
    const users = Array.from({ length: 24 }, (_, i) => `u${i}`);
    const answers = await Promise.allSettled(users.map((user) => locks.lockUserGrouped("lab", user, undefined)));
    expect(locks.stats.commits - before).toBe(1);
    const won = answers.filter((a) => a.status === "fulfilled");
    expect(won).toHaveLength(1);
    for (const lost of answers.filter((a) => a.status === "rejected")) expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(LockRefusal);
    // The first in arrival order won, and the lock is in the durable environment.
    expect(locks.read().user).toMatchObject({ user: "u0" });
    expect(state.locks.get("user")).toMatchObject({ user: "u0" });
  });

  test("group commit: one user's locks and unlocks arriving together apply in order, each answer what its turn found", async () => {
    const locks = store();
    const before = locks.stats.commits;
    const steps = await Promise.all([
      locks.lockUserGrouped("lab", "ann", "first"),
      locks.lockUserGrouped("lab", "ann", "again"),
      locks.unlockUserGrouped("lab", "ann", false),
      locks.unlockUserGrouped("lab", "ann", false),
      locks.lockUserGrouped("lab", "ann", "last"),
    ]);
    expect(locks.stats.commits - before).toBe(1);
    expect(steps.map((s) => s.message)).toEqual([
      expect.stringMatching(/^Box 'lab' locked by ann at /),
      expect.stringMatching(/^Box 'lab' locked by ann at /),
      "Box 'lab' unlocked",
      "Box 'lab' is not locked",
      expect.stringMatching(/^Box 'lab' locked by ann at /),
    ]);
    expect(locks.read().user).toMatchObject({ user: "ann", note: "last" });
    expect(locks.history().map((e) => e.event)).toEqual(["locked", "unlocked", "locked"]);
  });

  test("changes that come in separate turns are separate commits", async () => {
    const locks = store();
    const before = locks.stats.commits;
    await locks.lockUserGrouped("lab", "ann", undefined);
    await locks.unlockUserGrouped("lab", "ann", false);
    expect(locks.stats.commits - before).toBe(2);
  });

  test("generations are reserved in durable blocks: the durable ceiling is never below a grant", () => {
    const locks = store();
    let last = 0;
    for (let i = 0; i < GENERATION_BLOCK + 10; i++) {
      last = locks.acquireCommand("lab", "ann", "exec", false).generation;
      expect(state.locks.get("generation")).toBeGreaterThanOrEqual(last);
      locks.releaseCommand(last);
    }
    expect(last).toBe(GENERATION_BLOCK + 10);
    expect(state.locks.get("generation")).toBe(2 * GENERATION_BLOCK);
    // The command lock itself is never in the durable environment.
    locks.acquireCommand("lab", "ann", "exec", false);
    expect(state.locks.get("command")).toBeUndefined();
  });

  test("a volatile environment of another boot is dropped at the next open: no command lock, generations above the ceiling", async () => {
    const locks = store();
    const grant = locks.acquireCommand("lab", "ann", "python", false);
    await state.close();
    writeFileSync(join(dir.path, "volatile", "boot"), "another boot\n");
    state = openState(dir.path);
    const reopened = new LockStore(state, 60_000);
    reopened.clearCommandLock();
    expect(reopened.read().command).toBeUndefined();
    expect(reopened.acquireCommand("lab", "bob", "exec", false).generation).toBeGreaterThan(grant.generation);
  });

  test("command-lock events wait in the volatile history, in order with the durable events, and move into it", () => {
    const locks = store();
    const first = locks.acquireCommand("lab", "ann", "python", false);
    locks.lockUser("lab", "bob", undefined); // a durable commit: the waiting events go along
    locks.releaseCommand(first.generation);
    expect(locks.history().map((e) => e.event)).toEqual(["command-taken", "locked", "command-released"]);
    expect([...state.history.getRange({})].map(({ value }) => value.event)).toEqual(["command-taken", "locked"]);
    locks.moveHistory();
    expect([...state.history.getRange({})].map(({ value }) => value.event)).toEqual(["command-taken", "locked", "command-released"]);
    expect([...state.volatile().history.getRange({})]).toEqual([]);
    expect(locks.history().map((e) => e.event)).toEqual(["command-taken", "locked", "command-released"]);
  });

  test("a restart on the same boot moves the last life's command-lock events and notes the cleared lock", async () => {
    const locks = store();
    locks.releaseCommand(locks.acquireCommand("lab", "ann", "python", false).generation);
    locks.acquireCommand("lab", "bob", "exec", false);
    await state.close();
    state = openState(dir.path);
    const reopened = new LockStore(state, 60_000);
    reopened.clearCommandLock();
    const durable = [...state.history.getRange({})].map(({ value }) => value.event);
    expect(durable).toEqual(["command-taken", "command-released", "command-taken", "cleared-at-start"]);
    expect(reopened.history().map((e) => e.event)).toEqual(durable);
  });
});

/** The LMDB lock store: one write transaction per change, fencing by generation, history. Real LMDB in a temp dir. */
import { afterEach, describe, expect, test } from "bun:test";
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
});

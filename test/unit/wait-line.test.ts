/**
 * The waiting line of `--wait` (docs/locks.md "Waiting in line", src/lock/wait-line.ts) with
 * fake attempts: first come, first served, position updates, the wait running
 * out, and a waiter that goes away losing its place.
 */
import { describe, expect, test } from "bun:test";
import { KegError, LockRefusal } from "../../src/errors.ts";
import { WaitLine } from "../../src/lock/wait-line.ts";
import { until } from "../helpers/until.ts";

type Update = { position: number; blocker: string };

/** A box with one lock: `attempt(who)` takes it or throws the refusal naming the holder. */
function fakeBox() {
  const box = {
    holder: undefined as string | undefined,
    refusals: 0,
    attempt: (who: string) => () => {
      if (box.holder !== undefined) {
        box.refusals++;
        throw new LockRefusal("busy", `Box 'lab' is busy — 'python' in progress by ${box.holder}. Use --force-command to override.`, `busy — 'python' by ${box.holder}`);
      }
      box.holder = who;
      return who;
    },
  };
  return box;
}

/** Consumes a waiter's updates as they come; `done` settles with its result (or its error). */
function drive<T>(waiting: AsyncGenerator<Update, T>) {
  const updates: Update[] = [];
  const done = (async () => {
    for (;;) {
      const next = await waiting.next();
      if (next.done) return next.value;
      updates.push(next.value);
    }
  })();
  done.catch(() => {}); // observed by the test that expects it
  let settled = false;
  void done.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { updates, done, settled: () => settled };
}

const last = <T>(list: T[]) => list[list.length - 1];

describe("WaitLine", () => {
  test("a free box: the first attempt wins, nothing is shown, nobody stays in line", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    const alice = drive(line.wait(box.attempt("alice"), 30));
    expect(await alice.done).toBe("alice");
    expect(alice.updates).toEqual([]);
    expect(line.length).toBe(0);
  });

  test("two waiters are served in arrival order and shown #1 / #2 in line", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const bob = drive(line.wait(box.attempt("bob"), 30));
    await until(() => bob.updates.length === 1);
    const carol = drive(line.wait(box.attempt("carol"), 30));
    await until(() => carol.updates.length === 1);
    expect(bob.updates).toEqual([{ position: 1, blocker: "busy — 'python' by alice" }]);
    expect(carol.updates).toEqual([{ position: 2, blocker: "busy — 'python' by alice" }]);
    expect(line.length).toBe(2);

    // alice releases: bob, first in line, gets it; carol moves up and now waits for bob.
    box.holder = undefined;
    line.changed();
    expect(await bob.done).toBe("bob");
    await until(() => last(carol.updates)?.position === 1);
    expect(box.holder as string | undefined).toBe("bob");
    expect(carol.settled()).toBe(false);
    expect(last(carol.updates)).toEqual({ position: 1, blocker: "busy — 'python' by bob" });
    expect(line.length).toBe(1);

    box.holder = undefined;
    line.changed();
    expect(await carol.done).toBe("carol");
    expect(line.length).toBe(0);
  });

  // Regression tests: the first WaitLine let each waiter try in its own
  // continuation, so a change that came while a waiter sat at its `yield` (its
  // update not yet taken by the consumer, or the one ahead still finishing its
  // `return`) was lost until the once-a-second tick: a stale '#2' was shown,
  // and the waiter behind could take the box first.
  test("the next waiter is told '#1 in line' as soon as the one ahead is served, never a stale '#2'", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const bob = drive(line.wait(box.attempt("bob"), 30));
    await until(() => bob.updates.length === 1);
    const carol = drive(line.wait(box.attempt("carol"), 30));
    await until(() => carol.updates.length === 1);
    box.holder = undefined;
    const freed = performance.now();
    line.changed();
    expect(await bob.done).toBe("bob");
    await until(() => last(carol.updates)?.position === 1, { deadlineMs: 3_000 });
    const movedUpMs = performance.now() - freed;
    // bob has left the line: carol is first, waiting for bob's lock.
    expect(carol.updates.slice(1)).toEqual([{ position: 1, blocker: "busy — 'python' by bob" }]);
    expect(movedUpMs).toBeLessThan(500);
    box.holder = undefined;
    line.changed();
    expect(await carol.done).toBe("carol");
  });

  test("first in line keeps its place while its last update is still being delivered", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    // bob's consumer (the agent streaming to a slow client) has not asked for more yet.
    const bob = line.wait(box.attempt("bob"), 30);
    expect((await bob.next()).value).toEqual({ position: 1, blocker: "busy — 'python' by alice" });
    const carol = drive(line.wait(box.attempt("carol"), 30));
    await until(() => carol.updates.length === 1);
    expect(carol.updates[0]!.position).toBe(2);
    box.holder = undefined;
    line.changed();
    // Let every pending continuation run (a macrotask turn), then bob's client reads on.
    await new Promise((resolve) => setImmediate(resolve));
    const bobNext = await bob.next();
    expect({ done: bobNext.done, value: bobNext.value, holder: box.holder as string | undefined }).toEqual({ done: true, value: "bob", holder: "bob" });
    box.holder = undefined;
    line.changed();
    expect(await carol.done).toBe("carol");
  });

  test("five waiters are served strictly first come, first served", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "owner";
    const names = ["w1", "w2", "w3", "w4", "w5"];
    const waiters = [];
    for (const name of names) {
      const waiter = drive(line.wait(box.attempt(name), 30));
      await until(() => waiter.updates.length === 1);
      waiters.push(waiter);
    }
    expect(waiters.map((w) => w.updates[0]!.position)).toEqual([1, 2, 3, 4, 5]);
    const served: string[] = [];
    for (const waiter of waiters) {
      box.holder = undefined;
      line.changed();
      served.push(await waiter.done);
    }
    expect(served).toEqual(names);
  });

  test("each change of position or blocker is shown once, nothing repeats", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const bob = drive(line.wait(box.attempt("bob"), 30));
    await until(() => bob.updates.length === 1);
    for (let i = 1; i <= 2; i++) {
      const before = box.refusals;
      line.changed();
      await until(() => box.refusals > before);
    }
    expect(bob.updates).toHaveLength(1);
    box.holder = "dave"; // the blocker changed
    line.changed();
    await until(() => bob.updates.length === 2);
    expect(bob.updates[1]).toEqual({ position: 1, blocker: "busy — 'python' by dave" });
    box.holder = undefined;
    line.changed();
    expect(await bob.done).toBe("bob");
  });

  test("the earliest waiter that may go, goes: one blocked by another rule does not hold back the next", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    // bob is refused by something that does not clear (say, carol's user lock blocks him but not carol).
    const bobGone = new AbortController();
    const bob = drive(
      line.wait(
        () => {
          throw new LockRefusal("locked", "Box 'lab' is locked by carol (since …). Use --force-command to override.", "locked by carol");
        },
        30,
        bobGone.signal,
      ),
    );
    await until(() => bob.updates.length === 1);
    const carol = drive(line.wait(box.attempt("carol"), 30));
    await until(() => carol.updates.length === 1);
    box.holder = undefined;
    line.changed();
    expect(await carol.done).toBe("carol");
    await until(() => last(bob.updates)?.position === 1);
    expect(bob.settled()).toBe(false);
    bobGone.abort();
    await expect(bob.done).rejects.toThrow("The waiter went away.");
    expect(line.length).toBe(0);
  });

  test("the wait running out throws the last LockRefusal (exit 75)", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const started = performance.now();
    const bob = drive(line.wait(box.attempt("bob"), 0.2));
    const error = await bob.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(LockRefusal);
    expect(error).toMatchObject({
      code: "busy",
      exitCode: 75,
      message: "Box 'lab' is busy — 'python' in progress by alice. Use --force-command to override.",
      blocker: "busy — 'python' by alice",
    });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2_000);
    expect(bob.updates).toEqual([{ position: 1, blocker: "busy — 'python' by alice" }]);
    expect(line.length).toBe(0);
  });

  test("the refusal thrown at the end is the latest one, not the first", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const bob = drive(line.wait(box.attempt("bob"), 0.3));
    await until(() => bob.updates.length === 1);
    box.holder = "dave";
    line.changed();
    await expect(bob.done).rejects.toThrow("Box 'lab' is busy — 'python' in progress by dave. Use --force-command to override.");
  });

  test("a waiter that goes away loses its place; the one behind it moves up", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const gone = new AbortController();
    const bob = drive(line.wait(box.attempt("bob"), 0, gone.signal));
    await until(() => bob.updates.length === 1);
    const carol = drive(line.wait(box.attempt("carol"), 0));
    await until(() => carol.updates.length === 1);
    expect(carol.updates[0]!.position).toBe(2);

    gone.abort();
    const error = await bob.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KegError);
    expect(error).not.toBeInstanceOf(LockRefusal);
    expect(line.length).toBe(1);
    await until(() => last(carol.updates)?.position === 1);
    expect(last(carol.updates)).toEqual({ position: 1, blocker: "busy — 'python' by alice" });

    // bob never gets the box, even when it frees up.
    box.holder = undefined;
    line.changed();
    expect(await carol.done).toBe("carol");
    expect(line.length).toBe(0);
  });

  test("a waiter that stops reading (generator returned) leaves the line too", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const waiting = line.wait(box.attempt("bob"), 0);
    expect((await waiting.next()).value).toEqual({ position: 1, blocker: "busy — 'python' by alice" });
    expect(line.length).toBe(1);
    await waiting.return(undefined as never);
    expect(line.length).toBe(0);
  });

  test("a grant made while its waiter was going away is handed back (abandon), and the next waiter gets the box", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const abandoned: string[] = [];
    const bob = line.wait(box.attempt("bob"), 30, undefined, (value) => {
      abandoned.push(value);
      box.holder = undefined;
      line.changed();
    });
    expect((await bob.next()).value).toEqual({ position: 1, blocker: "busy — 'python' by alice" });
    const carol = drive(line.wait(box.attempt("carol"), 30));
    await until(() => carol.updates.length === 1);
    box.holder = undefined;
    line.changed(); // bob, first in line, is granted the box while his client is gone
    expect(box.holder as string | undefined).toBe("bob");
    await bob.return(undefined as never);
    expect(abandoned).toEqual(["bob"]);
    expect(await carol.done).toBe("carol");
    expect(line.length).toBe(0);
  });

  test("an error other than a lock refusal ends the wait at once and leaves the line", async () => {
    const line = new WaitLine();
    const bob = drive(
      line.wait(() => {
        throw new KegError("failed", "disk on fire");
      }, 30),
    );
    await expect(bob.done).rejects.toThrow("disk on fire");
    expect(bob.updates).toEqual([]);
    expect(line.length).toBe(0);
  });

  test("with no change event, the once-a-second tick lets a waiter go (a lock can go stale silently)", async () => {
    const line = new WaitLine();
    const box = fakeBox();
    box.holder = "alice";
    const bob = drive(line.wait(box.attempt("bob"), 0));
    await until(() => bob.updates.length === 1);
    box.holder = undefined; // no line.changed(): as when a lock goes stale
    expect(await bob.done).toBe("bob");
    expect(line.length).toBe(0);
  }, 5_000);
});

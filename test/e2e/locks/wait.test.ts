/**
 * On the compiled binaries: `--wait` queues on the agent,
 * first come first served, with the place shown on stderr (one line per change
 * off a terminal), and gives up with 75 when the time runs out (docs/locks.md
 * "Waiting in line").
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { ISO, lockBox, say } from "../../helpers/locks.ts";

setDefaultTimeout(60_000);

const lockLine = (user: string) => new RegExp(`^Box 'lab' locked by ${user} at ${ISO}\\n$`);
const waitLine = (n: number, blocker: string) => `waiting for lab: #${n} in line, ${blocker}\n`;

describe("boxes lock --wait", () => {
  test.concurrent("two waiters are served in arrival order, shown #1 / #2 in line", async () => {
    await using box = await lockBox(["alice", "bob", "carol"]);
    const { alice, bob, carol } = box.users;
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);

    await using bobWaits = bob.start(["boxes", "lock", "--wait", "30"]);
    await bobWaits.err.waitFor(/#1 in line/);
    await using carolWaits = carol.start(["boxes", "lock", "--wait", "30"]);
    await carolWaits.err.waitFor(/#2 in line/);
    expect(bobWaits.err.text).toBe(waitLine(1, "locked by alice"));
    expect(carolWaits.err.text).toBe(waitLine(2, "locked by alice"));

    expect(await alice.run(["boxes", "unlock"])).toEqual({ code: 0, stdout: say.unlocked(), stderr: "" });
    const bobDone = await bobWaits.result();
    expect(bobDone.code).toBe(0);
    expect(bobDone.stdout).toMatch(lockLine("bob"));
    expect(bobDone.stderr).toBe(waitLine(1, "locked by alice"));

    // carol moves up and now waits for bob.
    await carolWaits.err.waitFor(/#1 in line, locked by bob\n/);
    expect(carolWaits.proc.exitCode).toBeNull();

    expect(await bob.run(["boxes", "unlock"])).toEqual({ code: 0, stdout: say.unlocked(), stderr: "" });
    const carolDone = await carolWaits.result();
    expect(carolDone.code).toBe(0);
    expect(carolDone.stdout).toMatch(lockLine("carol"));
    // One line per change, and never a stale place.
    expect(carolDone.stderr).toBe(waitLine(2, "locked by alice") + waitLine(1, "locked by bob"));
  });

  test.concurrent("the note shows in the waiting line", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    expect((await alice.run(["boxes", "lock", "--note", "soak"])).code).toBe(0);
    await using bobWaits = bob.start(["boxes", "lock", "--wait", "30"]);
    await bobWaits.err.waitFor(/\n/);
    expect(bobWaits.err.text).toBe(waitLine(1, "locked by alice (soak)"));
    expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    expect((await bobWaits.result()).code).toBe(0);
  });

  test.concurrent("--wait 1 on a held box exits 75 after about a second", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const locked = await alice.run(["boxes", "lock"]);
    const since = new RegExp(`at (${ISO})`).exec(locked.stdout)![1]!;
    const started = performance.now();
    const result = await bob.run(["boxes", "lock", "--wait", "1"]);
    const elapsed = performance.now() - started;
    expect(result).toEqual({ code: 75, stdout: "", stderr: waitLine(1, "locked by alice") + say.alreadyLocked("alice", since) });
    expect(elapsed).toBeGreaterThan(900);
    // Loaded CI machines start a keg in seconds: the bound says "not forever", the lower one "it waited".
    expect(elapsed).toBeLessThan(10_000);
  });

  test.concurrent("a waiter that goes away loses its place; the next one moves up and is served", async () => {
    await using box = await lockBox(["alice", "bob", "carol"]);
    const { alice, bob, carol } = box.users;
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    await using bobWaits = bob.start(["boxes", "lock", "--wait", "0"]);
    await bobWaits.err.waitFor(/#1 in line/);
    await using carolWaits = carol.start(["boxes", "lock", "--wait", "0"]);
    await carolWaits.err.waitFor(/#2 in line/);
    bobWaits.proc.kill("SIGKILL");
    await bobWaits.proc.exited;
    await carolWaits.err.waitFor(/#1 in line, locked by alice\n/);
    expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    const carolDone = await carolWaits.result();
    expect(carolDone.code).toBe(0);
    expect(carolDone.stdout).toMatch(lockLine("carol"));
    // bob's grant was never made: carol holds the box.
    expect(await bob.run(["boxes", "lock"])).toMatchObject({ code: 75 });
  });

  test.concurrent("a running command does not block boxes lock --wait (a user lock may be taken while a command runs)", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("hold");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    const result = await bob.run(["boxes", "lock", "--wait", "5"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(lockLine("bob"));
    expect(result.stderr).toBe("");
    box.go(go);
    expect((await held.result()).code).toBe(0);
  });
});

describe("exec / python run --wait", () => {
  test.concurrent("two waiters on a busy box are served in arrival order", async () => {
    await using box = await lockBox(["alice", "bob", "carol"]);
    const { alice, bob, carol } = box.users;
    const aliceGo = box.goFile("alice");
    await using held = alice.start(["python", "run", "hold.py", aliceGo]);
    await held.out.waitFor(/^ready\n/);

    const bobGo = box.goFile("bob");
    await using bobWaits = bob.start(["python", "run", "hold.py", bobGo, "--wait", "30"]);
    await bobWaits.err.waitFor(/#1 in line/);
    await using carolWaits = carol.start(["exec", "--wait", "30", "--", "echo", "carol ran"]);
    await carolWaits.err.waitFor(/#2 in line/);
    expect(bobWaits.err.text).toBe(waitLine(1, "busy — 'python' by alice"));
    expect(carolWaits.err.text).toBe(waitLine(2, "busy — 'python' by alice"));

    box.go(aliceGo);
    expect((await held.result()).code).toBe(0);
    // bob goes first; carol moves up and waits for bob's run.
    await bobWaits.out.waitFor(/^ready\n/);
    await carolWaits.err.waitFor(/#1 in line, busy — 'python' by bob\n/);
    expect(carolWaits.proc.exitCode).toBeNull();

    box.go(bobGo);
    expect(await bobWaits.result()).toEqual({ code: 0, stdout: "ready\n", stderr: waitLine(1, "busy — 'python' by alice") });
    expect(await carolWaits.result()).toEqual({
      code: 0,
      stdout: "carol ran\n",
      stderr: waitLine(2, "busy — 'python' by alice") + waitLine(1, "busy — 'python' by bob"),
    });
  });

  test.concurrent("a run waiter whose keg is killed loses its place: the box is free once the holder ends", async () => {
    await using box = await lockBox(["alice", "bob", "carol"]);
    const { alice, bob, carol } = box.users;
    const go = box.goFile("hold");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    await using bobWaits = bob.start(["exec", "--wait", "0", "--", "sh", "-c", "echo bob ran; sleep 600"]);
    await bobWaits.err.waitFor(/#1 in line/);
    bobWaits.proc.kill("SIGKILL");
    await bobWaits.proc.exited;
    box.go(go);
    expect((await held.result()).code).toBe(0);
    // Nothing of bob's holds the box: carol runs at once (no --wait).
    expect(await carol.run(["exec", "--", "true"])).toEqual({ code: 0, stdout: "", stderr: "" });
    const runs = JSON.parse((await carol.run(["python", "ps", "--json"])).stdout) as { user: string }[];
    expect(runs.filter((r) => r.user === "bob")).toEqual([]);
  });

  test.concurrent("exec --wait 1 on a busy box exits 75 after about a second with the busy sentence", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("hold");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    const started = performance.now();
    const result = await bob.run(["exec", "--wait", "1", "--", "true"]);
    const elapsed = performance.now() - started;
    expect(result).toEqual({ code: 75, stdout: "", stderr: waitLine(1, "busy — 'python' by alice") + say.busy("alice") });
    expect(elapsed).toBeGreaterThan(900);
    // Loaded CI machines start a keg in seconds: the bound says "not forever", the lower one "it waited".
    expect(elapsed).toBeLessThan(10_000);
    box.go(go);
    expect((await held.result()).code).toBe(0);
  });

  test.concurrent("the user lock's holder waiting for a command is not held back by another user waiting for her lock", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    expect((await alice.run(["boxes", "lock"])).code).toBe(0);
    const go = box.goFile("hold");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);
    await using bobWaits = bob.start(["exec", "--wait", "30", "--", "true"]);
    await bobWaits.err.waitFor(/#1 in line/);
    await using aliceWaits = alice.start(["exec", "--wait", "30", "--", "echo", "alice again"]);
    await aliceWaits.err.waitFor(/#2 in line/);
    box.go(go);
    expect((await held.result()).code).toBe(0);
    expect(await aliceWaits.result()).toMatchObject({ code: 0, stdout: "alice again\n" });
    expect(bobWaits.proc.exitCode).toBeNull();
    expect((await alice.run(["boxes", "unlock"])).code).toBe(0);
    expect((await bobWaits.result()).code).toBe(0);
  });
});

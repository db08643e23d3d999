/**
 * On the compiled binaries, with `--command-lock-ttl 3
 * --keepalive 1`: a frozen (SIGSTOPped) keg keeps its lock while fresh and
 * loses it after the TTL; a live keg keeps it through a long silence; and the
 * woken old keg can neither release nor download on the new holder's cycle
 * (fencing, docs/locks.md).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { history, listed, lockBox, say, untilFree } from "../../helpers/locks.ts";

setDefaultTimeout(60_000);

const SHORT_TTL = ["--command-lock-ttl", "3", "--keepalive", "1"];

test.concurrent("a frozen keg keeps its lock while fresh, loses it after the TTL, and cannot touch the new holder's cycle", async () => {
  await using box = await lockBox(["alice", "bob"], { args: SHORT_TTL });
  const { alice, bob } = box.users;
  const aliceGo = box.goFile("alice");
  const aliceDir = box.dir.join("alice");
  await Bun.write(box.dir.join("alice", ".keep"), "");
  await using old = alice.start(["python", "run", "../hold-write.py", aliceGo, "--download", "out.txt"], { cwd: aliceDir });
  await old.out.waitFor(/^ready\n/);

  // The laptop freezes: no heartbeats any more.
  process.kill(old.proc.pid, "SIGSTOP");
  const frozen = performance.now();
  expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });
  const { tries } = await untilFree(() => bob.run(["exec", "--", "true"]), say.busy("alice"), 10_000);
  const takenOverMs = performance.now() - frozen;
  expect(tries).toBeGreaterThan(1);
  // Not before the lock went stale: the last heartbeat was at most ~1 s before the freeze.
  expect(takenOverMs).toBeGreaterThan(1_500);

  // bob now holds the box for a long run of his own (his keg is alive, so it stays his).
  const bobGo = box.goFile("bob");
  await using bobRun = bob.start(["exec", "--", "sh", "-c", `echo bob-ready; while [ ! -e '${bobGo}' ]; do sleep 0.02; done`]);
  await bobRun.out.waitFor(/^bob-ready\n/);
  expect(await listed(bob)).toMatchObject({ busy: "bob (exec)" });

  // alice's laptop wakes, and her run ends by itself (exit 0).
  process.kill(old.proc.pid, "SIGCONT");
  box.go(aliceGo);
  const woke = await old.result();
  expect(woke.stdout).toBe("ready\n");
  // Her download on the stale cycle is refused: keg exits 1 and nothing is written.
  expect(woke.code).toBe(1);
  expect(woke.stderr).toEndWith("Error: Download of 'out.txt' failed: this command's lock was taken over after going stale.\n");
  expect(existsSync(box.dir.join("alice", "out.txt"))).toBe(false);

  // Her cycle's end released nothing: bob's lock and run go on.
  expect(await listed(bob)).toMatchObject({ busy: "bob (exec)" });
  expect(await alice.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("bob", "exec") });
  expect(bobRun.proc.exitCode).toBeNull();

  const events = await history(bob);
  const stale = events.find((e) => e.event === "command-stale");
  expect(stale).toMatchObject({ user: "bob", holder: "alice", command: "python" });
  const aliceTaken = events.find((e) => e.event === "command-taken" && e.user === "alice")!;
  expect(events.some((e) => e.event === "command-released" && e.generation === aliceTaken.generation)).toBe(false);

  box.go(bobGo);
  expect(await bobRun.result()).toEqual({ code: 0, stdout: "bob-ready\n", stderr: "" });
  expect(await alice.run(["exec", "--", "true"])).toEqual({ code: 0, stdout: "", stderr: "" });
});

test.concurrent("killing the stale holder's run with --kill does not free the new holder's lock", async () => {
  await using box = await lockBox(["alice", "bob"], { args: SHORT_TTL });
  const { alice, bob } = box.users;
  await using old = alice.start(["python", "run", "quiet.py", "600"]);
  await old.out.waitFor(/^ready\n/);
  process.kill(old.proc.pid, "SIGSTOP");
  await untilFree(() => bob.run(["exec", "--", "true"]), say.busy("alice"), 10_000);

  const bobGo = box.goFile("bob");
  await using bobRun = bob.start(["exec", "--", "sh", "-c", `echo bob-ready; while [ ! -e '${bobGo}' ]; do sleep 0.02; done`]);
  await bobRun.out.waitFor(/^bob-ready\n/);

  // The stale run is left alone and stays in ps (docs/locks.md) until alice kills it.
  const runs = JSON.parse((await alice.run(["python", "ps", "--json"])).stdout) as { id: string; runnable: string; status: string }[];
  const aliceRun = runs.find((r) => r.runnable === "quiet.py")!;
  expect(aliceRun.status).toBe("running");
  process.kill(old.proc.pid, "SIGCONT");
  expect((await alice.run(["python", "--kill", aliceRun.id])).code).toBe(0);
  expect((await old.result()).code).toBe(143);

  expect(await listed(bob)).toMatchObject({ busy: "bob (exec)" });
  expect(await alice.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("bob", "exec") });
  box.go(bobGo);
  expect((await bobRun.result()).code).toBe(0);
});

test.concurrent("a silent 10 s script with a live keg keeps its lock throughout (TTL 3 s)", async () => {
  await using box = await lockBox(["alice", "bob"], { args: SHORT_TTL });
  const { alice, bob } = box.users;
  await using held = alice.start(["python", "run", "quiet.py", "10"]);
  await held.out.waitFor(/^ready\n/);
  const start = performance.now();
  const refusedAt: number[] = [];
  let ended = false;
  void held.proc.exited.then(() => (ended = true));
  while (!ended) {
    const tried = performance.now() - start;
    const result = await bob.run(["exec", "--", "true"]);
    if (ended && result.code === 0) break; // alice's run ended meanwhile
    expect(result).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });
    refusedAt.push(tried);
    // Sampling, not waiting for a condition: one try about every half second until alice's keg is done.
    await Promise.race([held.proc.exited, Bun.sleep(500)]);
  }
  expect(await held.result()).toEqual({ code: 0, stdout: "ready\n", stderr: "" });
  // Refused from the start to the end of the 10 s, far beyond the 3 s TTL.
  expect(refusedAt.length).toBeGreaterThanOrEqual(8);
  expect(refusedAt.at(-1)!).toBeGreaterThan(8_000);
  expect((await history(bob)).some((e) => e.event === "command-stale")).toBe(false);
  expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 0, stdout: "", stderr: "" });
});

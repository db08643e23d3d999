/**
 * On the compiled binaries: an agent SIGKILLed mid-run
 * and restarted on the same state dir clears its previous life's command lock
 * at once (a long TTL rules staleness out) and keeps the user lock (docs/locks.md).
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { history, ISO, listed, lockBox, say } from "../../helpers/locks.ts";

setDefaultTimeout(60_000);

const LONG_TTL = ["--command-lock-ttl", "3600"];

test.concurrent("after a crash mid-run the box is free at once and the user lock is still there", async () => {
  await using box = await lockBox(["alice", "bob"], { args: LONG_TTL });
  const { alice, bob } = box.users;
  const locked = await alice.run(["boxes", "lock", "--note", "before the crash"]);
  expect(locked.code).toBe(0);
  const since = new RegExp(`^Box 'lab' locked by alice at (${ISO})\\n$`).exec(locked.stdout)![1]!;

  await using held = alice.start(["python", "run", "quiet.py", "600"]);
  await held.out.waitFor(/^ready\n/);
  expect(await listed(bob)).toMatchObject({ locked_by: "alice", busy: "alice (python)" });
  expect(await alice.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });

  await box.agent.kill();
  // The stream was cut: the exit code cannot be known (docs/cli.md).
  expect((await held.result()).code).toBe(255);
  await using restarted = await box.agent.restart(LONG_TTL);
  expect(restarted.url).toBe(box.agent.url);

  // Free at once for the lock's holder; the user lock still stops others, with its original time and note.
  expect(await alice.run(["exec", "--", "true"])).toEqual({ code: 0, stdout: "", stderr: "" });
  expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.locked("alice", since, "before the crash") });
  expect(await listed(bob)).toMatchObject({ locked_by: "alice", lock_note: "before the crash", locked_since: since, busy: null });
  const events = await history(bob);
  expect(events.find((e) => e.event === "cleared-at-start")).toMatchObject({ user: "alice", command: "python" });
  // The attached run the agent can no longer serve is stopped, and shows so in ps.
  const runs = JSON.parse((await bob.run(["python", "ps", "--json"])).stdout) as { runnable: string; status: string }[];
  expect(runs.find((r) => r.runnable === "quiet.py")?.status).toBe("killed");
});

test.concurrent("after a crash with no user lock, another user finds the box free at once", async () => {
  await using box = await lockBox(["alice", "bob"], { args: LONG_TTL });
  const { alice, bob } = box.users;
  await using held = alice.start(["python", "run", "quiet.py", "600"]);
  await held.out.waitFor(/^ready\n/);
  expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });
  await box.agent.kill();
  await using restarted = await box.agent.restart(LONG_TTL);
  expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 0, stdout: "", stderr: "" });
  expect(await listed(bob)).toMatchObject({ locked_by: null, busy: null });
  expect((await held.result()).code).toBe(255);
});

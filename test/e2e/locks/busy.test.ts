/**
 * On the compiled binaries: the command lock refuses
 * every other caller, the holder included, with docs/locks.md's exact sentence and
 * exit 75, and is released on every way out of a cycle.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { lockBox, say, untilFree } from "../../helpers/locks.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

const free = { code: 0, stdout: "", stderr: "" };

describe("the command lock", () => {
  test.concurrent("busy: another user and the holder get the exact sentence and 75; free right after exit 0", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("run");
    await using held = alice.start(["python", "run", "hold.py", go]);
    await held.out.waitFor(/^ready\n/);

    const refused = { code: 75, stdout: "", stderr: say.busy("alice", "python") };
    expect(await bob.run(["exec", "--", "true"])).toEqual(refused);
    expect(await alice.run(["exec", "--", "true"])).toEqual(refused);
    expect(await bob.run(["python", "run", "ok.py"])).toEqual(refused);
    expect(await bob.run(["python", "run", "ok.py", "--download", "out.txt"])).toEqual(refused);
    // Skipping checks (docs/locks.md): ps never checks locks.
    expect((await bob.run(["python", "ps"])).code).toBe(0);

    box.go(go);
    expect(await held.result()).toEqual({ code: 0, stdout: "ready\n", stderr: "" });
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);
  });

  test.concurrent("the quoted word names the command: 'exec' while an exec runs", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    const go = box.goFile("exec");
    await using held = alice.start(["exec", "--", "sh", "-c", `echo ready; while [ ! -e '${go}' ]; do sleep 0.02; done`]);
    await held.out.waitFor(/^ready\n/);
    expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice", "exec") });
    // boxes list's Busy column uses the same word (docs/locks.md).
    const listed = JSON.parse((await bob.plain(["boxes", "list", "--json"])).stdout);
    expect(listed).toMatchObject([{ name: "lab", busy: "alice (exec)", locked_by: null }]);
    box.go(go);
    expect((await held.result()).code).toBe(0);
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);
  });

  test.concurrent("released after exit 3 and after a failed download", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    expect(await alice.run(["exec", "--", "sh", "-c", "exit 3"])).toEqual({ code: 3, stdout: "", stderr: "" });
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);

    const failed = await alice.run(["python", "run", "ok.py", "--download", "missing.txt"]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe("ok\n");
    expect(failed.stderr).toStartWith("Error: Download of 'missing.txt' failed");
    expect(existsSync(box.dir.join("missing.txt"))).toBe(false);
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);
    expect(await alice.run(["exec", "--", "true"])).toEqual(free);
  });

  test.concurrent("released after Ctrl-C: keg exits 130 once the run has stopped, and the box is free", async () => {
    await using box = await lockBox(["alice", "bob"]);
    const { alice, bob } = box.users;
    await using held = alice.start(["python", "run", "quiet.py", "600"]);
    await held.out.waitFor(/^ready\n/);
    expect(await bob.run(["exec", "--", "true"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice") });
    held.proc.kill("SIGINT");
    expect((await held.result()).code).toBe(130);
    expect(await bob.run(["exec", "--", "true"])).toEqual(free);
    const runs = JSON.parse((await bob.run(["python", "ps", "--json"])).stdout) as { runnable: string; status: string }[];
    expect(runs.find((r) => r.runnable === "quiet.py")?.status).not.toBe("running");
  });

  test.concurrent("released within a few seconds after the keg CLI is SIGKILLed, and the run is stopped", async () => {
    // A client gone for good looks like a blip until the grace is over (docs/usage.md "Connection blips").
    await using box = await lockBox(["alice", "bob"], { args: ["--reconnect-grace", "1"] });
    const { alice, bob } = box.users;
    await using held = alice.start(["python", "run", "quiet.py", "600"]);
    await held.out.waitFor(/^ready\n/);
    held.proc.kill("SIGKILL");
    expect(await held.proc.exited).toBe(137);
    const killed = performance.now();
    const { result } = await untilFree(() => bob.run(["exec", "--", "true"]), say.busy("alice"), 5_000);
    expect(result).toEqual(free);
    expect(performance.now() - killed).toBeLessThan(5_000);
    // docs/locks.md: an attached run whose client drops is stopped.
    await until(
      async () => {
        const runs = JSON.parse((await bob.run(["python", "ps", "--json"])).stdout) as { runnable: string; status: string }[];
        return runs.find((r) => r.runnable === "quiet.py")?.status !== "running";
      },
      { deadlineMs: 5_000, what: "the dropped client's run to stop" },
    );
  });
});

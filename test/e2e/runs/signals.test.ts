/**
 * On the compiled binaries with real Python: how runs end.
 * `--timeout`, Ctrl-C, a CLI killed outright, and a
 * long-silent script kept alive by keepalives. docs/cli.md "Exit codes",
 * docs/locks.md (a dropped client's run is stopped).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isRunning, readIfThere, runBox, StreamText, expectNextRunWorks } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

/** The agent stops a run whose client left after this grace (docs/usage.md "Connection blips"). */
const SHORT_GRACE = ["--reconnect-grace", "1"];

describe("--timeout", () => {
  test.concurrent("a sleeper gets SIGTERM after 1 s: exit 124", async () => {
    await using box = await runBox({ "sleeper.py": "import time\nprint('sleeping')\ntime.sleep(30)\n" });
    const result = await box.run(["python", "run", "sleeper.py", "--timeout", "1"]);
    expect(result).toMatchObject({ code: 124, stdout: "sleeping\n" });
    expect(result.ms).toBeGreaterThanOrEqual(1000);
    // Well before the script's own 30 s: the timeout ended it (the bound leaves room for a loaded machine).
    expect(result.ms).toBeLessThan(10_000);
  });

  test.concurrent("a script ignoring SIGTERM is killed 5 s later: exit 137", async () => {
    await using box = await runBox({
      "stubborn.py": "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ignoring SIGTERM')\ntime.sleep(30)\n",
    });
    const result = await box.run(["python", "run", "stubborn.py", "--timeout", "1"]);
    expect(result).toMatchObject({ code: 137, stdout: "ignoring SIGTERM\n" });
    expect(result.ms).toBeGreaterThanOrEqual(6000);
    expect(result.ms).toBeLessThan(15_000);
  });
});

/** A script that starts a child, writes both pids to `pids` in its folder, says ready, then waits. */
const withChild = (pidFile: string) =>
  [
    "import os, subprocess, sys, time",
    "child = subprocess.Popen(['sleep', '60'])",
    `open(${JSON.stringify(pidFile)} + '.tmp', 'w').write('%d %d' % (os.getpid(), child.pid))`,
    `os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})`,
    "print('ready')",
    "time.sleep(60)",
  ].join("\n");

describe("stopping a run from the CLI side", () => {
  test.concurrent("SIGINT to keg: exit 130, the script and its child are gone, and the next run works", async () => {
    await using box = await runBox();
    const pidFile = box.dir.join("pids");
    await Bun.write(box.dir.join("waiter.py"), withChild(pidFile));
    const keg = box.spawn(["python", "run", "waiter.py"]);
    const stdout = new StreamText(keg.stdout);
    const stderr = new StreamText(keg.stderr);
    await stdout.waitFor(/^ready\n/);
    const [script, child] = readIfThere(pidFile)!.split(" ").map(Number) as [number, number];
    expect([isRunning(script), isRunning(child)]).toEqual([true, true]);

    keg.kill("SIGINT");
    expect(await keg.exited).toBe(130);
    // keg waited for the run's end: the script was already reaped when it exited.
    expect(isRunning(script)).toBe(false);
    await stderr.done;
    expect(stderr.text).toContain("stopping the run on the box");
    await until(() => !isRunning(script) && !isRunning(child), { deadlineMs: 10_000, what: "the script and its child to end" });

    // keg left only after the box released its command lock (docs/cli.md), so this starts at once.
    await Bun.write(box.dir.join("again.py"), "print('again')\n");
    const again = await box.run(["python", "run", "again.py"]);
    expect(again).toMatchObject({ code: 0, stdout: "again\n", stderr: "" });
  });

  test.concurrent("SIGINT while the box unpacks the upload: exit 130, no run is left going, the box is free", async () => {
    await using box = await runBox({ "late.py": "import time\ntime.sleep(30)\n" });
    // Random bytes do not compress: unpacking them takes long enough to land the signal before the
    // run starts (the agent then finds its client gone). Landing just after, the ordinary stop must
    // give the same result.
    writeFileSync(box.dir.join("big.bin"), randomBytes(64 * 1024 * 1024));
    const runsDir = join(box.agent.stateDir, "runs");
    const keg = box.spawn(["python", "run", "late.py", "--add-file", "big.bin"]);
    const runDir = await until(() => readdirSync(runsDir).map((id) => join(runsDir, id)).find((dir) => existsSync(join(dir, "work", "big.bin"))), {
      deadlineMs: 30_000,
      what: "the box to unpack the upload",
    });
    keg.kill("SIGINT");
    expect(await keg.exited).toBe(130);
    // Either the run never started, or it was stopped: its folder is gone or holds an exit record.
    await until(() => !existsSync(runDir) || existsSync(join(runDir, "exit.json")), { deadlineMs: 10_000, what: "the run to end" });
    await expectNextRunWorks(box);
  });

  test.concurrent("keg killed with SIGKILL mid-run: the agent stops the run within a few seconds", async () => {
    // A client gone for good looks like a blip until the grace is over (docs/usage.md "Connection blips").
    await using box = await runBox({}, { args: SHORT_GRACE });
    const pidFile = box.dir.join("pid");
    await Bun.write(
      box.dir.join("chatty.py"),
      [
        "import os, time",
        `open(${JSON.stringify(pidFile)}, 'w').write(str(os.getpid()))`,
        "for i in range(600):",
        "    print('tick', i)",
        "    time.sleep(0.1)",
      ].join("\n"),
    );
    const keg = box.spawn(["python", "run", "chatty.py"]);
    const stdout = new StreamText(keg.stdout);
    await stdout.waitFor(/tick 2\n/);
    const script = Number(readIfThere(pidFile));
    expect(isRunning(script)).toBe(true);

    keg.kill("SIGKILL");
    await keg.exited;
    await until(() => !isRunning(script), { deadlineMs: 10_000, what: "the agent to stop the run" });
    // The cycle ended: the run is recorded as killed and the box takes the next command.
    await expectNextRunWorks(box);
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toHaveLength(2);
  });
});

describe("a lost stream (docs/cli.md 'Exit codes')", () => {
  test.concurrent("the agent dies mid-run: keg exits 255 and says the exit code is unknown", async () => {
    // keg tries to reconnect for the grace plus a few seconds before it gives up.
    await using box = await runBox({}, { args: SHORT_GRACE });
    const pidFile = box.dir.join("pid");
    await Bun.write(
      box.dir.join("loop.py"),
      `import os, time\nopen(${JSON.stringify(pidFile)}, 'w').write(str(os.getpid()))\nfor i in range(600):\n    print('tick', i)\n    time.sleep(0.1)\n`,
    );
    const keg = box.spawn(["python", "run", "loop.py"]);
    const stdout = new StreamText(keg.stdout);
    const stderr = new StreamText(keg.stderr);
    await stdout.waitFor(/tick 1\n/);
    const script = Number(readIfThere(pidFile));
    try {
      await box.agent.kill();
      expect(await keg.exited).toBe(255);
      await stderr.done;
      expect(stderr.text).toStartWith("Error: Lost the connection to box 'lab' before the run ended");
      expect(stderr.text).toContain("its exit code is unknown");
    } finally {
      // With no agent left, the run's supervisor lives on: end its group here.
      try {
        process.kill(-script, "SIGKILL");
      } catch {}
    }
  });
});

describe("a quiet script", () => {
  test.concurrent("25 s without output under the default --keepalive 20 still ends with the script's exit code", async () => {
    await using box = await runBox({ "quiet.py": "import sys, time\ntime.sleep(25)\nsys.exit(5)\n" });
    const result = await box.run(["python", "run", "quiet.py"]);
    expect(result).toMatchObject({ code: 5, stdout: "", stderr: "" });
    expect(result.ms).toBeGreaterThanOrEqual(25_000);
  });
});

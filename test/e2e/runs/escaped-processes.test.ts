/**
 * A process a script starts in a session of its own (`setsid`) leaves the
 * run's process group, but not the run: it ends when the run ends, is
 * stopped or times out (docs/security.md "Processes").
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readIfThere, isRunning, runBox } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

// Forks a child that calls setsid() and sleeps; its pid goes to the file argv[1]; then the script waits argv[2] seconds.
const ESCAPE = [
  "import os, sys, time",
  "pid = os.fork()",
  "if pid == 0:",
  "    os.setsid()",
  "    for fd in (0, 1, 2, 3):",
  "        try: os.close(fd)",
  "        except OSError: pass",
  "    time.sleep(300)",
  "    os._exit(0)",
  "open(sys.argv[1], 'w').write(str(pid))",
  "print('ready', flush=True)",
  "time.sleep(float(sys.argv[2]))",
  "",
].join("\n");

describe("escaped processes", () => {
  for (const [name, args, code] of [
    ["the run ends by itself", ["0"], 0],
    ["--timeout stops the run", ["60", "--timeout", "1"], 124],
  ] as const) {
    test.concurrent(`${name}: the setsid child is gone when keg returns (exit ${code})`, async () => {
      await using box = await runBox({ "escape.py": ESCAPE });
      const pidFile = box.dir.join(`pid-${code}`);
      const result = await box.run(["python", "run", "escape.py", pidFile, ...args]);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code, stdout: "ready\n" });
      const pid = Number(readIfThere(pidFile));
      expect(pid).toBeGreaterThan(0);
      // keg returns after the end of the cycle, and the run's end comes after its descendants'.
      expect(isRunning(pid)).toBe(false);
    });
  }

  test.concurrent("--kill-all stops the run and its setsid child", async () => {
    await using box = await runBox({ "escape.py": ESCAPE });
    const pidFile = box.dir.join("pid-kill");
    const started = await box.run(["python", "run", "escape.py", pidFile, "60", "--detach"]);
    expect(started.code).toBe(0);
    const pid = Number(await until(() => readIfThere(pidFile), { what: "the escaped pid" }));
    expect(isRunning(pid)).toBe(true);
    expect((await box.run(["python", "--kill-all"])).code).toBe(0);
    await until(() => !isRunning(pid), { deadlineMs: 10_000, what: `escaped process ${pid} to end` });
  });
});

/**
 * The warm interpreter's life (docs/usage.md "Warm interpreter"), on the
 * compiled binaries: --preload modules are imported once (one that cannot
 * be is logged, runs import it themselves); a run whose start-up variables
 * differ starts cold; when the warm interpreter dies the next run falls back
 * to a cold start, logged, and a new one serves the runs after; `keg pip`
 * gives a new one that sees the new package; the spare supervisor connects
 * to a runner ahead of its run, and one that died or was stopped while it
 * waited is not used, and one stopped mid-run does not keep its run from
 * ending; a detached warm run outlives an agent restart with its exit code;
 * bad flags are exit 2.
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, readlinkSync, rmSync } from "node:fs";
import { agentCommand } from "../../helpers/agent.ts";
import { childrenOf, expectNextRunWorks, runBox, servingPid as servingPidIn, StreamText, type RunBox } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";
import { buildWheel } from "../../helpers/wheel.ts";

setDefaultTimeout(90_000);

const LOADED = "import sys\nprint(sorted(m for m in ('xml.dom.minidom', 'kegwarmpkg') if m in sys.modules))\n";

async function warmOf(box: RunBox): Promise<boolean[]> {
  const ps = await box.run(["python", "ps", "--json"]);
  return (JSON.parse(ps.stdout) as { warm: boolean }[]).map((run) => run.warm);
}

const servingPid = (box: RunBox) => servingPidIn(box.agent.output());

describe("--preload", () => {
  test("preloaded modules are there before the script imports them; one that cannot be imported is logged", async () => {
    await using box = await runBox({ "loaded.py": LOADED }, { args: ["--warm-python", "--preload", "xml.dom.minidom,kegwarmpkg"] });
    const warm = await box.run(["python", "run", "loaded.py"]);
    const cold = await box.run(["python", "run", "loaded.py", "--cold"]);
    expect({ code: warm.code, stdout: warm.stdout, stderr: warm.stderr }).toEqual({ code: 0, stdout: "['xml.dom.minidom']\n", stderr: "" });
    expect(cold.stdout).toBe("[]\n");
    expect(await warmOf(box)).toEqual([true, false]);
    expect(box.agent.output()).toMatch(/ event=warning message="--preload kegwarmpkg: cannot import it \(ModuleNotFoundError: No module named 'kegwarmpkg'\); runs import it themselves"/);

    // keg pip changes the venv: the next warm interpreter imports the package now there.
    const before = servingPid(box);
    const wheel = buildWheel(box.dir.path, "kegwarmpkg");
    const install = await box.run(["pip", "install", "--no-index", `./${wheel}`]);
    expect(install.code).toBe(0);
    await until(() => servingPid(box) !== before, { deadlineMs: 30_000, what: "a new warm interpreter after pip" });
    const after = await box.run(["python", "run", "loaded.py"]);
    expect(after.stdout).toBe("['kegwarmpkg', 'xml.dom.minidom']\n");
    expect((await warmOf(box)).at(-1)).toBe(true);
  });

  test("--preload needs --warm-python and module names; bad ones are exit 2 naming the fix", async () => {
    const cases: [string[], string][] = [
      [["--preload", "numpy"], "--preload needs --warm-python: the modules are imported by the warm interpreter.\n"],
      [["--warm-python", "--preload", "numpy,../etc"], "--preload takes module names separated by commas (like numpy,serial.tools), not '../etc'.\n"],
      [["--warm-python", "--preload", ""], "--preload takes module names separated by commas (like numpy,serial.tools), not ''.\n"],
    ];
    for (const [flags, says] of cases) {
      const result = await agentCommand(["serve", "--listen", "127.0.0.1:0", "--state-dir", "/nonexistent/keg-never", ...flags]);
      expect({ flags, code: result.code, stderr: result.stderr }).toEqual({ flags, code: 2, stderr: `Error: ${says}` });
    }
  });
});

describe("falling back to a cold start", () => {
  test("a run that sets PYTHONPATH starts cold, and says why in the log", async () => {
    await using box = await runBox({ "path.py": "import sys\nprint(sys.path[2])\n" }, { args: ["--warm-python"] });
    const run = await box.run(["python", "run", "path.py", "--env", "PYTHONPATH=/opt/mine"]);
    expect(run.stdout).toBe("/opt/mine\n");
    expect(await warmOf(box)).toEqual([false]);
    expect(box.agent.output()).toMatch(/ event=warm-fallback run=[0-9a-f-]{36} cause="the run sets PYTHONPATH otherwise than the warm interpreter"/);
  });

  test("the warm interpreter killed: the next run starts cold (logged), a new interpreter serves the ones after", async () => {
    await using box = await runBox({ "hi.py": "print('hi')\n" }, { args: ["--warm-python"] });
    expect((await box.run(["python", "run", "hi.py"])).stdout).toBe("hi\n");
    const first = servingPid(box);
    process.kill(first, "SIGKILL");
    const fallback = await box.run(["python", "run", "hi.py"]);
    expect({ code: fallback.code, stdout: fallback.stdout, stderr: fallback.stderr }).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    await until(() => servingPid(box) !== first, { what: "a new warm interpreter" });
    expect((await box.run(["python", "run", "hi.py"])).stdout).toBe("hi\n");
    expect(await warmOf(box)).toEqual([true, false, true]);
    expect(box.agent.output()).toMatch(/ event=warm-fallback run=[0-9a-f-]{36} cause=/);
    expect(box.agent.output()).toMatch(new RegExp(` event=warm-python-ended pid=${first} `));
  });
});

test("the spare supervisor waits connected to a runner; one that died meanwhile is not used, the run is still warm", async () => {
  await using box = await runBox({ "hi.py": "print('hi')\n" }, { args: ["--warm-python"] });
  expect((await box.run(["python", "run", "hi.py"])).stdout).toBe("hi\n");
  const forkserver = servingPid(box);
  // Two runners at rest: the one the spare supervisor took ahead of its run, and the next spare.
  const runners = await until(() => (childrenOf(forkserver).length === 2 ? childrenOf(forkserver) : undefined), { what: "a runner taken ahead and a spare" });
  for (const runner of runners) process.kill(runner, "SIGKILL");
  const run = await box.run(["python", "run", "hi.py"]);
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
  expect(await warmOf(box)).toEqual([true, true]);
  expect(box.agent.output()).not.toMatch(/ event=warm-fallback /);
});

/** When `pid` started, in clock ticks since boot (/proc/PID/stat field 22). */
const startTicks = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
};

test("a runner stopped while the spare supervisor waited on it (SIGSTOP, as any script of the run user may) is not given the run", async () => {
  await using box = await runBox({ "hi.py": "print('hi')\n" }, { args: ["--warm-python"] });
  expect((await box.run(["python", "run", "hi.py"])).stdout).toBe("hi\n");
  const forkserver = servingPid(box);
  const runners = await until(() => (childrenOf(forkserver).length === 2 ? childrenOf(forkserver) : undefined), { what: "a runner taken ahead and a spare" });
  // The one taken ahead is the older: the forkserver forked the spare once it was taken.
  const [takenAhead] = runners.sort((a, b) => startTicks(a) - startTicks(b));
  process.kill(takenAhead!, "SIGSTOP");
  try {
    const run = await box.run(["python", "run", "hi.py"]);
    expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    expect(await warmOf(box)).toEqual([true, true]);
    expect(box.agent.output()).not.toMatch(/ event=warm-fallback /);
  } finally {
    process.kill(takenAhead!, "SIGKILL");
  }
});

test("a runner stopped mid-run: the run still ends once its script has, with its output and the exit code lost (255)", async () => {
  await using box = await runBox({ "slow.py": "import time\nprint('started', flush=True)\ntime.sleep(1)\nprint('done', flush=True)\n" }, { args: ["--warm-python"] });
  const forkserver = await until(() => servingPid(box) || undefined, { what: "a warm interpreter" });
  const proc = box.spawn(["python", "run", "slow.py"]);
  const out = new StreamText(proc.stdout);
  await out.waitFor(/started\n/);
  // The serving runner: the one whose script's process works in a run folder.
  const serving = childrenOf(forkserver).find((runner) => childrenOf(runner).some((child) => readlinkSync(`/proc/${child}/cwd`).endsWith("/work")))!;
  process.kill(serving, "SIGSTOP");
  try {
    const code = await proc.exited;
    await out.done;
    expect({ code, stdout: out.text }).toEqual({ code: 255, stdout: "started\ndone\n" });
  } finally {
    process.kill(serving, "SIGKILL");
  }
  await expectNextRunWorks(box);
});

test("a detached warm run outlives an agent restart, and its exit code is recorded", async () => {
  await using box = await runBox({ "long.py": "import os, sys, time\nwhile not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\nprint('done')\nsys.exit(5)\n" }, { args: ["--warm-python"], keepState: true });
  const go = box.dir.join("go");
  const detached = await box.run(["python", "run", "long.py", go, "-d"]);
  expect(detached.code).toBe(0);
  const id = detached.stdout.trim();
  await box.agent.kill();
  const agent = await box.agent.restart();
  try {
    await Bun.write(go, "");
    await until(
      async () => {
        const ps = await box.user.run(["python", "ps", "--json", "--box", "lab"]);
        const run = (JSON.parse(ps.stdout || "[]") as { id: string; status: string; exit_code: number; warm: boolean }[]).find((r) => r.id === id);
        return run?.status === "exited" ? run : undefined;
      },
      { what: "the detached run's exit after the restart", deadlineMs: 30_000 },
    ).then((run) => expect({ exit_code: run.exit_code, warm: run.warm }).toEqual({ exit_code: 5, warm: true }));
    const reattached = await box.run(["python", "--reattach", id]);
    expect({ code: reattached.code, stdout: reattached.stdout }).toEqual({ code: 5, stdout: "done\n" });
  } finally {
    await agent[Symbol.asyncDispose]();
    rmSync(agent.stateDir, { recursive: true, force: true });
  }
});

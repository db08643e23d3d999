/**
 * The warm interpreter (docs/usage.md "Warm interpreter"), on the compiled
 * binaries with the venv's real Python: a script forked by it sees what a
 * fresh interpreter shows it (argv, __main__, __file__, cwd, os.environ and
 * the C environment, unbuffered streams, fds 0-3, its own group and session,
 * default signal handlers, sys.path), and ends the same way (exit codes,
 * tracebacks, atexit, threads, KeyboardInterrupt, signals). Each script runs
 * warm and with --cold; the two must agree, and `ps --json` must say which
 * path served each.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { unexpectedFallbacks } from "../../helpers/agent.ts";
import { runBox, type RunBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

/** What a script can see of how it was started. */
const INTROSPECT = `import json, os, signal, stat, subprocess, sys
def kind(fd):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    return "fifo" if stat.S_ISFIFO(mode) else "chr" if stat.S_ISCHR(mode) else "other"
listed = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
c_env = dict(line.split("=", 1) for line in subprocess.run(["/usr/bin/env", "-0"], capture_output=True).stdout.decode().split("\\0") if line)
handlers = {}
for number in signal.valid_signals():
    handler = signal.getsignal(number)
    handlers[str(number)] = handler if isinstance(handler, int) else getattr(handler, "__name__", repr(handler))
main = sys.modules["__main__"]
print(json.dumps({
    "argv": sys.argv,
    "orig_argv": sys.orig_argv,
    "executable": sys.executable,
    "name": __name__,
    "file": __file__,
    "main_is_this": main.__dict__ is globals(),
    "globals": sorted(globals().keys()),
    "loader": type(__loader__).__name__,
    "spec": __spec__, "package": __package__, "cached": __cached__,
    "cwd": os.getcwd(),
    "environ": dict(os.environ),
    "c_environ": c_env,
    "path": sys.path,
    "fds": [fd for fd in listed if fd <= 3],
    "fd_kinds": [kind(fd) for fd in range(4)],
    "unbuffered": [sys.stdout.write_through, sys.stderr.write_through, sys.stdout.line_buffering],
    "encoding": [sys.stdout.encoding, sys.stdout.errors, sys.stderr.errors],
    "leader": [os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid()],
    "handlers": handlers,
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "flags": str(sys.flags),
    "ids": [os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups())],
    "umask": os.umask(0o022),
}, sort_keys=True))
`;

const ENDINGS: Record<string, string> = {
  "exit3.py": "import sys\nprint('three')\nsys.exit(3)\n",
  "exitmsg.py": "import sys\nsys.exit('bye now')\n",
  "exitnone.py": "raise SystemExit\n",
  "exitbig.py": "import sys\nsys.exit(258)\n",
  "raises.py": "def deep():\n    raise ValueError('bad value')\nprint('before')\ndeep()\n",
  "syntax.py": "print('never')\nthis is not python\n",
  "osexit.py": "import os\nprint('out', flush=True)\nos._exit(9)\n",
  "interrupt.py": "raise KeyboardInterrupt\n",
  "sigterm.py": "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n",
  "atexit.py": "import atexit\natexit.register(lambda: print('at exit'))\nprint('main done')\n",
  "thread.py": "import threading, time\ndef later():\n    time.sleep(0.2)\n    print('thread done', flush=True)\nthreading.Thread(target=later).start()\nprint('main done', flush=True)\n",
  "stdin.py": "import sys\nprint(repr(sys.stdin.read()))\n",
  "rand.py": "import random, os\nprint(random.random(), os.urandom(8).hex())\n",
  "json.py": "import json\nprint(json.__file__ == __file__)\n",
};

/** The run folder's id differs from run to run: the rest must not. */
const sameRun = (text: string) => text.replace(/runs\/[0-9a-f-]{36}\//g, "runs/ID/").replace(/"KEG_PROCESS_ID": "[0-9a-f-]{36}"/g, '"KEG_PROCESS_ID": "ID"');

let box: RunBox;
beforeAll(async () => {
  box = await runBox({ "introspect.py": INTROSPECT, ...ENDINGS }, { args: ["--warm-python"] });
});
afterAll(async () => {
  await box?.[Symbol.asyncDispose]();
});

async function psWarm(): Promise<Map<string, boolean>> {
  const ps = await box.run(["python", "ps", "--json"]);
  return new Map((JSON.parse(ps.stdout) as { id: string; warm: boolean }[]).map((run) => [run.id, run.warm]));
}

describe("a warm run looks like a fresh interpreter", () => {
  test("introspection agrees with --cold, and ps --json tells which path served each", async () => {
    const warm = await box.run(["python", "run", "introspect.py", "one", "two words", "--env", "EXTRA=x"]);
    const cold = await box.run(["python", "run", "introspect.py", "one", "two words", "--env", "EXTRA=x", "--cold"]);
    expect(warm.stderr).toBe("");
    expect(cold.stderr).toBe("");
    expect(warm.code).toBe(0);
    const seenWarm = JSON.parse(sameRun(warm.stdout));
    const seenCold = JSON.parse(sameRun(cold.stdout));
    expect(seenWarm).toEqual(seenCold);
    // And what both show is what a script started by keg must see.
    expect(seenWarm.argv.slice(1)).toEqual(["one", "two words"]);
    expect(seenWarm.name).toBe("__main__");
    expect(seenWarm.main_is_this).toBe(true);
    expect(seenWarm.file).toBe(seenWarm.argv[0]);
    expect(seenWarm.cwd).toBe(seenWarm.file.replace(/\/introspect\.py$/, ""));
    expect(seenWarm.path[0]).toBe(seenWarm.cwd);
    expect(seenWarm.c_environ).toEqual(seenWarm.environ);
    expect(seenWarm.environ.EXTRA).toBe("x");
    expect(seenWarm.fds).toEqual([0, 1, 2, 3]);
    expect(seenWarm.fd_kinds).toEqual(["chr", "fifo", "fifo", "fifo"]);
    expect(seenWarm.unbuffered).toEqual([true, true, false]);
    expect(seenWarm.leader).toEqual([true, true]);
    expect(seenWarm.blocked).toEqual([]);
    const runs = await psWarm();
    const ids = [warm, cold].map((run) => JSON.parse(run.stdout).environ.KEG_PROCESS_ID as string);
    expect(ids.map((id) => runs.get(id))).toEqual([true, false]);
  });

  test("exit codes, messages, tracebacks, atexit and threads end a warm run as they end a cold one", async () => {
    for (const script of Object.keys(ENDINGS).filter((name) => name !== "rand.py")) {
      const warm = await box.run(["python", "run", script]);
      const cold = await box.run(["python", "run", script, "--cold"]);
      const seen = (run: typeof warm) => ({ script, code: run.code, stdout: sameRun(run.stdout), stderr: sameRun(run.stderr) });
      expect(seen(warm)).toEqual(seen(cold));
    }
    // A few by value, so agreement is not agreement on something wrong.
    const byValue = async (script: string) => {
      const { code, stdout, stderr } = await box.run(["python", "run", script]);
      return { code, stdout, stderr: sameRun(stderr) };
    };
    expect(await byValue("exit3.py")).toEqual({ code: 3, stdout: "three\n", stderr: "" });
    expect(await byValue("exitmsg.py")).toEqual({ code: 1, stdout: "", stderr: "bye now\n" });
    expect(await byValue("exitbig.py")).toMatchObject({ code: 2 });
    expect(await byValue("osexit.py")).toEqual({ code: 9, stdout: "out\n", stderr: "" });
    expect(await byValue("sigterm.py")).toMatchObject({ code: 143 });
    expect(await byValue("interrupt.py")).toMatchObject({ code: 130, stderr: expect.stringContaining("KeyboardInterrupt") });
    expect(await byValue("thread.py")).toEqual({ code: 0, stdout: "main done\nthread done\n", stderr: "" });
    expect(await byValue("atexit.py")).toEqual({ code: 0, stdout: "main done\nat exit\n", stderr: "" });
    const raised = await byValue("raises.py");
    expect(raised.code).toBe(1);
    expect(raised.stderr).toMatch(/^Traceback \(most recent call last\):\n  File "\/.+\/runs\/ID\/work\/raises\.py", line 4, in <module>\n/);
    expect(raised.stderr).not.toContain("forkserver");
  });

  test("each warm run has its own random state", async () => {
    const first = await box.run(["python", "run", "rand.py"]);
    const second = await box.run(["python", "run", "rand.py"]);
    expect(first.code).toBe(0);
    expect(first.stdout).not.toBe(second.stdout);
  });
});

test("none of these runs fell back to a cold start", () => {
  expect(unexpectedFallbacks(box.agent.output())).toEqual([]);
  expect(box.agent.output()).toMatch(/ event=warm-python-ready pid=\d+/);
});

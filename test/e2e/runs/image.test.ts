/**
 * docs/usage.md "Containers": `--image` runs go through the box's runtime.
 * Containers cannot start on the test machines, so the container path is
 * shown against a stand-in runtime (test/helpers/fake-runtime.ts) that checks
 * the exact arguments, and against a real podman only where `podman run`
 * works (skipped otherwise).
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fakeRuntime } from "../../helpers/fake-runtime.ts";
import { expectNextRunWorks, isRunning, realPython, runBox } from "../../helpers/run.ts";
import { running } from "../../helpers/locks.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(90_000);

const IMAGE = "registry.example/lab/python:3.12";

const JOB = [
  "import os, sys, time, keg",
  "keg.output({'in': 'container'})",
  "print('ready', os.environ['KEG_PROCESS_ID'], os.getcwd(), os.environ.get('FOO'), os.environ.get('KEG_AGENT_ONLY'), sys.argv[1:], flush=True)",
  "while not os.path.exists(os.environ['GO']):",
  "    time.sleep(0.02)",
  "sys.exit(7)",
  "",
].join("\n");

test("without podman or docker, --image is refused before the upload: the exact error, exit 1, no run folder", async () => {
  using empty = tempDir("keg-no-runtime-");
  await using box = await runBox({ "job.py": "print('x')\n" }, { args: ["--python", realPython()], env: { PATH: empty.path } });
  const refusal = "Error: Box 'lab' has neither podman nor docker. Install one on the box or run without --image.\n";
  for (const args of [["python", "run", "job.py", "--image", IMAGE], ["exec", "--image", IMAGE, "--", "true"], ["python", "run", "job.py", "--image", IMAGE, "--wait", "5"]]) {
    expect(await box.run(args)).toMatchObject({ code: 1, stdout: "", stderr: refusal });
  }
  expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
  await expectNextRunWorks(box);
});

for (const kind of ["podman", "docker"] as const) {
  describe(`a stand-in ${kind}`, () => {
    test("gets the exact arguments; output is live, the record channel works, the exit code passes through", async () => {
      using runtime = fakeRuntime(kind);
      using outside = tempDir("keg-image-go-");
      const go = outside.join("go");
      await using box = await runBox(
        { "job.py": JOB },
        { args: ["--container-device", "/dev/null"], env: { PATH: `${runtime.binDir}:${process.env.PATH}`, KEG_AGENT_ONLY: "agent" } },
      );
      await using run = running(box.spawn(["python", "run", "job.py", "--image", IMAGE, "--env", "FOO=bar", "--env", `GO=${go}`, "--", "one", "--two"]));
      // The whole line: a chunk may end inside it.
      const { match } = await run.out.waitFor(/^ready (\S+) (\S+) (.*)\n/m, 30_000);
      const [, id, cwd, rest] = match;
      const work = join(box.agent.stateDir, "runs", id!, "work");
      const lib = join(box.agent.stateDir, "lib");
      // The container's own variables only: not the agent's.
      expect({ cwd, rest }).toEqual({ cwd: work, rest: "bar None ['one', '--two']" });

      const names = ["FOO", "GO", "KEG_PROCESS_ID", "KEG_BOX", "KEG_OUTPUT_CHANNEL", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "KEG_RUNNABLE"];
      const channel = kind === "podman" ? ["--preserve-fds", "1"] : ["--volume", `${join(box.agent.stateDir, "runs", id!, "tmp", "keg-channel")}:/run/keg-channel`];
      const command = ["python3", join(work, "job.py"), "one", "--two"];
      const inside = kind === "podman" ? command : ["/bin/sh", "-c", 'exec 3>/run/keg-channel && exec "$@"', "sh", ...command];
      const expected = [
        "run", "--rm", "--init", "--name", `keg-${id}`,
        "--volume", `${work}:${work}`, "--volume", `${lib}:${lib}:ro`, "--workdir", work,
        ...names.flatMap((name) => ["--env", name]),
        "--device", "/dev/null",
        ...channel,
        IMAGE, ...inside,
      ];
      expect(runtime.calls().find((call) => call[0] === "run")).toEqual(expected);

      Bun.spawnSync(["touch", go]);
      const result = await run.result();
      expect(result.code).toBe(7);
      expect(result.stderr).toContain('[record json] {"in":"container"}');
      await expectNextRunWorks(box);
    });

    test("--timeout stops the container through the runtime by its name: exit 124, the container is gone", async () => {
      using runtime = fakeRuntime(kind);
      await using box = await runBox({ "sleep.py": "import os, time\nprint('ready', os.environ['KEG_PROCESS_ID'], flush=True)\ntime.sleep(120)\n" }, { env: { PATH: `${runtime.binDir}:${process.env.PATH}` } });
      const run = await box.run(["python", "run", "sleep.py", "--image", IMAGE, "--timeout", "2"]);
      expect(run.code).toBe(124);
      const id = /^ready (\S+)$/m.exec(run.stdout)![1]!;
      expect(runtime.calls()).toContainEqual(["kill", "--signal", "SIGTERM", `keg-${id}`]);
      expect(run.ms).toBeLessThan(15_000);
      const pid = runtime.pid(`keg-${id}`)!;
      await until(() => !isRunning(pid), { deadlineMs: 10_000, what: "the container's command to end" });
    });
  });
}

test("--kill reaches the script in its container; a runtime that cannot start the container passes its error and code on", async () => {
  using runtime = fakeRuntime("podman");
  const script = "import os, signal, sys, time\nsignal.signal(signal.SIGUSR1, lambda *_: (print('got USR1', flush=True), sys.exit(5)))\nprint('ready', flush=True)\ntime.sleep(120)\n";
  await using box = await runBox({ "usr1.py": script }, { env: { PATH: `${runtime.binDir}:${process.env.PATH}` } });
  const started = await box.run(["python", "run", "usr1.py", "--image", IMAGE, "--detach"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  await until(() => runtime.pid(`keg-${id}`), { deadlineMs: 30_000, what: "the container to start" });
  await using follow = running(box.spawn(["python", "--reattach", id]));
  await follow.out.waitFor(/ready/, 30_000);
  expect((await box.run(["python", "--kill", id, "--signal", "SIGUSR1"])).code).toBe(0);
  const result = await follow.result();
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 5, stdout: "ready\ngot USR1\n" });
  expect(runtime.calls()).toContainEqual(["kill", "--signal", "SIGUSR1", `keg-${id}`]);

  const failed = await box.run(["exec", "--image", "fail/image", "--", "true"]);
  expect(failed).toMatchObject({ code: 125, stderr: "Error: fail/image: image not known\n" });
});

/** A real podman that can start containers here, and a local image with python3 (KEG_TEST_IMAGE, default python:3-slim). */
const realImage = process.env.KEG_TEST_IMAGE ?? "docker.io/library/python:3-slim";
const podmanWorks = (() => {
  const podman = Bun.which("podman");
  if (!podman) return false;
  const probe = Bun.spawnSync([podman, "run", "--rm", "--init", "--pull=never", realImage, "python3", "-c", "pass"], { stdout: "ignore", stderr: "ignore", timeout: 60_000 });
  return probe.exitCode === 0;
})();

test.skipIf(!podmanWorks)("a real podman runs the script in a container from the image, with fd 3, exit code and timeout", async () => {
  await using box = await runBox({ "job.py": "import sys, keg\nkeg.output({'ok': 1})\nprint(open('/etc/os-release').read().split()[0])\nsys.exit(3)\n", "sleep.py": "import time\ntime.sleep(60)\n" });
  const run = await box.run(["python", "run", "job.py", "--image", realImage]);
  expect(run.code).toBe(3);
  expect(run.stderr).toContain('[record json] {"ok":1}');
  const timed = await box.run(["python", "run", "sleep.py", "--image", realImage, "--timeout", "2"]);
  expect(timed.code).toBe(124);
});

/**
 * docs/usage.md "Box Python": a python run that arrives while the venv is
 * being made waits for it (one line on stderr; not part of --timeout), and a
 * box whose venv cannot be made still runs scripts, with a warning.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { realPython, runBox } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(120_000);

/** An interpreter that runs the real one, but does `EXTRA` first when asked for `-m venv`. */
function wrappedPython(dir: ReturnType<typeof tempDir>, extra: string): string {
  const path = dir.join("python3");
  writeFileSync(path, `#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n${extra}\nfi\nexec ${realPython()} "$@"\n`, { mode: 0o755 });
  return path;
}

test("a python run arriving while the venv is made waits for it, says so once, and the wait is not part of --timeout", async () => {
  using tools = tempDir("keg-venv-slow-");
  const python = wrappedPython(tools, "  sleep 6");
  await using box = await runBox({ "where.py": "import sys\nprint(sys.prefix)\n" }, { args: ["--python", python] });
  const run = await box.run(["python", "run", "where.py", "--timeout", "2"]);
  expect(run.code).toBe(0);
  expect(run.stdout).toBe(`${join(box.agent.stateDir, "venv")}\n`);
  expect(run.stderr).toBe("keg: waiting for the box's Python venv, which keg-agent makes once after it starts…\n");
  expect(run.ms).toBeGreaterThan(2000);
  // Made: the next run does not wait.
  expect(await box.run(["python", "run", "where.py"])).toMatchObject({ code: 0, stderr: "" });
});

test("a box whose venv cannot be made runs scripts with the plain interpreter and a warning; pip is refused; the agent says which package", async () => {
  using tools = tempDir("keg-venv-none-");
  const python = wrappedPython(tools, '  echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n  exit 1');
  await using box = await runBox({ "hi.py": "import sys, keg\nprint('hi', sys.prefix == sys.base_prefix)\n" }, { args: ["--python", python] });
  const run = await box.run(["python", "run", "hi.py"]);
  expect(run.code).toBe(0);
  expect(run.stdout).toBe("hi True\n");
  expect(run.stderr).toContain(`keg: warning: this box has no venv (python3-venv is missing; see keg-agent's log): running with ${realPython()} itself`);
  // Said on every run, never a silent difference.
  expect((await box.run(["python", "run", "hi.py"])).stderr).toContain("keg: warning: this box has no venv");
  const log = await until(() => box.agent.output().split("\n").find((line) => line.includes("python3-venv")), { what: "the agent's line about the venv" });
  expect(log).toContain("event=warning message=\"cannot make the Python venv in");
  expect(log).toContain("Install the python3-venv package on this box");
  expect(box.agent.output().split("\n").filter((line) => line.includes("python3-venv"))).toHaveLength(1);
  expect(existsSync(join(box.agent.stateDir, "venv"))).toBe(false);
  const pip = await box.run(["pip", "list"]);
  expect(pip.code).toBe(1);
  expect(pip.stderr).toBe(
    "Error: This box has no Python venv for 'keg pip' (python3-venv is missing). Install python3-venv on the box and restart keg-agent.\n",
  );
  expect((await box.run(["exec", "--", "true"])).code).toBe(0);
});

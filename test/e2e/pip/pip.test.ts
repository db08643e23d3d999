/**
 * docs/cli.md "keg pip", docs/usage.md "Box Python": pip runs in the box's
 * venv (STATE/venv), installs local wheels and requirements files by
 * uploading them, passes pip's exit code on, takes the command lock as 'pip',
 * and what it installs stays across agent restarts.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lockBox, say } from "../../helpers/locks.ts";
import { readIfThere, runBox } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";
import { buildWheel } from "../../helpers/wheel.ts";

setDefaultTimeout(120_000);

test("keg pip --version answers from the venv inside the agent's state dir; --help is pip's own", async () => {
  await using box = await runBox();
  const version = await box.run(["pip", "--version"]);
  expect(version.code).toBe(0);
  expect(version.stdout).toStartWith("pip ");
  expect(version.stdout).toContain(` from ${join(box.agent.stateDir, "venv")}/`);
  const help = await box.run(["pip", "--help"]);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain("Usage:");
  expect(help.stdout).toContain("-m pip <command> [options]");
  expect(help.stdout).not.toContain("USAGE keg pip");
});

test("a local wheel installs; python runs import it, also after an agent restart; pip list shows it", async () => {
  await using box = await runBox({ "use.py": "import sys, kegdemo\nprint(kegdemo.VALUE, sys.prefix)\n" });
  mkdirSync(box.dir.join("dist"));
  const wheel = buildWheel(box.dir.join("dist"), "kegdemo");
  const install = await box.run(["pip", "install", "--no-index", `./dist/${wheel}`]);
  expect(install.stderr).not.toContain("ERROR");
  expect(install.code).toBe(0);
  expect(install.stdout).toContain("Successfully installed kegdemo-0.1");

  const venv = join(box.agent.stateDir, "venv");
  const used = await box.run(["python", "run", "use.py"]);
  expect(used).toMatchObject({ code: 0, stdout: `kegdemo works ${venv}\n` });

  const madeAt = statSync(join(venv, "pyvenv.cfg")).mtimeMs;
  const restarted = await box.agent.restart();
  try {
    const after = await box.run(["python", "run", "use.py"]);
    expect(after).toMatchObject({ code: 0, stdout: `kegdemo works ${venv}\n` });
    expect(statSync(join(venv, "pyvenv.cfg")).mtimeMs).toBe(madeAt); // reused, not made again
    const list = await box.run(["pip", "list", "--format", "freeze"]);
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")).toContain("kegdemo==0.1");
    // pip records where a wheel came from: the uploaded copy (docs/usage.md "Box Python").
    const freeze = await box.run(["pip", "freeze"]);
    expect(freeze.stdout).toMatch(/^kegdemo @ file:\/\/\/.*\/pip-files\/1\/kegdemo-0\.1-py3-none-any\.whl/m);
  } finally {
    await restarted[Symbol.asyncDispose]();
  }
});

test("-r requirements.txt installs the wheels it names by relative path, nested -r and -c included", async () => {
  await using box = await runBox({ "use.py": "import kega, kegb\nprint(kega.VALUE, kegb.VALUE)\n" });
  mkdirSync(box.dir.join("wheels"));
  mkdirSync(box.dir.join("reqs"));
  const a = buildWheel(box.dir.join("wheels"), "kega");
  const b = buildWheel(box.dir.join("wheels"), "kegb");
  writeFileSync(box.dir.join("requirements.txt"), `# the lab's packages\n./wheels/${a}  # first\n-r reqs/more.txt\n-c reqs/constraints.txt\n`);
  // Nested files are read relative to themselves; their requirements relative to the working directory.
  writeFileSync(box.dir.join("reqs", "more.txt"), `wheels/${b}\n`);
  writeFileSync(box.dir.join("reqs", "constraints.txt"), "kega==0.1\n");
  const install = await box.run(["pip", "install", "--no-index", "-r", "requirements.txt"]);
  expect(install.stderr).not.toContain("ERROR");
  expect(install.code).toBe(0);
  expect(install.stdout).toContain("Successfully installed");
  const used = await box.run(["python", "run", "use.py"]);
  expect(used).toMatchObject({ code: 0, stdout: "kega works kegb works\n" });
});

test("a failing pip passes its own exit code on; the post-run hook runs after pip with KEG_EXIT_CODE", async () => {
  using outside = tempDir("keg-pip-hook-");
  const marks = outside.join("marks");
  await using box = await runBox({}, { args: ["--post-run-hook", `echo "$KEG_USER $KEG_EXIT_CODE" >> ${marks}`] });
  const failed = await box.run(["pip", "install", "--no-index", "no-such-pkg"]);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toContain("ERROR: No matching distribution found for no-such-pkg");
  const usage = await box.run(["pip", "--no-such-option"]);
  expect(usage.code).toBe(2); // pip's own usage error
  expect(readFileSync(marks, "utf8")).toBe("alice 1\nalice 2\n");
});

test("keg pip with no words prints keg's usage for pip and exits 2; keg --help lists pip", async () => {
  await using box = await runBox();
  const bare = await box.user.run(["pip"]);
  expect(bare.code).toBe(2);
  expect(bare.stderr).toContain("USAGE keg pip");
  const boxOnly = await box.run(["pip"]);
  expect(boxOnly.code).toBe(2);
  expect(boxOnly.stderr).toContain("USAGE keg pip");
  const help = await box.user.run(["--help"]);
  expect(help.stdout).toMatch(/^\s+pip\s+Run pip in the box's Python venv/m);
});

test("pip holds the command lock as 'pip'; a busy box refuses pip with 75; --wait queues", async () => {
  await using box = await lockBox(["alice", "bob"]);
  const { alice, bob } = box.users;
  // A project whose setup.py waits for GO: pip holds the box while it prepares the metadata.
  const marker = box.dir.join("setup-started");
  const go = box.goFile("pip");
  mkdirSync(box.dir.join("slowpkg"));
  writeFileSync(
    box.dir.join("slowpkg", "setup.py"),
    [
      "import os, time",
      `open(${JSON.stringify(marker)}, "w").write("started")`,
      "deadline = time.time() + 60",
      `while not os.path.exists(${JSON.stringify(go)}) and time.time() < deadline:`,
      "    time.sleep(0.05)",
      "from setuptools import setup",
      "setup(name='slowpkg', version='0.1')",
      "",
    ].join("\n"),
  );
  await using held = alice.start(["pip", "install", "--no-index", "--no-build-isolation", "./slowpkg"]);
  await until(() => readIfThere(marker) !== undefined, { deadlineMs: 60_000, what: "setup.py to start on the box" });
  expect(await bob.run(["pip", "list"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice", "pip") });
  expect(await bob.run(["python", "run", "ok.py"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice", "pip") });
  await using queued = bob.start(["pip", "--version", "--wait", "60"]);
  await queued.err.waitFor(/waiting for lab: #1 in line/, 20_000);
  box.go(go);
  await held.result();
  const after = await queued.result();
  expect(after.code).toBe(0);
  expect(after.stdout).toStartWith("pip ");

  // And the other way round: a python run holds the box, pip is refused naming it.
  const go2 = box.goFile("python");
  await using hold = alice.start(["python", "run", "hold.py", go2]);
  await hold.out.waitFor(/ready/);
  expect(await bob.run(["pip", "list"])).toEqual({ code: 75, stdout: "", stderr: say.busy("alice", "python") });
  box.go(go2);
  expect((await hold.result()).code).toBe(0);
});

/**
 * On the compiled binaries with real Python: exit codes and the two
 * output streams, arguments and environment, live output, includes,
 * add-files and directory runnables. docs/cli.md, docs/usage.md "Runs".
 */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { runBox, StreamText } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

describe("exit codes and streams", () => {
  test.concurrent("the script's own code, 128+9 for a self-SIGKILL, stdout and stderr kept apart", async () => {
    await using box = await runBox({
      "ok.py": 'import sys\nprint("to-out")\nprint("to-err", file=sys.stderr)\n',
      "seven.py": 'import sys\nprint("before seven")\nsys.exit(7)\n',
      "killself.py": 'import os\nprint("about to die", flush=True)\nos.kill(os.getpid(), 9)\nprint("never")\n',
    });
    const ok = await box.run(["python", "run", "ok.py"]);
    expect(ok).toMatchObject({ code: 0, stdout: "to-out\n", stderr: "to-err\n" });
    const seven = await box.run(["python", "run", "seven.py"]);
    expect(seven).toMatchObject({ code: 7, stdout: "before seven\n" });
    const killed = await box.run(["python", "run", "killself.py"]);
    expect(killed).toMatchObject({ code: 137, stdout: "about to die\n" });
  });

  test.concurrent("exec passes a program's exit code through", async () => {
    await using box = await runBox();
    const result = await box.run(["exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(result).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
  });
});

describe("arguments and environment", () => {
  const script = [
    "import json, os, sys",
    "names = ['KEG_PROCESS_ID', 'KEG_RUNNABLE', 'KEG_BOX', 'KEG_OUTPUT_CHANNEL', 'PYTHONUNBUFFERED', 'FROM_ENV', 'SECOND', 'FROM_PASSENV']",
    "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': {n: os.environ.get(n) for n in names}}))",
  ].join("\n");

  test.concurrent("words after RUNNABLE and after -- reach sys.argv; --env, --passenv and KEG_* are set", async () => {
    await using box = await runBox({ "show.py": script });
    const result = await box.run(
      ["python", "run", "show.py", "one", "two words", "--env", "FROM_ENV=a=b", "--passenv", "FROM_PASSENV", "--env", "SECOND=2", "--", "--looks-like-flag", "--box", "x"],
      { env: { FROM_PASSENV: "passed through" } },
    );
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const seen = JSON.parse(result.stdout);
    expect(seen.argv).toEqual(["one", "two words", "--looks-like-flag", "--box", "x"]);
    expect(seen.env).toEqual({
      KEG_PROCESS_ID: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      KEG_RUNNABLE: join(box.agent.stateDir, "runs", seen.env.KEG_PROCESS_ID, "work", "show.py"),
      KEG_BOX: "lab",
      KEG_OUTPUT_CHANNEL: "3",
      PYTHONUNBUFFERED: "1",
      FROM_ENV: "a=b",
      SECOND: "2",
      FROM_PASSENV: "passed through",
    });
    // The run folder is the working directory (docs/usage.md "Runs").
    expect(seen.cwd).toBe(join(box.agent.stateDir, "runs", seen.env.KEG_PROCESS_ID, "work"));
  });

  test.concurrent("a bad --env name is a usage error and nothing runs", async () => {
    await using box = await runBox();
    const marker = box.dir.join("ran"); // the script leaves it if it runs
    await Bun.write(box.dir.join("mark.py"), `open(${JSON.stringify(marker)}, "w").close()\n`);
    const result = await box.run(["python", "run", "mark.py", "--env", "1BAD=x"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("1BAD");
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
  });
});

describe("live output", () => {
  test.concurrent("a printed line is on keg's stdout within 1 s, while the script still sleeps", async () => {
    await using box = await runBox({
      "slow.py": "import time\nprint('printed at', repr(time.time()))\ntime.sleep(3)\nprint('done')\n",
    });
    const keg = box.spawn(["python", "run", "slow.py"]);
    const stdout = new StreamText(keg.stdout);
    const { match, at } = await stdout.waitFor(/printed at (\d+\.\d+)\n/);
    const lagMs = at - Number(match[1]) * 1000;
    expect(keg.exitCode).toBeNull();
    expect(lagMs).toBeLessThan(1000);
    expect(await keg.exited).toBe(0);
    await stdout.done;
    expect(stdout.text).toEndWith("done\n");
  });
});

describe("uploads: includes, add-files, directories", () => {
  test.concurrent("a .keg.json include is importable and an --add-file is readable, side by side in the run folder", async () => {
    await using box = await runBox({
      // .keg.json is looked up from the script's folder upward.
      "proj/.keg.json": JSON.stringify({ includes: { helpers: "shared/helpers", "vendor/tools": "shared/tools" } }),
      "proj/shared/helpers/__init__.py": "def greet(name):\n    return 'hello ' + name\n",
      "proj/shared/tools/tool.txt": "a tool",
      "proj/jobs/job.py": [
        "import os",
        "from helpers import greet",
        "print(greet('box'))",
        "print(open('data.txt').read().strip())",
        "print(open(os.path.join('vendor', 'tools', 'tool.txt')).read())",
        "print(sorted(os.listdir('.')))",
      ].join("\n"),
      "inputs/data.txt": "the data\n",
    });
    const result = await box.run(["python", "run", "proj/jobs/job.py", "--add-file", "inputs/data.txt"]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toBe("hello box\nthe data\na tool\n['data.txt', 'helpers', 'job.py', 'vendor']\n");
  });

  test.concurrent("a directory with main.py runs as the run folder's content", async () => {
    await using box = await runBox({
      "app/main.py": "import os, sys\nfrom util import answer\nprint(answer(), os.path.basename(sys.argv[0]), sorted(os.listdir('.')))\n",
      "app/util.py": "def answer():\n    return 42\n",
      "app/sub/file.txt": "x",
    });
    const result = await box.run(["python", "run", "app"]);
    expect(result).toMatchObject({ code: 0, stderr: "", stdout: "42 main.py ['main.py', 'sub', 'util.py']\n" });
  });

  test.concurrent("an include DEST with '..' is refused before anything reaches the box", async () => {
    await using box = await runBox({
      ".keg.json": JSON.stringify({ includes: { "../escape": "lib" } }),
      "lib/mod.py": "x = 1\n",
    });
    const marker = box.dir.join("ran");
    await Bun.write(box.dir.join("job.py"), `open(${JSON.stringify(marker)}, "w").close()\n`);
    const result = await box.run(["python", "run", "job.py"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("'../escape'");
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
  });
});

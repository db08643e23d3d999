/** `--reattach` to a detached run that has printed nothing yet follows it to its end, however long it stays quiet (docs/cli.md "python --reattach"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

test.concurrent("a run silent for 12 s is followed to its exit code, not given up on after 10 s", async () => {
  await using box = await runBox({ "quiet.py": "import sys, time\ntime.sleep(12)\nprint('done')\nsys.exit(4)\n" });
  const started = await box.run(["python", "run", "quiet.py", "--detach"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  const followed = await box.run(["python", "--reattach", id]);
  expect({ code: followed.code, stdout: followed.stdout, stderr: followed.stderr }).toEqual({ code: 4, stdout: "done\n", stderr: "" });
});

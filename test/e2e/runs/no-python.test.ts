/** A box whose --python cannot run: python runs fail clearly (exit 1), exec still works, no lock is left behind. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

test("--python pointing nowhere: a clear error, and the box stays free", async () => {
  await using box = await runBox({ "hello.py": "print('hi')\n" }, { args: ["--python", "/nonexistent/python3"] });
  for (const args of [["python", "run", "hello.py"], ["python", "run", "hello.py", "--wait", "5"]]) {
    const run = await box.run(args);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("Error: No Python on this box: cannot run '/nonexistent/python3'");
    expect(run.stderr).toContain("Start keg-agent with --python PATH.");
  }
  const exec = await box.run(["exec", "--", "echo", "still free"]);
  expect(exec).toMatchObject({ code: 0, stdout: "still free\n" });
});

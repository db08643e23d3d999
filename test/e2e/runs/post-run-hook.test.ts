/** docs/usage.md "Post-run hook": the post-run hook runs after each run, and keg returns only after it, with the lock released. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { tempDir } from "../../helpers/tmp.ts";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

test("keg returns after the hook has run, and the box is free at once", async () => {
  using outside = tempDir("keg-hook-");
  const marks = outside.join("marks");
  const hook = `sleep 1; echo "$KEG_PROCESS_ID $KEG_USER $KEG_EXIT_CODE" >> ${marks}`;
  await using box = await runBox({ "job.py": "import sys\nprint('ran')\nsys.exit(3)\n" }, { args: ["--post-run-hook", hook] });
  const run = await box.run(["python", "run", "job.py"]);
  expect(run.code).toBe(3);
  // Written by the hook a second after the script ended, yet already there when keg returned.
  expect(existsSync(marks)).toBe(true);
  const [id, user, code] = readFileSync(marks, "utf8").trim().split(" ");
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  expect({ user, code }).toEqual({ user: "alice", code: "3" });
  const next = await box.run(["exec", "--", "true"]);
  expect(next.code).toBe(0);
});

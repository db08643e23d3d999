/**
 * The spool's segments rotate under a reader that follows the run: however
 * the writer's deletions and the reader's reads interleave, the run ends with
 * its own exit code and the box is free (docs/usage.md "Runs").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { countBytes, expectNextRunWorks, runBox } from "../../helpers/run.ts";

setDefaultTimeout(120_000);

// 300 MB without a newline, in 64 KiB writes, then exit 3.
const FLOOD = "import sys\nchunk = b'x' * 65536\nfor _ in range(4578):\n    sys.stdout.buffer.write(chunk)\nsys.exit(3)\n";

test("300 MB without a newline through a 1 MiB spool: the run's own exit code, no internal error, the box free", async () => {
  await using box = await runBox({ "flood.py": FLOOD }, { args: ["--log-limit", "1"] });
  for (let trial = 0; trial < 3; trial++) {
    const proc = box.spawn(["python", "run", "flood.py"]);
    const [bytes, stderr, code] = await Promise.all([countBytes(proc.stdout), new Response(proc.stderr as ReadableStream).text(), proc.exited]);
    expect({ trial, code, internal: stderr.includes("Internal error") }).toEqual({ trial, code: 3, internal: false });
    // Every byte arrived, or the client was told how many were dropped.
    const dropped = [...stderr.matchAll(/(\d+) bytes of output were dropped/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(bytes + dropped).toBeGreaterThan(0);
    await expectNextRunWorks(box);
  }
});

test("a script that deletes its own spool folder still ends with its exit code, and the box is free", async () => {
  await using box = await runBox({
    "rmspool.py": "import shutil, sys\nprint('before', flush=True)\nshutil.rmtree('../spool')\nprint('after', flush=True)\nsys.exit(5)\n",
  });
  const result = await box.run(["python", "run", "rmspool.py"]);
  // What it printed into the deleted folder reaches keg when the agent had that part of the
  // spool open already (docs/usage.md "Runs"); else it is lost, and said to be.
  expect(result.code).toBe(5);
  expect(result.stderr).not.toContain("Internal error");
  if (result.stdout !== "before\nafter\n") expect(result.stderr).toMatch(/\d+ bytes of output were dropped/);
  await expectNextRunWorks(box);
});

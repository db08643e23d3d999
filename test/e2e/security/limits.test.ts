/** Bounds on what a user sends, each refused with a line that names it (docs/security.md "Limits"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentCommand, startAgent } from "../../helpers/agent.ts";
import { userWithBox } from "../../helpers/keg.ts";
import { expectNextRunWorks, runBox } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

test.concurrent("a lock note over 1,000 characters: exit 2 naming the limit, nothing sent", async () => {
  await using box = await runBox();
  const result = await box.run(["boxes", "lock", "--note", "x".repeat(1001)]);
  expect(result).toMatchObject({ code: 2, stdout: "", stderr: "Error: --note is 1,001 characters, over the limit of 1,000. Shorten it.\n" });
  expect((await box.run(["boxes", "lock", "--note", "y".repeat(1000)])).code).toBe(0);
});

test.concurrent("an upload over --max-upload is refused before it is sent, naming the limit; no run folder, the box free", async () => {
  await using box = await runBox({ "job.py": "print('ran')\n" }, { args: ["--max-upload", "1"] });
  writeFileSync(box.dir.join("big.bin"), randomBytes(12 * 1024 * 1024));
  const result = await box.run(["python", "run", "job.py", "--add-file", "big.bin"]);
  expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 1, stdout: "" });
  expect(result.stderr).toMatch(/^Error: The upload is 12\.0 MiB, over box 'lab''s limit of 1 MiB\. Upload less, or raise the limit on the box with 'keg-agent serve --max-upload MIB'\.\n$/);
  expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([]);
  await expectNextRunWorks(box);
});

test.concurrent("a relative --state-dir works: runs find their scripts", async () => {
  using cwd = tempDir("keg-relative-");
  await using agent = await startAgent({ stateDir: "relstate", cwd: cwd.path });
  const keg = await userWithBox(agent, "alice");
  using scripts = tempDir("keg-relative-scripts-", { "hello.py": "print('hello')\n" });
  expect(await keg.run(["python", "run", "hello.py", "--box", "lab"], { cwd: scripts.path })).toEqual({ code: 0, stdout: "hello\n", stderr: "" });
  expect((await agentCommand(["users", "list", "--state-dir", "relstate"], {}, cwd.path)).stdout).toBe("alice\t1 token\n");
});

test.concurrent("--max-disk: finished runs' folders are pruned oldest first once they hold more than the cap", async () => {
  // 0.001 GiB ≈ 1.07 MB; each run leaves 600 kB in its folder.
  await using box = await runBox({ "fill.py": "open('data.bin', 'wb').write(b'x' * 600_000)\n" }, { args: ["--max-disk", "0.001"] });
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    expect((await box.run(["python", "run", "fill.py"])).code).toBe(0);
    const runs = JSON.parse((await box.run(["python", "ps", "--json"])).stdout) as { id: string }[];
    ids.push(runs.at(-1)!.id);
  }
  const kept = await until(async () => {
    const runs = (JSON.parse((await box.run(["python", "ps", "--json"])).stdout) as { id: string }[]).map((r) => r.id);
    return runs.length === 1 ? runs : undefined;
  }, { what: "the two oldest runs to be pruned" });
  expect(kept).toEqual([ids[2]!]);
  expect(readdirSync(join(box.agent.stateDir, "runs"))).toEqual([ids[2]!]);
});

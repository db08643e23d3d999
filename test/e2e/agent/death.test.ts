/**
 * docs/locks.md "The command lock" (agent restarts): an attached run that no
 * client can follow is stopped at once when its agent dies; a detached run
 * goes on, stays in ps after the restart, and can be reattached with its code.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { runBox } from "../../helpers/run.ts";
import { isAlive, until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

const sleeper = (name: string) => `import os, time, pathlib
pathlib.Path(${JSON.stringify(name)}).write_text(str(os.getpid()))
print("ready", flush=True)
time.sleep(60)
`;

test.concurrent("the agent SIGKILLed: its attached run is stopped within seconds, no restart needed", async () => {
  // keg tries to reconnect for the grace plus a few seconds before it gives up (docs/usage.md "Connection blips").
  await using box = await runBox({}, { args: ["--reconnect-grace", "1"] });
  const pidFile = box.dir.join("pid");
  await Bun.write(box.dir.join("sleep.py"), sleeper(pidFile));
  const keg = box.spawn(["python", "run", "sleep.py"]);
  const pid = await until(() => {
    try {
      return Number(readFileSync(pidFile, "utf8")) || undefined;
    } catch {
      return undefined;
    }
  }, { what: "the script's pid" });
  await box.agent.kill();
  expect(await keg.exited).toBe(255);
  await until(() => !isAlive(pid), { deadlineMs: 10_000, what: "the attached script to stop" });
});

test.concurrent("the agent SIGKILLed: a detached run goes on; after the restart it is in ps and --reattach gives its output and code", async () => {
  await using box = await runBox({
    "done.py": `import time, sys\nprint("started", flush=True)\ntime.sleep(2)\nprint("finished")\nsys.exit(4)\n`,
  });
  const started = await box.run(["python", "run", "done.py", "-d"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  await box.agent.kill();
  const restarted = await box.agent.restart(["--command-lock-ttl", "3600"]);
  try {
    const ps = await box.run(["python", "ps", "--json"]);
    expect(JSON.parse(ps.stdout)).toContainEqual(expect.objectContaining({ id, detached: true }));
    const followed = await box.run(["python", "--reattach", id]);
    expect(followed.stdout).toBe("started\nfinished\n");
    expect(followed.code).toBe(4);
    const after = JSON.parse((await box.run(["python", "ps", "--json"])).stdout);
    expect(after).toContainEqual(expect.objectContaining({ id, status: "exited", exit_code: 4, detached: true }));
  } finally {
    await restarted[Symbol.asyncDispose]();
  }
});

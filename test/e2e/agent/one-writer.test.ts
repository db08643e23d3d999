/**
 * One writer of a state dir at a time (docs/development.md "LMDB"): a users
 * command meets an agent that has claimed the state dir but not yet opened
 * its users socket (one starting) and waits to ask it, writing nothing; an
 * agent starting meets a users command writing the state and waits for it to
 * end before it opens the state. Each "other side" here is a stand-in
 * process whose command line says `serve` or `users`, so the window is held
 * open as long as the test needs; claims of dead or unrelated processes
 * block nobody.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentCommand, firstLine, startAgent } from "../../helpers/agent.ts";
import { agentBin, cleanEnv } from "../../helpers/bin.ts";
import { StreamText } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);

const whoami = (url: string, token: string) => fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });

/**
 * A new state dir whose claim (`serve.pid` for `serve`, `users.pid` for
 * `users`) names a live process whose command line holds that word,
 * standing in for a keg-agent doing it; `end()` kills the stand-in.
 */
function claimedStateDir(word: "serve" | "users") {
  const dir = tempDir("keg-one-writer-");
  const stateDir = dir.join("state");
  mkdirSync(stateDir, { mode: 0o700 });
  const proc = Bun.spawn(["python3", "-c", "import time; time.sleep(120)", word], { stdout: "ignore", stderr: "ignore" });
  writeFileSync(join(stateDir, `${word}.pid`), String(proc.pid));
  const end = async () => void (proc.kill("SIGKILL"), await proc.exited);
  return { stateDir, pid: proc.pid, end, [Symbol.asyncDispose]: async () => (await end(), dir[Symbol.dispose]()) };
}

function usersAdd(name: string, stateDir: string) {
  const proc = Bun.spawn([agentBin(), "users", "add", name, "--state-dir", stateDir], { env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
  return { proc, stdout: new Response(proc.stdout).text(), stderr: new StreamText(proc.stderr) };
}

test.concurrent("users add beside an agent that is starting waits for its socket and writes nothing itself; with that agent gone it writes the state", async () => {
  await using agent = claimedStateDir("serve");
  const { stateDir } = agent;
  const add = usersAdd("dora", stateDir);
  await until(() => add.stderr.text.includes("\n") || add.proc.exitCode !== null, { what: "users add to say it waits" });
  expect(add.stderr.text).toBe(`Waiting for the keg-agent starting on ${stateDir} (pid ${agent.pid}) to answer\n`);
  expect(add.proc.exitCode).toBeNull();
  // Nothing written while the agent holds the claim: no environment, no users claim.
  expect(existsSync(join(stateDir, "db"))).toBe(false);
  expect(existsSync(join(stateDir, "users.pid"))).toBe(false);
  await agent.end();
  expect(await add.proc.exited).toBe(0);
  const token = (await add.stdout).trim();
  expect(token).toMatch(/^keg_[A-Za-z0-9_-]{43}$/);
  expect(existsSync(join(stateDir, "users.pid"))).toBe(false);
  await using served = await startAgent({ stateDir });
  expect((await (await whoami(served.url, token)).json()).user).toBe("dora");
});

test.concurrent("users add beside an agent that never opens its socket: exit 1 after 10 s with a sentence, and nothing written", async () => {
  await using agent = claimedStateDir("serve");
  const { stateDir } = agent;
  const { code, stdout, stderr } = await agentCommand(["users", "add", "erin", "--state-dir", stateDir]);
  expect({ code, stdout }).toEqual({ code: 1, stdout: "" });
  expect(stderr).toBe(
    `Waiting for the keg-agent starting on ${stateDir} (pid ${agent.pid}) to answer\n` +
      `Error: The keg-agent serving ${stateDir} (pid ${agent.pid}) did not open its users socket within 10 s. Check it with 'systemctl status keg-agent' (or its log), then run the command again.\n`,
  );
  expect(existsSync(join(stateDir, "db"))).toBe(false);
});

test.concurrent("an agent starting while a users command writes the state waits for it, logs that, and opens the state only after it", async () => {
  await using users = claimedStateDir("users");
  const { stateDir } = users;
  const proc = Bun.spawn([agentBin(), "serve", "--listen", "127.0.0.1:0", "--state-dir", stateDir], { env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
  try {
    const log = new StreamText(proc.stderr);
    await until(() => log.text.includes(" event=waiting ") || proc.exitCode !== null, { what: "the agent to log that it waits" });
    expect(log.text).toMatch(new RegExp(`^time=\\S+ event=waiting for="keg-agent users \\(pid ${users.pid}\\) changing the state"$`, "m"));
    expect(existsSync(join(stateDir, "db"))).toBe(false);
    expect(proc.exitCode).toBeNull();
    await users.end();
    const line = await firstLine(proc.stdout.getReader(), Promise.resolve(log.text));
    const url = /listening on (\S+)$/.exec(line)![1]!;
    expect((await fetch(`${url}/health`)).status).toBe(200);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
});

test.concurrent("claims of dead processes, or of live ones that are not keg-agent, block neither serve nor users add", async () => {
  using dir = tempDir("keg-one-writer-");
  const stateDir = dir.join("state");
  const gone = Bun.spawn(["true"]);
  await gone.exited;
  mkdirSync(stateDir, { mode: 0o700 });
  // The test runner is alive but neither `serve` nor `users`.
  writeFileSync(join(stateDir, "serve.pid"), String(process.pid));
  writeFileSync(join(stateDir, "users.pid"), String(gone.pid));
  const started = Date.now();
  const added = await agentCommand(["users", "add", "fay", "--state-dir", stateDir]);
  expect({ code: added.code, stderr: added.stderr }).toEqual({ code: 0, stderr: "" });
  writeFileSync(join(stateDir, "users.pid"), String(process.pid));
  await using agent = await startAgent({ stateDir });
  expect(Date.now() - started).toBeLessThan(5000);
  expect(agent.output()).not.toContain(" event=waiting ");
  expect((await (await whoami(agent.url, added.stdout.trim())).json()).user).toBe("fay");
});

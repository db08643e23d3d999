/** One serving agent per state dir; a claim left by a killed agent is taken over. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentCommand, startAgent } from "../../helpers/agent.ts";

setDefaultTimeout(60_000);

test("a second serve on the same state dir is refused, naming the first; after a SIGKILL the dir is served again", async () => {
  await using first = await startAgent();
  const second = await agentCommand(["serve", "--listen", "127.0.0.1:0", "--state-dir", first.stateDir]);
  expect(second.code).toBe(1);
  expect(second.stderr).toBe(`Error: Another keg-agent (pid ${first.pid}) serves ${first.stateDir}. Stop it first, or give this one its own --state-dir.\n`);
  expect(second.stdout).toBe("");
  // users add may run beside serve.
  expect((await agentCommand(["users", "add", "carol", "--state-dir", first.stateDir])).code).toBe(0);
  await first.kill();
  await using again = await first.restart();
  const health = await fetch(`${again.url}/health`);
  expect(health.status).toBe(200);
});

test("a claim naming a live process that is not a serving agent (a pid reused after a reboot) does not block the start", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "keg-claim-"));
  writeFileSync(join(stateDir, "serve.pid"), String(process.pid)); // this test runner: alive, not `serve`
  try {
    await using agent = await startAgent({ stateDir });
    expect((await fetch(`${agent.url}/health`)).status).toBe(200);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
});

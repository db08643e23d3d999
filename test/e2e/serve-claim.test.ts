/** One serving agent per state dir; a claim left by a killed agent is taken over. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { agentCommand, startAgent } from "../helpers/agent.ts";

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

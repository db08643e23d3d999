/** `boxes list` with a box that answers but refuses its token: not offline, and the user is told what to do. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { agentCommand, startAgent } from "../../helpers/agent.ts";
import { userWithBox } from "../../helpers/keg.ts";

setDefaultTimeout(60_000);

test("a revoked token: the box shows current, with a warning naming the fix", async () => {
  await using agent = await startAgent();
  const alice = await userWithBox(agent, "alice");
  const removed = await agentCommand(["users", "remove", "alice", "--state-dir", agent.stateDir]);
  expect(removed.code).toBe(0);
  const listed = await alice.run(["boxes", "list", "--json"]);
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toMatchObject([{ name: "lab", status: "current", locked_by: null, busy: null }]);
  expect(listed.stderr).toContain("Warning: Box 'lab' refused its token. Make a new one on the box with 'keg-agent users add NAME'");
});

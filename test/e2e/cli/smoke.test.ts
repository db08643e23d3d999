import { expect, test } from "bun:test";
import { startAgent } from "../../helpers/agent.ts";
import { userWithBox } from "../../helpers/keg.ts";

test("an agent serves and a box can be added and listed", async () => {
  await using agent = await startAgent();
  const alice = await userWithBox(agent, "alice");
  const listed = await alice.run(["boxes", "list", "--json"]);
  expect(listed.code).toBe(0);
  expect(JSON.parse(listed.stdout)).toMatchObject([{ name: "lab", user: "alice", status: "current" }]);
});

/** The operator's log on the agent's stderr: a line per run, lock event, refused token and update; never a token or script output (docs/usage.md "Operating a box"). */
import { expect, setDefaultTimeout, test } from "bun:test";
import { startAgent } from "../../helpers/agent.ts";
import { addBox, user } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(60_000);
const BAD_TOKEN = "not-a-real-token-0123456789abcdef";

async function eventsOnABox(format: "text" | "json") {
  const agent = await startAgent({ args: ["--log-format", format] });
  using alice = user();
  using bob = user();
  const aliceToken = await agent.addUser("alice");
  const bobToken = await agent.addUser("bob");
  await addBox(alice, agent, "lab", aliceToken);
  await addBox(bob, agent, "lab", bobToken);
  using dir = tempDir("keg-logs-", { "secret_out.py": 'print("SCRIPT-OUTPUT-LINE")\nraise SystemExit(3)\n' });
  expect((await alice.run(["python", "run", "secret_out.py", "--box", "lab"], { cwd: dir.path })).code).toBe(3);
  expect((await bob.run(["boxes", "lock", "--box", "lab", "--note", "bench work"])).code).toBe(0);
  expect((await alice.run(["boxes", "unlock", "--box", "lab", "--force"])).code).toBe(0);
  const refused = await fetch(`${agent.url}/v1/status`, { headers: { authorization: `Bearer ${BAD_TOKEN}` } });
  expect(refused.status).toBe(401);
  await until(() => agent.output().includes("token-refused"), { what: "the refused token's line" });
  const log = agent.output();
  await agent[Symbol.asyncDispose]();
  // Nothing secret and nothing the script printed.
  for (const secret of [BAD_TOKEN, aliceToken, bobToken, "SCRIPT-OUTPUT-LINE"]) expect(log).not.toContain(secret);
  return log.split("\n").filter((line) => line && !line.startsWith("keg-agent "));
}

test("text: a run, a lock, a forced unlock and a refused token each leave their key=value line", async () => {
  const lines = await eventsOnABox("text");
  const line = (pattern: RegExp) => expect(lines.find((l) => pattern.test(l))).toBeDefined();
  const TIME = String.raw`time=\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z`;
  line(new RegExp(`^${TIME} event=agent-started version=\\S+ pid=\\d+ url=http://127\\.0\\.0\\.1:\\d+ name=testbox$`));
  line(new RegExp(`^${TIME} event=run-started id=[0-9a-f-]{36} user=alice command=python runnable=secret_out\\.py detached=false$`));
  line(new RegExp(`^${TIME} event=run-ended id=[0-9a-f-]{36} user=alice runnable=secret_out\\.py status=exited exit_code=3 duration_s=[\\d.]+$`));
  line(new RegExp(`^${TIME} event=lock kind=command-taken user=alice command=python generation=\\d+$`));
  line(new RegExp(`^${TIME} event=lock kind=locked user=bob note="bench work"$`));
  line(new RegExp(`^${TIME} event=lock kind=forced-unlock user=alice holder=bob note="bench work" forced=true$`));
  line(new RegExp(`^${TIME} event=token-refused peer=127\\.0\\.0\\.1 request="GET /v1/status" reason="unknown token"$`));
});

test("--log-format json: the same events, one JSON object a line", async () => {
  const lines = await eventsOnABox("json");
  const events = lines.map((l) => JSON.parse(l));
  expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["agent-started", "run-started", "run-ended", "lock", "token-refused"]));
  expect(events.find((e) => e.event === "run-ended")).toMatchObject({ user: "alice", runnable: "secret_out.py", exit_code: 3, status: "exited" });
  expect(events.find((e) => e.kind === "forced-unlock")).toMatchObject({ event: "lock", user: "alice", holder: "bob", forced: true });
  expect(events.find((e) => e.event === "token-refused")).toMatchObject({ peer: "127.0.0.1", reason: "unknown token" });
});

/**
 * GET /v1/runs/:id/tunnel in process (docs/api.md "Tunnels"): its checks,
 * answered as JSON without an Upgrade header. The WebSocket itself is tested
 * on the compiled binaries (test/e2e/ports/).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import type { LiveRun } from "../../src/agent/runs.ts";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeEach(async () => {
  agent = await inProcessAgent();
});
afterEach(() => agent[Symbol.asyncDispose]());

const path = (id: string, query = "protocol=tcp&port=8080") => `/v1/runs/${id}/tunnel?${query}`;

/** A run of `user` the manager counts as live (no supervisor behind it). */
function liveRun(user: string): string {
  const record = { ...agent.addFinishedRun(user, 1), status: "running" as const, exit_code: null };
  agent.state.runs.putSync(record.id, record);
  const live: LiveRun = { id: record.id, dir: "/nonexistent", record, clientGone: false, waiters: new Set(), exited: new Promise(() => {}) };
  agent.runs.live.set(record.id, live);
  return record.id;
}

test("the owner of a live run: the checks pass", async () => {
  const id = liveRun("alice");
  expect(await answerOf(await agent.call("GET", path(id, "protocol=udp&port=53")))).toEqual({
    status: 200,
    type: expect.stringContaining("application/json") as unknown as string,
    body: { run: id, protocol: "udp", port: 53 },
  });
});

test("another user's run: 403 forbidden naming the owner", async () => {
  const id = liveRun("bob");
  expect(await answerOf(await agent.call("GET", path(id)))).toEqual(errorShape(403, "forbidden", `Run ${id} belongs to bob: only its owner can forward its ports.`));
});

test("no live run: 404, whether unknown or ended", async () => {
  const unknown = crypto.randomUUID();
  expect(await answerOf(await agent.call("GET", path(unknown)))).toEqual(errorShape(404, "not_found", `No run '${unknown}' on this box. See 'keg python ps'.`));
  const ended = agent.addFinishedRun("alice", 1).id;
  expect(await answerOf(await agent.call("GET", path(ended)))).toEqual(
    errorShape(404, "not_found", `Run ${ended} is not running: ports are forwarded only while the run lives.`),
  );
});

test("a bad query is a 400 naming the field, before any run is looked at", async () => {
  const id = crypto.randomUUID();
  const cases: [string, string][] = [
    ["protocol=sctp&port=80", "Bad query: protocol must be tcp or udp."],
    ["protocol=tcp&port=0", "Bad query: port must be a port from 1 to 65535."],
    ["protocol=tcp&port=65536", "Bad query: port must be a port from 1 to 65535."],
    ["protocol=tcp&port=http", "Bad query: port must be a port from 1 to 65535."],
    ["protocol=tcp", "Bad query: port is missing; it must be a port from 1 to 65535."],
    ["protocol=tcp&port=80&host=10.0.0.1", "Bad query: 'host' is not a field it takes."],
  ];
  for (const [query, message] of cases) expect(await answerOf(await agent.call("GET", path(id, query)))).toEqual(errorShape(400, "bad_request", message));
  expect(await answerOf(await agent.call("GET", path("not-a-uuid")))).toEqual(errorShape(400, "bad_request", /^Bad path: id must be/));
});

test("a tunnel needs a token like every /v1 path", async () => {
  expect((await agent.call("GET", path(liveRun("alice")), { token: "wrong" })).status).toBe(401);
});

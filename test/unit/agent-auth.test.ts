/**
 * The token check of every route, in process (docs/api.md): the routes are
 * listed from the app itself, so a new route is covered the day it is added.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeAll(async () => {
  agent = await inProcessAgent();
});
afterAll(() => agent[Symbol.asyncDispose]());

/** Every method and path the app routes, `:id` filled in, /health and middleware left out. */
function routes(): { method: string; path: string }[] {
  const seen = new Set<string>();
  for (const { method, path } of agent.app.routes) if (method !== "ALL" && path !== "/health") seen.add(`${method} ${path}`);
  return [...seen].map((route) => {
    const [method, path] = route.split(" ") as [string, string];
    return { method, path: path.replace(":id", crypto.randomUUID()) };
  });
}

const refused = errorShape(401, "unauthorized", /keg-agent users add/);

async function expectRefusedEverywhere(authorization: string | undefined) {
  const all = [...routes(), { method: "GET", path: "/v1/xyz" }, { method: "POST", path: "/v1/xyz" }];
  for (const { method, path } of all) {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    const response = await agent.app.request(path, { method, headers, body: method === "POST" ? "{}" : undefined });
    expect({ request: `${method} ${path}`, ...(await answerOf(response)) }).toEqual({ request: `${method} ${path}`, ...refused });
  }
}

describe("auth table", () => {
  test("the app has the routes of docs/api.md", () => {
    const listed = routes().map(({ method, path }) => `${method} ${path.replace(/[0-9a-f-]{36}/, ":id")}`);
    expect(listed.sort()).toEqual(
      [
        "GET /v1/whoami",
        "GET /v1/status",
        "POST /v1/lock",
        "POST /v1/unlock",
        "GET /v1/history",
        "POST /v1/runs",
        "GET /v1/runs",
        "GET /v1/runs/:id/output",
        "GET /v1/runs/:id/tunnel",
        "POST /v1/runs/:id/heartbeat",
        "POST /v1/runs/:id/resume",
        "POST /v1/runs/:id/stop",
        "POST /v1/runs/:id/kill",
        "POST /v1/runs/kill-all",
        "GET /v1/update",
        "POST /v1/update",
      ].sort(),
    );
  });

  test("/health answers 200 without a token", async () => {
    const response = await agent.app.request("/health");
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true, name: "lab" });
  });

  test("every route without a token: 401 with the error shape", () => expectRefusedEverywhere(undefined));

  test("every route with a wrong or malformed token: 401 with the error shape", async () => {
    const token = agent.token("carol");
    for (const authorization of ["Bearer keg_wrong", `Bearer ${token}x`, "Bearer", `Basic ${token}`, ""]) await expectRefusedEverywhere(authorization);
  });

  test("every route with a removed user's token: 401 with the error shape; the token worked before", async () => {
    const token = agent.token("bob");
    expect((await agent.call("GET", "/v1/whoami", { token })).status).toBe(200);
    agent.removeUser("bob");
    await expectRefusedEverywhere(`Bearer ${token}`);
  });

  test("a refused request changes nothing: the lock state is as it was", async () => {
    const before = agent.lockSnapshot();
    await agent.app.request("/v1/lock", { method: "POST", headers: { "content-type": "application/json" }, body: '{"note":"sneaky"}' });
    expect(agent.lockSnapshot()).toEqual(before);
  });
});

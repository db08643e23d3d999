/** The agent's token check on every path but /health, and tokens (docs/api.md, docs/cli.md "keg-agent users add"). */
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../../package.json" with { type: "json" };
import { agentCommand, startAgent, type Agent } from "../../helpers/agent.ts";
import { errorLine, user } from "../../helpers/cli.ts";
import { tempDir } from "../../helpers/tmp.ts";

const VERSION = pkg.version;

setDefaultTimeout(60_000);

// the token check (docs/cli.md "keg-agent serve", docs/api.md)
describe("agent authentication", () => {
  const call = (agent: Agent, method: string, path: string, authorization?: string) =>
    fetch(`${agent.url}${path}`, {
      method,
      headers: authorization === undefined ? {} : { authorization },
      body: method === "POST" ? "{}" : undefined,
    });

  /** Every /v1 route so far, an unknown one included, for GET and POST, must answer 401 JSON. */
  async function expectRefusedEverywhere(agent: Agent, authorization: string | undefined) {
    for (const path of ["/v1/whoami", "/v1/status", "/v1/xyz"]) {
      for (const method of ["GET", "POST"]) {
        const response = await call(agent, method, path, authorization);
        const body = await response.json().catch(() => "not JSON");
        expect({ request: `${method} ${path}`, status: response.status, type: response.headers.get("content-type"), body }).toEqual({
          request: `${method} ${path}`,
          status: 401,
          type: expect.stringContaining("application/json"),
          body: { error: { code: "unauthorized", message: expect.stringContaining("keg-agent users add") } },
        });
      }
    }
  }

  test.concurrent("/health answers 200 with version and name without a token", async () => {
    await using agent = await startAgent({ name: "bench-7" });
    const response = await fetch(`${agent.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ version: VERSION, name: "bench-7" });
  });

  test.concurrent("no token, a malformed header and a wrong token get 401 on every /v1 route, unknown ones included", async () => {
    await using agent = await startAgent();
    const token = await agent.addUser("alice");
    await expectRefusedEverywhere(agent, undefined);
    await expectRefusedEverywhere(agent, "Bearer");
    await expectRefusedEverywhere(agent, "Bearer keg_wrong");
    await expectRefusedEverywhere(agent, `Bearer ${token}x`);
    await expectRefusedEverywhere(agent, `Basic ${token}`);
    // The same routes do answer with the token, so the 401s above are the token check.
    const ok = await call(agent, "GET", "/v1/status", `Bearer ${token}`);
    expect(ok.status).toBe(200);
  });

  test.concurrent("a removed user's tokens get 401 while serve keeps running; other users are untouched", async () => {
    await using agent = await startAgent();
    const bob = await agent.addUser("bob");
    const alice = await agent.addUser("alice");
    const before = await call(agent, "GET", "/v1/whoami", `Bearer ${bob}`);
    expect(await before.json()).toEqual({ user: "bob", version: VERSION, name: "testbox", max_upload_bytes: 256 * 1024 * 1024 });

    const removed = await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);
    expect(removed).toEqual({ code: 0, stdout: "", stderr: "Revoked 1 token\n" });
    expect(agent.proc.exitCode).toBeNull();

    await expectRefusedEverywhere(agent, `Bearer ${bob}`);
    const still = await call(agent, "GET", "/v1/whoami", `Bearer ${alice}`);
    expect(await still.json()).toEqual({ user: "alice", version: VERSION, name: "testbox", max_upload_bytes: 256 * 1024 * 1024 });
    const listed = await agentCommand(["users", "list", "--state-dir", agent.stateDir]);
    expect(listed).toEqual({ code: 0, stdout: "alice\t1 token\n", stderr: "" });

    const again = await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);
    expect(again.code).toBe(1);
    expect(errorLine(again.stderr)).toContain("bob");
  });

  test.concurrent("a user with two tokens can use either; users list shows the user once with both", async () => {
    await using agent = await startAgent();
    const first = await agent.addUser("alice");
    const second = await agent.addUser("alice");
    expect(first).not.toBe(second);
    for (const token of [first, second]) {
      // docs/cli.md "keg-agent serve", docs/api.md: ≥128 random bits, printed alone on stdout.
      expect(token).toMatch(/^\S{22,}$/);
      const response = await call(agent, "GET", "/v1/whoami", `Bearer ${token}`);
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 200,
        body: { user: "alice", version: VERSION, name: "testbox", max_upload_bytes: 256 * 1024 * 1024 },
      });
    }
    const listed = await agentCommand(["users", "list", "--state-dir", agent.stateDir]);
    expect(listed).toEqual({ code: 0, stdout: "alice\t2 tokens\n", stderr: "" });
  });

  test.concurrent("no token appears in clear anywhere in the state dir", async () => {
    await using agent = await startAgent();
    const tokens = [await agent.addUser("alice"), await agent.addUser("alice"), await agent.addUser("bob")];
    // Use them once so anything the agent might log or cache about a request is on disk too.
    for (const token of tokens) expect((await call(agent, "GET", "/v1/whoami", `Bearer ${token}`)).status).toBe(200);
    await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);

    const files = readdirSync(agent.stateDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const entry of files) {
      const bytes = readFileSync(join(entry.parentPath, entry.name));
      for (const token of tokens) {
        // The whole token, and its random tail alone (in case a prefix is stored apart).
        expect({ file: entry.name, whole: bytes.includes(token), tail: bytes.includes(token.slice(-20)) }).toEqual({
          file: entry.name,
          whole: false,
          tail: false,
        });
      }
    }
  });

  test.concurrent("users add refuses a bad name with exit 2", async () => {
    using state = tempDir("keg-state-");
    const result = await agentCommand(["users", "add", "../x", "--state-dir", state.path]);
    expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
    expect(errorLine(result.stderr)).toContain("../x");
  });
});

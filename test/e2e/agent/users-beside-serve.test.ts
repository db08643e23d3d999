/**
 * `keg-agent users` beside a serving agent (docs/cli.md "keg-agent users"):
 * they ask the agent over its users socket, so the agent is the only
 * process that writes its state (docs/development.md "LMDB"); without a
 * serving agent they write the state themselves.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { agentCommand, startAgent } from "../../helpers/agent.ts";
import { tempDir } from "../../helpers/tmp.ts";

setDefaultTimeout(60_000);

const whoami = (url: string, token: string) => fetch(`${url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
const socketOf = (stateDir: string) => join(stateDir, "users.sock");

test.concurrent("beside serve, users add, list and remove go through the agent: it logs them (never the token), and a token works or is refused at once", async () => {
  await using agent = await startAgent();
  expect(statSync(socketOf(agent.stateDir)).mode & 0o777).toBe(0o600);
  const added = await agentCommand(["users", "add", "bob", "--state-dir", agent.stateDir]);
  expect(added.code).toBe(0);
  const token = added.stdout.trim();
  expect(token).toMatch(/^keg_[A-Za-z0-9_-]{43}$/);
  expect((await (await whoami(agent.url, token)).json()).user).toBe("bob");
  const listed = await agentCommand(["users", "list", "--state-dir", agent.stateDir]);
  expect(listed).toEqual({ code: 0, stdout: "bob\t1 token\n", stderr: "" });
  const removed = await agentCommand(["users", "remove", "bob", "--state-dir", agent.stateDir]);
  expect(removed.code).toBe(0);
  expect(removed.stderr).toContain("Revoked 1 token");
  expect((await whoami(agent.url, token)).status).toBe(401);
  const log = agent.output();
  expect(log).toMatch(/ event=user-added user=bob\n/);
  expect(log).toMatch(/ event=user-removed user=bob\n/);
  expect(log).not.toContain(token);
  // Refusals come back as the command's own: exit 1 and 2, one line each.
  const unknown = await agentCommand(["users", "remove", "nobody", "--state-dir", agent.stateDir]);
  expect({ code: unknown.code, stderr: unknown.stderr.trim() }).toEqual({ code: 1, stderr: "Error: No user 'nobody'. See 'keg-agent users list'." });
  const bad = await agentCommand(["users", "add", "../x", "--state-dir", agent.stateDir]);
  expect(bad.code).toBe(2);
});

test.concurrent("the socket of an agent killed with SIGKILL: users add writes the state itself, at once, and the next agent serves the token", async () => {
  using state = tempDir("keg-users-");
  const stateDir = join(state.path, "state");
  const first = await startAgent({ stateDir });
  await first.kill();
  const started = Date.now();
  const added = await agentCommand(["users", "add", "carol", "--state-dir", stateDir]);
  expect(added.code).toBe(0);
  expect(Date.now() - started).toBeLessThan(5000);
  await using next = await startAgent({ stateDir });
  expect((await (await whoami(next.url, added.stdout.trim())).json()).user).toBe("carol");
});

test.concurrent("garbage on the users socket: a one-line refusal, nothing changed, the agent healthy", async () => {
  await using agent = await startAgent();
  for (const line of ["not json", JSON.stringify({ op: "drop" }), JSON.stringify({ op: "add", name: 7 }), JSON.stringify({ op: "add", name: "x".repeat(300) }), "x".repeat(10_000)]) {
    const answer = await new Promise<string>((resolve) => {
      let text = "";
      void Bun.connect({
        unix: socketOf(agent.stateDir),
        socket: {
          open: (socket) => void socket.write(`${line}\n`),
          data: (_socket, chunk) => void (text += new TextDecoder().decode(chunk)),
          close: () => resolve(text),
          error: () => resolve(text),
        },
      });
    });
    // Refused with a line that names the way to do it, or (a line too long) the connection closed.
    if (line.length < 4096) expect(JSON.parse(answer)).toEqual({ error: { code: expect.any(String), message: expect.stringMatching(/^[^\n]+$/) } });
    else expect(answer).toBe("");
  }
  expect((await agentCommand(["users", "list", "--state-dir", agent.stateDir])).stdout).toBe("");
  expect((await fetch(`${agent.url}/health`)).status).toBe(200);
});

/**
 * Nobody can forge or keep alive a command lock through a heartbeat
 * (docs/locks.md "Fencing"): a heartbeat needs the positive integer
 * generation granted to that very run, and only a grant writes a lock.
 * On main before this fix, `POST /v1/runs/<any run>/heartbeat` with `{}`
 * answered `{"current":true}` and wrote a holderless lock that blocked every
 * user until a restart.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, runBody, validSpec, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeEach(async () => {
  agent = await inProcessAgent();
});
afterEach(() => agent[Symbol.asyncDispose]());

describe("a heartbeat cannot forge a command lock", () => {
  test("an empty heartbeat for a finished run: 400, no lock written, the box stays free", async () => {
    const done = agent.locks.acquireCommand("lab", "alice", "python", false);
    const run = agent.addFinishedRun("alice", done.generation);
    agent.locks.releaseCommand(done.generation);
    const before = agent.lockSnapshot();
    for (const body of [{}, null, { generation: null }, { generation: "1" }]) {
      const answer = await answerOf(await agent.call("POST", `/v1/runs/${run.id}/heartbeat`, { token: agent.token("mallory"), body }));
      expect(answer).toEqual(errorShape(400, "bad_request"));
    }
    expect(agent.lockSnapshot()).toEqual(before);
    expect(agent.locks.read().command).toBeUndefined();
    // The next user is not told the box is busy.
    expect(agent.locks.check("lab", "bob", false)).toBeUndefined();
    const { status } = await agent.call("POST", "/v1/runs", { token: agent.token("bob"), body: runBody(validSpec) });
    expect(status).not.toBe(409);
  });

  test("a heartbeat with a finished run's own generation, once the box is free: 409 stale, no lock written", async () => {
    const done = agent.locks.acquireCommand("lab", "alice", "python", false);
    const run = agent.addFinishedRun("alice", done.generation);
    agent.locks.releaseCommand(done.generation);
    const answer = await answerOf(await agent.call("POST", `/v1/runs/${run.id}/heartbeat`, { body: { generation: done.generation } }));
    expect(answer).toEqual(errorShape(409, "stale"));
    expect(agent.locks.read().command).toBeUndefined();
  });

  test("a heartbeat naming another run's generation cannot refresh that run's lock", async () => {
    const old = agent.locks.acquireCommand("lab", "alice", "python", false);
    const aliceRun = agent.addFinishedRun("alice", old.generation);
    agent.locks.releaseCommand(old.generation);
    const bobs = agent.locks.acquireCommand("lab", "bob", "exec", false, crypto.randomUUID());
    const lockBefore = agent.locks.read().command;
    await Bun.sleep(5);
    const answer = await answerOf(await agent.call("POST", `/v1/runs/${aliceRun.id}/heartbeat`, { body: { generation: bobs.generation } }));
    expect(answer).toEqual(errorShape(409, "stale"));
    expect(agent.locks.read().command).toEqual(lockBefore!); // activity not refreshed
  });
});

describe("LockStore.touch only refreshes an existing lock of its generation", () => {
  test("no lock: touch writes nothing, whatever it is given", () => {
    for (const generation of [undefined, null, 0, -1, 1.5, NaN, "1", 1, 2]) {
      expect(agent.locks.touch(generation as number)).toBe(false);
      expect(agent.locks.read().command).toBeUndefined();
    }
  });

  test("a lock of another generation: touch neither refreshes nor replaces it; release leaves it too", async () => {
    const grant = agent.locks.acquireCommand("lab", "alice", "python", false);
    const before = agent.locks.read().command;
    await Bun.sleep(5);
    for (const generation of [undefined, null, 0, grant.generation + 1, String(grant.generation)]) {
      expect(agent.locks.touch(generation as number)).toBe(false);
      expect(agent.locks.releaseCommand(generation as number)).toBe(false);
    }
    expect(agent.locks.read().command).toEqual(before!);
    expect(agent.locks.touch(grant.generation)).toBe(true);
    expect(agent.locks.read().command!.activity).toBeGreaterThan(before!.activity);
  });
});

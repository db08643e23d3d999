/**
 * On the compiled binaries (docs/locks.md "Durability"): a user-lock change
 * answered 200 was committed by group commit before the answer, so an agent
 * SIGKILLed right after the answer finds it on its restart, also while 15
 * other clients keep the box's changes coming together; and fencing
 * generations only grow across SIGKILLs, for command locks and for the
 * commands forced past a user lock, also when the restart finds the volatile
 * environment of another boot (a crash of the machine) and drops it.
 *
 * A SIGKILL leaves the page cache alone: these tests show that a change is
 * committed before its 200, not that the disk has it (the sync is LMDB's
 * commit, docs/locks.md "Durability").
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent, type Agent } from "../../helpers/agent.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";
import { allFrames, api, type Api } from "../../reliability/http.ts";
import { Frame } from "../../../src/wire/frames.ts";

setDefaultTimeout(120_000);

const ROUNDS = 5;
const NOISE = 15;

/** `clients` loops of lock then unlock (as one user) until `stop`; the agent may die under them. */
function noise(client: Api, clients: number, stop: { now: boolean }): Promise<void[]> {
  return Promise.all(
    Array.from({ length: clients }, async () => {
      while (!stop.now) {
        try {
          if ((await client.call("POST", "/v1/lock", { box: "lab" })).status === 200) await client.call("POST", "/v1/unlock", { box: "lab" });
        } catch {
          return; // the agent is gone
        }
      }
    }),
  );
}

/** A fetch that SIGKILLs the agent the moment the answer's status is 200 (before its body is read). */
async function postThenKill(agent: Agent, token: string, path: string): Promise<number> {
  const response = await fetch(`${agent.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ box: "lab" }),
  });
  if (response.status === 200) agent.proc.kill("SIGKILL");
  await response.arrayBuffer().catch(() => {});
  return response.status;
}

test(`a lock or an unlock answered 200 survives a SIGKILL right after the answer, ${ROUNDS} times, with ${NOISE} other clients changing the lock meanwhile`, async () => {
  using state = tempDir("keg-durable-state-");
  let agent = await startAgent({ stateDir: state.path });
  const ann = await agent.addUser("ann");
  const other = await agent.addUser("noise");
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // ann's lock, decided among the noise's changes: retried until it wins a gap between them.
      const stop = { now: false };
      const crowd = noise(api(agent.url, other), NOISE, stop);
      let status = 0;
      while (status !== 200) {
        status = await postThenKill(agent, ann, "/v1/lock");
        expect([200, 409]).toContain(status);
      }
      await agent.proc.exited;
      stop.now = true;
      await crowd;
      agent = await agent.restart();
      expect((await api(agent.url, other).call("GET", "/v1/status")).body.user_lock).toMatchObject({ user: "ann" });

      // ann's unlock, with the noise waiting for the box: once answered, it is gone for good.
      const waiting = { now: false };
      const crowd2 = noise(api(agent.url, other), NOISE, waiting);
      expect(await postThenKill(agent, ann, "/v1/unlock")).toBe(200);
      await agent.proc.exited;
      waiting.now = true;
      await crowd2;
      agent = await agent.restart();
      const holder = (await api(agent.url, other).call("GET", "/v1/status")).body.user_lock?.user ?? null;
      expect(holder === null || holder === "noise").toBe(true);
      // The history agrees: ann's last event is her unlock.
      const history = (await api(agent.url, ann).call("GET", "/v1/history?limit=1000")).body as { event: string; user: string }[];
      expect(history.filter((e) => e.user === "ann").at(-1)?.event).toBe("unlocked");
      if (holder === "noise") expect((await api(agent.url, other).call("POST", "/v1/unlock", { box: "lab" })).status).toBe(200);
    }
  } finally {
    await agent[Symbol.asyncDispose]();
  }
});

/** The generation of a run's grant: detached runs answer it in JSON, attached ones in their started frame. */
async function generationOf(client: Api, options: { detach?: boolean; force?: boolean }): Promise<number | undefined> {
  const answer = await client.run(["true"], options);
  if (answer.status !== 200) {
    await answer.arrayBuffer();
    return undefined;
  }
  if (options.detach) return ((await answer.json()) as { generation: number }).generation;
  const started = (await allFrames(answer)).find((frame) => frame.type === Frame.started);
  return started?.type === Frame.started ? started.payload.generation : undefined;
}

test(`generations only grow across SIGKILLs of the agent, and when the volatile environment is dropped: command locks, and commands forced past a user lock`, async () => {
  using state = tempDir("keg-generation-state-");
  let agent = await startAgent({ stateDir: state.path });
  const tokens = await Promise.all(["ann", "ben", "cat", "dan"].map((user) => agent.addUser(user)));
  let highest = 0;
  try {
    for (let round = 0; round < 4; round++) {
      const forcedRound = round % 2 === 1;
      const clients = tokens.map((token) => api(agent.url, token));
      // Odd rounds: ann holds the user lock and everyone forces past it.
      if (forcedRound) expect((await clients[0]!.call("POST", "/v1/lock", { box: "lab" })).status).toBe(200);
      const seen: number[] = [];
      const stop = { now: false };
      const storms = clients.map(async (client, i) => {
        while (!stop.now) {
          try {
            const generation = await generationOf(client, { detach: i % 2 === 0, force: forcedRound });
            if (generation !== undefined) seen.push(generation);
          } catch {
            return; // the agent died under this request
          }
        }
      });
      // Kill once some grants were answered, while more are in flight.
      await until(() => seen.length >= 20, { deadlineMs: 30_000, what: "20 grants answered" });
      await agent.kill();
      stop.now = true;
      await Promise.all(storms);
      // Rounds 2 and 3 stand for a crash of the machine: the volatile environment is from another boot, so it is dropped.
      if (round >= 2) writeFileSync(join(state.path, "volatile", "boot"), "another boot\n");
      for (const generation of seen) expect(generation).toBeGreaterThan(highest);
      highest = Math.max(highest, ...seen);
      agent = await agent.restart();
      const after = await generationOf(api(agent.url, tokens[1]!), { detach: true, force: forcedRound });
      expect(after).toBeGreaterThan(highest);
      highest = after!;
      if (forcedRound) expect((await api(agent.url, tokens[0]!).call("POST", "/v1/unlock", { box: "lab" })).status).toBe(200);
      const history = (await api(agent.url, tokens[0]!).call("GET", "/v1/history?limit=1000")).body as { event: string; generation?: number }[];
      const granted = history.filter((e) => e.event === (forcedRound ? "forced-command" : "command-taken")).map((e) => e.generation!);
      expect(granted).toEqual([...granted].sort((a, b) => a - b));
    }
  } finally {
    await agent[Symbol.asyncDispose]();
  }
});

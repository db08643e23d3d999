/**
 * Fuzzing every JSON route of the agent in process (docs/reliability.md
 * "Fuzzing"): mutated bodies, parameters and queries. Never a 500, never a
 * hang, nothing new in the state dir outside a run folder, and the agent
 * healthy after (a lock and an unlock still work).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { inProcessAgent, runBody, validSpec, type InProcessAgent } from "../unit/in-process-agent.ts";
import { bounded, mutate, seeded, size, type Rng } from "./mode.ts";

const CASES = size(2_000, 100_000);
const BUDGET_MS = size(10_000, 900_000);

let agent: InProcessAgent;
beforeAll(async () => {
  agent = await inProcessAgent();
});
afterAll(() => agent[Symbol.asyncDispose]());

const odd: unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 60), 1e308, NaN, "", "x", "a".repeat(70_000), [], [1], {}, { a: 1 }, "../..", "\u0000", "SIGKILL"];

/** A JSON value with one field changed, dropped or added. */
function mutateValue(rng: Rng, value: Record<string, unknown>): unknown {
  const copy: Record<string, unknown> = { ...value };
  const keys = Object.keys(copy);
  switch (rng.int(5)) {
    case 0:
      if (keys.length) copy[rng.pick(keys)] = rng.pick(odd);
      return copy;
    case 1:
      if (keys.length) delete copy[rng.pick(keys)];
      return copy;
    case 2:
      copy[rng.pick(["extra", "__proto__", "constructor", "box", "generation"])] = rng.pick(odd);
      return copy;
    case 3:
      return rng.pick(odd);
    default:
      return [copy];
  }
}

function randomText(rng: Rng): string {
  return rng.pick(["", "..", "%2e%2e", "x".repeat(rng.int(300)), crypto.randomUUID(), crypto.randomUUID().toUpperCase(), "%00", "a/b", String(rng.int(1e9))]);
}

test("every JSON route with mutated bodies, parameters and queries: never a 500, the agent healthy after", async () => {
  const rng = seeded("routes");
  const run = agent.addFinishedRun("alice", 1);
  const before = readdirSync(agent.config.stateDir).sort();
  const bodies: [string, string, Record<string, unknown>][] = [
    ["POST", "/v1/lock", { box: "lab", note: "n" }],
    ["POST", "/v1/unlock", { box: "lab", force: false }],
    ["POST", `/v1/runs/${run.id}/heartbeat`, { generation: 1 }],
    ["POST", `/v1/runs/${run.id}/resume`, { generation: 1, from: 0 }],
    ["POST", `/v1/runs/${run.id}/stop`, {}],
    ["POST", `/v1/runs/${run.id}/kill`, { signal: "SIGTERM" }],
    ["POST", "/v1/runs/kill-all", {}],
  ];
  const gets = ["/v1/whoami", "/v1/status", "/v1/history?limit=", `/v1/runs/${run.id}/output?from=`, "/v1/runs"];
  const statuses = new Map<number, number>();
  const started = performance.now();
  const ran = await bounded(CASES, BUDGET_MS, async (i) => {
    let response: Response;
    const kind = rng.int(10);
    if (kind < 5) {
      const [method, path, body] = rng.pick(bodies);
      const text = JSON.stringify(mutateValue(rng, body)) ?? "";
      const sent = rng.int(4) === 0 ? new TextDecoder().decode(mutate(rng, new TextEncoder().encode(text))) : text;
      const target = rng.int(6) === 0 ? path.replace(run.id, randomText(rng)) : path;
      response = await agent.call(method, target, { body: sent, headers: rng.int(8) === 0 ? { "content-type": "text/plain" } : {} });
    } else if (kind < 8) {
      const path = rng.pick(gets);
      const target = (path.endsWith("=") ? `${path}${encodeURIComponent(randomText(rng))}` : path).replace(rng.int(4) === 0 ? run.id : "\u0000", randomText(rng));
      response = await agent.call("GET", target);
    } else {
      // The run body: a mutated spec ahead of a zip that is never valid, so no run starts.
      const spec = mutateValue(rng, { ...validSpec, wait: rng.int(2) ? undefined : 0 } as Record<string, unknown>);
      const body = rng.int(3) === 0 ? mutate(rng, runBody(spec)) : runBody(spec, new Uint8Array([1, 2, 3]));
      response = await agent.call("POST", "/v1/runs", { body: body as Uint8Array<ArrayBuffer> });
    }
    await response.arrayBuffer();
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status >= 500) throw new Error(`case ${i}: ${response.status}`);
  });
  console.error(`reliability fuzz routes: ${ran.toLocaleString("en-US")} cases in ${Math.round(performance.now() - started)} ms, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
  // Healthy after: a lock and an unlock of the box work, and no stray file appeared.
  await agent.call("POST", "/v1/unlock", { body: { box: "lab", force: true } });
  expect((await agent.call("POST", "/v1/lock", { body: { box: "lab" } })).status).toBe(200);
  expect((await agent.call("POST", "/v1/unlock", { body: { box: "lab" } })).status).toBe(200);
  expect(readdirSync(agent.config.stateDir).sort()).toEqual(before);
  expect(agent.runs.running()).toEqual([]);
});

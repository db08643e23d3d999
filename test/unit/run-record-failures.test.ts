/**
 * A run whose record LMDB refuses to write (docs/development.md "LMDB"):
 * the agent must not show it `running` forever, nor lose it. A detached run
 * whose first record fails does not start and leaves nothing behind; a run
 * whose final record fails stays listed as ended, and the next start
 * records it from its folder.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { RunManager } from "../../src/agent/runs.ts";
import { until } from "../helpers/until.ts";
import { answerOf } from "./error-shape.ts";
import { inProcessAgent, runBody, validSpec, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeEach(async () => {
  agent = await inProcessAgent();
});
afterEach(() => agent[Symbol.asyncDispose]());

const job = zipSync({ "job.py": new TextEncoder().encode("import sys\nsys.exit(3)\n") });
const detached = { ...validSpec, detach: true };
const runFolders = () => readdirSync(join(agent.config.stateDir, "runs"));
/** The turn after: a run's end queues its prune for the next turn, which must not meet a closed state. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** The next call of `db.putSync` throws as LMDB does when a commit fails; says whether it was called. */
function failNextPut(db: { putSync: (...args: any[]) => unknown }): { hit: boolean } {
  const put = db.putSync;
  const seen = { hit: false };
  db.putSync = () => {
    db.putSync = put;
    seen.hit = true;
    throw new Error("MDB_PROBLEM: Unexpected problem - txn should abort: mdb_page_touch no parent");
  };
  return seen;
}

test("a detached run whose first record cannot be written does not start: an error, no run listed, no folder, the box free", async () => {
  const failed = failNextPut(agent.state.runs);
  const answer = await answerOf(await agent.call("POST", "/v1/runs", { body: runBody(detached, job) }));
  expect(failed.hit).toBe(true);
  expect(answer.status).toBe(500);
  expect([...agent.runs.list()]).toEqual([]);
  expect(agent.runs.live.size).toBe(0);
  expect(runFolders()).toEqual([]);
  expect(agent.locks.read().command).toBeUndefined();
  // The next run starts and ends as any other.
  const next = (await (await agent.call("POST", "/v1/runs", { body: runBody(detached, job) })).json()) as { id: string };
  await until(() => !agent.runs.live.has(next.id) && agent.state.runs.get(next.id)?.status === "exited", { what: "the next run to be recorded" });
  await nextTurn();
});

test("a run whose final record cannot be written stays listed with its exit code, and the next start records it", async () => {
  const failed = failNextPut(agent.state.finished);
  const { id } = (await (await agent.call("POST", "/v1/runs", { body: runBody(detached, job) })).json()) as { id: string };
  await until(() => failed.hit, { what: "the final record's write" });
  await nextTurn();
  // Still listed, ended, with the script's exit code: never `running`, never missing.
  const listed = [...agent.runs.list()];
  expect(listed.map(({ id, status, exit_code }) => ({ id, status, exit_code }))).toEqual([{ id, status: "exited", exit_code: 3 }]);
  expect(agent.runs.record(id)).toMatchObject({ status: "exited", exit_code: 3 });
  // A new life of the agent on the same state finds the exit record in the run folder.
  const again = new RunManager(agent.state, agent.config, agent.locks);
  again.recover();
  expect([...again.list()].map(({ id, status, exit_code }) => ({ id, status, exit_code }))).toEqual([{ id, status: "exited", exit_code: 3 }]);
});

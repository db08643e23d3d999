/** The error table of docs/api.md ("Errors"), in process: each code with its status and the JSON shape. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, runBody, validSpec, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeEach(async () => {
  agent = await inProcessAgent();
});
afterEach(() => agent[Symbol.asyncDispose]());

const runFolders = () => readdirSync(join(agent.config.stateDir, "runs"));

describe("error table", () => {
  test("an unknown route with a valid token: 404 not_found", async () => {
    for (const [method, path] of [
      ["GET", "/v1/xyz"],
      ["POST", "/v1/xyz"],
      ["GET", "/v2/status"],
      ["POST", `/v1/runs/${crypto.randomUUID()}/nope`],
    ] as const) {
      expect(await answerOf(await agent.call(method, path))).toEqual(errorShape(404, "not_found", `No route ${method} ${path}. See docs/api.md.`));
    }
  });

  test("an unknown run: 404 not_found on every run route", async () => {
    const id = crypto.randomUUID();
    for (const [method, path, body] of [
      ["GET", `/v1/runs/${id}/output`, undefined],
      ["POST", `/v1/runs/${id}/heartbeat`, { generation: 1 }],
      ["POST", `/v1/runs/${id}/resume`, { generation: 1, from: 0 }],
      ["POST", `/v1/runs/${id}/stop`, {}],
      ["POST", `/v1/runs/${id}/kill`, { signal: "SIGTERM" }],
    ] as const) {
      expect(await answerOf(await agent.call(method, path, { body }))).toEqual(errorShape(404, "not_found", `No run '${id}' on this box. See 'keg python ps'.`));
    }
  });

  test("a run id that is not a UUID v4: 400 bad_request, the id not echoed", async () => {
    for (const id of ["nope", "x".repeat(8000), crypto.randomUUID().toUpperCase(), "00000000-0000-1000-8000-000000000000"]) {
      const answer = await answerOf(await agent.call("POST", `/v1/runs/${id}/stop`, { body: {} }));
      expect(answer).toEqual(errorShape(400, "bad_request", "Bad path: id must be a run id (a lowercase UUID v4, as 'keg python ps' shows)."));
    }
  });

  test("a busy box: 409 busy with the lock sentence, before the upload is read; nothing left behind", async () => {
    agent.locks.acquireCommand("lab", "bob", "python", false);
    const before = agent.lockSnapshot();
    const answer = await answerOf(await agent.call("POST", "/v1/runs", { body: runBody(validSpec, zipSync({})) }));
    expect(answer).toEqual(errorShape(409, "busy", "Box 'lab' is busy — 'python' in progress by bob. Use --force-command to override."));
    expect(agent.lockSnapshot()).toEqual(before);
    expect(runFolders()).toEqual([]);
  });

  test("another user's lock: 409 locked on lock, unlock and runs", async () => {
    agent.locks.lockUser("lab", "bob", "firmware");
    const since = agent.locks.read().user!.since;
    expect(await answerOf(await agent.call("POST", "/v1/lock", { body: { box: "lab" } }))).toEqual(
      errorShape(409, "locked", `Box 'lab' is already locked by bob (since ${since}, note: firmware)`),
    );
    expect(await answerOf(await agent.call("POST", "/v1/unlock", { body: { box: "lab" } }))).toEqual(
      errorShape(409, "locked", "Box 'lab' is locked by bob. Use --force to unlock it."),
    );
    expect(await answerOf(await agent.call("POST", "/v1/runs", { body: runBody(validSpec) }))).toEqual(
      errorShape(409, "locked", `Box 'lab' is locked by bob (since ${since}, note: firmware). Use --force-command to override.`),
    );
  });

  test("a heartbeat of a fenced-off generation: 409 stale", async () => {
    const old = agent.locks.acquireCommand("lab", "alice", "python", false);
    const run = agent.addFinishedRun("alice", old.generation);
    agent.locks.releaseCommand(old.generation);
    agent.locks.acquireCommand("lab", "bob", "exec", false);
    expect(await answerOf(await agent.call("POST", `/v1/runs/${run.id}/heartbeat`, { body: { generation: old.generation } }))).toEqual(
      errorShape(409, "stale", `The command lock of run ${run.id} went stale and was taken over; this step is refused.`),
    );
  });

  test("a JSON body over 64 KiB: 413 too_large naming the limit, on every JSON route", async () => {
    const big = { note: "x".repeat(64 * 1024) };
    const id = agent.addFinishedRun("alice", 1).id;
    for (const path of ["/v1/lock", "/v1/unlock", `/v1/runs/${id}/heartbeat`, `/v1/runs/${id}/stop`, `/v1/runs/${id}/kill`, "/v1/runs/kill-all"]) {
      const answer = await answerOf(await agent.call("POST", path, { body: big }));
      expect({ path, ...answer }).toEqual({ path, ...errorShape(413, "too_large", /the limit of 64 KiB/) });
    }
  });

  test("an upload over --max-upload: 413 too_large naming the limit; lock released, no run folder left", async () => {
    const answer = await answerOf(await agent.call("POST", "/v1/runs", { body: runBody(validSpec, new Uint8Array(agent.config.maxUploadBytes + 1)) }));
    expect(answer).toEqual(errorShape(413, "too_large", /1 MiB.*--max-upload/));
    expect(agent.locks.read()).toEqual({ command: undefined, user: undefined });
    expect(agent.locks.history().map((e) => e.event)).toEqual(["command-taken", "command-released"]);
    expect(runFolders()).toEqual([]);
  });
});

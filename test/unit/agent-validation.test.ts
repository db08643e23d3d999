/**
 * Every request the agent reads is checked at the route (docs/api.md
 * "Errors"): malformed bodies, queries and run specs get 400 (413 over
 * 64 KiB) with the error shape every time, and leave the lock state as it was.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, runBody, validSpec, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
/** alice's run, holding the command lock (the first grant of a fresh store); bob holds the user lock */
const run = { id: crypto.randomUUID(), generation: 1 };

beforeAll(async () => {
  agent = await inProcessAgent();
  expect(agent.locks.acquireCommand("lab", "alice", "python", false, run.id).generation).toBe(run.generation);
  agent.addFinishedRun("alice", run.generation, run.id);
  agent.locks.lockUser("lab", "bob", "soldering");
});
afterAll(() => agent[Symbol.asyncDispose]());

/** A body as sent: a string goes as it is (with a JSON content type unless told), anything else as JSON. */
type Sent = { body: unknown; headers?: Record<string, string> };

/** Bodies no JSON route takes. */
const malformedEverywhere: [string, Sent][] = [
  ["not JSON", { body: "{not json" }],
  ["cut short", { body: '{"box": "lab"' }],
  ["not JSON, plain text", { body: "hello", headers: { "content-type": "text/plain" } }],
  ["JSON sent as a form", { body: '{"box":"lab"}', headers: { "content-type": "application/x-www-form-urlencoded" } }],
  ["null", { body: null }],
  ["a list", { body: [] }],
  ["a string", { body: "lab" }],
  ["a number", { body: 42 }],
  ["an unknown field", { body: { bogus: 1 } }],
  ["a field with a huge name", { body: { ["x".repeat(50_000)]: 1 } }],
];

const huge = "x".repeat(60_000);

/** Per JSON route: the path and the bodies that are wrong for it in particular. */
const routes = (): { path: string; wrong: [string, unknown][] }[] => [
  {
    path: "/v1/lock",
    wrong: [
      ["note a number", { note: 5 }],
      ["note over 1,000 characters", { note: "x".repeat(1001) }],
      ["note a huge string", { note: huge }],
      ["box a list", { box: ["lab"] }],
      ["box a huge string", { box: huge }],
      ["wait not a number", { wait: "abc" }],
      ["wait negative", { wait: -5 }],
      ["wait null", { wait: null }],
    ],
  },
  {
    path: "/v1/unlock",
    wrong: [
      ["force the string 'false'", { force: "false" }],
      ["force a number", { force: 1 }],
      ["box an object", { box: {} }],
    ],
  },
  {
    path: `/v1/runs/${run.id}/heartbeat`,
    wrong: [
      ["generation missing", {}],
      ["generation null", { generation: null }],
      ["generation a string", { generation: String(run.generation) }],
      ["generation a fraction", { generation: run.generation + 0.5 }],
      ["generation zero", { generation: 0 }],
      ["generation negative", { generation: -1 }],
      ["generation huge", { generation: 1e300 }],
    ],
  },
  {
    path: `/v1/runs/${run.id}/kill`,
    wrong: [
      ["signal not in the list", { signal: "SIGHUP" }],
      ["signal a number", { signal: 9 }],
      ["signal a huge string", { signal: huge }],
    ],
  },
  { path: `/v1/runs/${run.id}/stop`, wrong: [["a field", { signal: "SIGTERM" }]] },
  { path: "/v1/runs/kill-all", wrong: [["a field", { force: true }]] },
];

function post(path: string, sent: Sent) {
  const headers = typeof sent.body === "string" ? { "content-type": "application/json", ...sent.headers } : sent.headers;
  const body = typeof sent.body === "string" ? sent.body : JSON.stringify(sent.body);
  return agent.call("POST", path, { body, headers });
}

async function expectRefused(what: string, response: Promise<Response>, status = 400, code: "bad_request" | "too_large" = "bad_request") {
  const before = agent.lockSnapshot();
  const answer = await answerOf(await response);
  expect({ what, ...answer }).toEqual({ what, ...errorShape(status, code, status === 400 ? /^Bad (request body|query|run spec|path): [^\n]+\.$/ : /64 KiB/) });
  expect({ what, locks: agent.lockSnapshot() }).toEqual({ what, locks: before });
}

describe("JSON routes refuse malformed bodies with 400 and change nothing", () => {
  for (const { path, wrong } of routes()) {
    test(`POST ${path.replace(/[0-9a-f-]{36}/, ":id")}`, async () => {
      for (const [what, sent] of malformedEverywhere) await expectRefused(what, post(path, sent));
      for (const [what, body] of wrong) await expectRefused(what, post(path, { body }));
      await expectRefused("over 64 KiB", post(path, { body: { note: "x".repeat(65 * 1024) } }), 413, "too_large");
    });
  }

  test("the messages name the field and what it must be", async () => {
    const message = async (path: string, body: unknown) => ((await (await post(path, { body })).json()) as { error: { message: string } }).error.message;
    expect(await message("/v1/lock", { note: "x".repeat(1001) })).toBe("Bad request body: note must be a string of at most 1,000 characters.");
    expect(await message("/v1/lock", { wait: -5 })).toBe("Bad request body: wait must be a number of seconds ≥ 0.");
    expect(await message("/v1/unlock", { force: "false" })).toBe("Bad request body: force must be true or false.");
    expect(await message(`/v1/runs/${run.id}/heartbeat`, {})).toBe("Bad request body: generation is missing; it must be a positive integer.");
    expect(await message(`/v1/runs/${run.id}/heartbeat`, { generation: "1" })).toBe("Bad request body: generation must be a positive integer.");
    expect(await message(`/v1/runs/${run.id}/kill`, { signal: "SIGHUP" })).toBe(
      "Bad request body: signal must be one of SIGINT, SIGQUIT, SIGABRT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, SIGSTOP.",
    );
    expect(await message("/v1/lock", null)).toBe("Bad request body: it must be a JSON object.");
    expect(await message("/v1/lock", { forse: true })).toBe("Bad request body: 'forse' is not a field it takes.");
  });

  test("well-formed requests still pass: an empty body is {}, and the valid heartbeat keeps the lock", async () => {
    for (const path of [`/v1/runs/${run.id}/stop`, "/v1/runs/kill-all"]) {
      expect((await agent.app.request(path, { method: "POST", headers: { authorization: `Bearer ${agent.token("alice")}` } })).status).toBe(200);
      expect((await post(path, { body: "" })).status).toBe(200);
      expect((await post(path, { body: {} })).status).toBe(200);
    }
    expect(await (await post(`/v1/runs/${run.id}/heartbeat`, { body: { generation: run.generation } })).json()).toEqual({ current: true });
    expect(await (await post(`/v1/runs/${run.id}/kill`, { body: { signal: "SIGUSR1" } })).json()).toEqual({ sent: false });
    expect(await (await post(`/v1/runs/${run.id}/kill`, { body: {} })).json()).toEqual({ sent: false });
  });
});

describe("GET /v1/history?limit= is an integer from 1 to 1000, default 50", () => {
  test("bad limits: 400, nothing changed", async () => {
    for (const limit of ["abc", "0", "1001", "-1", "1.5", "", "1e3", "x".repeat(10_000)])
      await expectRefused(`limit=${limit.slice(0, 10)}`, agent.call("GET", `/v1/history?limit=${limit}`));
    await expectRefused("limit twice", agent.call("GET", "/v1/history?limit=1&limit=2"));
  });

  test("good limits", async () => {
    const events = (await (await agent.call("GET", "/v1/history")).json()) as unknown[];
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(await (await agent.call("GET", "/v1/history?limit=1")).json()).toEqual([events.at(-1)]);
    expect(await (await agent.call("GET", "/v1/history?limit=1000")).json()).toEqual(events);
  });
});

describe("POST /v1/runs: the run spec is checked by its schema before anything happens", () => {
  const runFolders = () => readdirSync(join(agent.config.stateDir, "runs"));
  const wrongSpecs: [string, unknown][] = [
    ["null", null],
    ["a list", []],
    ["a string", "python"],
    ["empty", {}],
    ["an unknown command", { ...validSpec, command: "ruby" }],
    ["an unknown field", { ...validSpec, shell: true }],
    ["python without entry", { ...validSpec, entry: undefined }],
    ["entry a number", { ...validSpec, entry: 1 }],
    ["exec without a program", { ...validSpec, command: "exec", entry: undefined, args: [] }],
    ["args a string", { ...validSpec, args: "a b" }],
    ["an arg a number", { ...validSpec, args: ["a", 2] }],
    ["an arg over 128 Ki characters", { ...validSpec, args: ["x".repeat(128 * 1024 + 1)] }],
    ["env a list", { ...validSpec, env: [] }],
    ["env name not a variable name", { ...validSpec, env: { "A-B": "x" } }],
    ["env name empty", { ...validSpec, env: { "": "x" } }],
    ["env value a number", { ...validSpec, env: { A: 1 } }],
    ["timeout a string", { ...validSpec, timeout: "10" }],
    ["timeout negative", { ...validSpec, timeout: -1 }],
    ["timeout missing", { ...validSpec, timeout: undefined }],
    ["box a number", { ...validSpec, box: 5 }],
    ["downloads holding a non-string", { ...validSpec, downloads: [{ path: "x" }] }],
    ["downloads a string", { ...validSpec, downloads: "out.txt" }],
    ["detach the string 'false'", { ...validSpec, detach: "false" }],
    ["force the string 'false'", { ...validSpec, force: "false" }],
    ["wait not a number", { ...validSpec, wait: "abc" }],
    ["wait negative", { ...validSpec, wait: -5 }],
    ["image empty", { ...validSpec, image: "" }],
    ["image starting with '-'", { ...validSpec, image: "--privileged" }],
    ["image with a space", { ...validSpec, image: "a b" }],
    ["pip with an image", { ...validSpec, command: "pip", entry: undefined, args: ["list"], image: "python:3" }],
  ];

  test("each wrong spec: 400 naming the field, the lock state unchanged, no run folder", async () => {
    for (const [what, spec] of wrongSpecs) {
      await expectRefused(what, agent.call("POST", "/v1/runs", { body: runBody(spec) }));
      expect({ what, folders: runFolders() }).toEqual({ what, folders: [] });
    }
  });

  test("a spec that is not JSON, or a body cut short: 400", async () => {
    const notJson = new Uint8Array([0, 0, 0, 5, ...new TextEncoder().encode("{nope")]);
    for (const [what, body] of [
      ["not JSON", notJson],
      ["shorter than its length", new Uint8Array([0, 0, 0, 9, 123])],
      ["no length", new Uint8Array([0, 0])],
    ] as const) {
      const before = agent.lockSnapshot();
      const answer = await answerOf(await agent.call("POST", "/v1/runs", { body }));
      expect({ what, ...answer }).toEqual({ what, ...errorShape(400, "bad_request") });
      expect(agent.lockSnapshot()).toEqual(before);
    }
  });

  test("the messages name the field", async () => {
    const message = async (spec: unknown) => ((await (await agent.call("POST", "/v1/runs", { body: runBody(spec) })).json()) as { error: { message: string } }).error.message;
    expect(await message({ ...validSpec, downloads: [7] })).toBe("Bad run spec: downloads.0 must be a string of at most 4,096 characters.");
    expect(await message({ ...validSpec, env: { "A-B": "x" } })).toBe("Bad run spec: env.A-B must be a variable name (letters, digits and '_', not starting with a digit).");
    expect(await message({ ...validSpec, entry: undefined })).toBe("Bad run spec: entry must be given for a python run (the script's path in the upload).");
    expect(await message({ ...validSpec, timeout: undefined })).toBe("Bad run spec: timeout is missing; it must be a number of seconds ≥ 0.");
  });
});

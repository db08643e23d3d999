/**
 * docs/api.md "Resuming", in process: the output's `from` offset and the
 * attached cycle's resume are checked at the route (a frame boundary the run
 * has reached, the grant's generation) before anything is streamed.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { runPaths, writeJsonAtomically } from "../../src/agent/run-files.ts";
import { SpoolWriter } from "../../src/agent/spool.ts";
import { decodeFrame, encodeJsonFrame, Frame, FrameDecoder, HEADER_BYTES } from "../../src/wire/frames.ts";
import { answerOf, errorShape } from "./error-shape.ts";
import { inProcessAgent, type InProcessAgent } from "./in-process-agent.ts";

let agent: InProcessAgent;
beforeEach(async () => {
  agent = await inProcessAgent();
});
afterEach(() => agent[Symbol.asyncDispose]());

const exit = { code: 3, signal: null, status: "exited" as const, ended: new Date().toISOString() };

/** A finished run whose spool holds "one\n", "two\n" and its exit frame. */
function finishedRunWithOutput(): string {
  const run = agent.addFinishedRun("alice", 1);
  const paths = runPaths(join(agent.config.stateDir, "runs", run.id));
  mkdirSync(paths.spool, { recursive: true });
  const spool = new SpoolWriter(paths.spool, 1024 * 1024);
  spool.appendFrame(Frame.stdout, new TextEncoder().encode("one\n"));
  spool.appendFrame(Frame.stdout, new TextEncoder().encode("two\n"));
  spool.append(encodeJsonFrame(Frame.exit, exit));
  spool.close();
  writeJsonAtomically(paths.exit, exit);
  return run.id;
}

async function framesOf(response: Response) {
  const decoder = new FrameDecoder();
  const bytes = new Uint8Array(await response.arrayBuffer());
  return decoder.push(bytes).map((frame) => decodeFrame(frame));
}

const FRAME_ONE = HEADER_BYTES + 4;

describe("GET /v1/runs/:id/output?from=", () => {
  test("from a frame boundary: the frames after it, then the exit and end", async () => {
    const id = finishedRunWithOutput();
    const frames = await framesOf(await agent.call("GET", `/v1/runs/${id}/output?from=${FRAME_ONE}`));
    // A keepalive first: the answer starts at once, even from a silent run.
    expect(frames.map((f) => f.type)).toEqual([Frame.keepalive, Frame.stdout, Frame.exit, Frame.end]);
    expect(new TextDecoder().decode(frames[1]!.payload as Uint8Array)).toBe("two\n");
  });

  test("an offset inside a frame or past the output: 400 naming from", async () => {
    const id = finishedRunWithOutput();
    for (const from of [1, FRAME_ONE + 2, 10_000])
      expect(await answerOf(await agent.call("GET", `/v1/runs/${id}/output?from=${from}`))).toEqual(
        errorShape(400, "bad_request", `Bad query: from must be a frame boundary the output of run ${id} has reached.`),
      );
  });

  test("from that is not a whole number: 400", async () => {
    const id = finishedRunWithOutput();
    for (const from of ["-1", "1.5", "abc", "1e3", "9".repeat(16)])
      expect(await answerOf(await agent.call("GET", `/v1/runs/${id}/output?from=${from}`))).toEqual(
        errorShape(400, "bad_request", "Bad query: from must be a byte offset (an integer ≥ 0)."),
      );
  });
});

describe("POST /v1/runs/:id/resume", () => {
  test("its body is checked: generation and from are required whole numbers", async () => {
    const id = finishedRunWithOutput();
    const message = async (body: unknown) => ((await (await agent.call("POST", `/v1/runs/${id}/resume`, { body })).json()) as { error: { message: string } }).error.message;
    expect(await message({ from: 0 })).toBe("Bad request body: generation is missing; it must be a positive integer.");
    expect(await message({ generation: 1 })).toBe("Bad request body: from is missing; it must be a byte offset (an integer ≥ 0).");
    expect(await message({ generation: 1, from: -5 })).toBe("Bad request body: from must be a byte offset (an integer ≥ 0).");
    expect(await message({ generation: 1, from: 0, extra: 1 })).toBe("Bad request body: 'extra' is not a field it takes.");
  });

  test("someone else's run: 404, only its owner resumes its cycle", async () => {
    const id = finishedRunWithOutput();
    expect(await answerOf(await agent.call("POST", `/v1/runs/${id}/resume`, { token: agent.token("bob"), body: { generation: 1, from: 0 } }))).toEqual(
      errorShape(404, "not_found", `Run ${id} is not yours: only the user who started it resumes its cycle.`),
    );
  });

  test("a run with no attached cycle of that generation on this agent: 404, nothing streamed", async () => {
    const id = finishedRunWithOutput();
    expect(await answerOf(await agent.call("POST", `/v1/runs/${id}/resume`, { body: { generation: 1, from: 0 } }))).toEqual(
      errorShape(404, "not_found", `Run ${id} has no attached cycle of generation 1 to resume on this box.`),
    );
  });
});

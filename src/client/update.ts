/**
 * `keg update` for one box: skip it when it already runs a binary with the
 * same SHA-256, else send the new agent under the command lock and wait until
 * the box answers again from its new image (docs/cli.md "keg update").
 * @module
 */
import { join } from "node:path";
import type { Box } from "../config/boxes.ts";
import { KegError } from "../errors.ts";
import { sha256OfFile } from "../files/sha256.ts";
import type { AgentBinary, Health, UpdateResult } from "../wire/api.ts";
import { fileBody } from "../platform/index.ts";
import { getJson, request } from "./http.ts";

export type AgentFile = { path: string; sha256: string };

export type UpdateOutcome =
  | { kind: "updated"; version: string }
  | { kind: "current"; version: string }
  /** locked or busy: the refusal says by whom */
  | { kind: "skipped"; error: KegError }
  | { kind: "offline"; error: KegError }
  | { kind: "failed"; reason: string; error: KegError };

const ASK_MS = 3000;
/** Sending ~120 MB and checking it on the box: generous, since a box may be far away. */
const SEND_MS = 300_000;
const BACK_WITHIN_MS = 30_000;
const POLL_MS = 50;

/**
 * The agents to send: `given` for every box, else the one beside this keg
 * for the box's platform (`keg-agent-linux-arm64`, as releases name them),
 * else `keg-agent` beside it. Each file is hashed once.
 */
export function agentPicker(given: string | undefined, besideDir: string, exists: (path: string) => boolean, hash = sha256OfFile): AgentPicker {
  const hashed = new Map<string, AgentFile>();
  const file = (path: string) => hashed.get(path) ?? hashed.set(path, { path, sha256: hash(path) }).get(path)!;
  return (platform) => {
    if (given) return file(given);
    const candidates = [...(platform ? [join(besideDir, `keg-agent-${platform}`)] : []), join(besideDir, "keg-agent")];
    const found = candidates.find(exists);
    if (found) return file(found);
    throw new KegError("failed", `no keg-agent${platform ? ` for ${platform}` : ""} next to keg (looked for ${candidates.join(" and ")}); give one with --agent-binary PATH`);
  };
}

/** The phrase after `failed: ` in `update --all`: the box's own reason, without the box's name around it. */
const reasonOf = (error: KegError) => error.message.replace(/\.$/, "");

/** Polls /health until the agent answers from an image started after `before`. */
async function backFromRestart(box: Box, before: string): Promise<Health | undefined> {
  const deadline = Date.now() + BACK_WITHIN_MS;
  while (Date.now() < deadline) {
    const health = await getJson<Health>(box, "/health", { timeoutMs: 1000 }).catch(() => undefined);
    if (health && health.started !== before) return health;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return undefined;
}

/** The binary for a box of `platform` (undefined: an agent too old to say), or the refusal saying what is missing. */
export type AgentPicker = (platform: string | undefined) => AgentFile;

export async function updateBox(box: Box, pickAgent: AgentPicker, force: boolean): Promise<UpdateOutcome> {
  let running: AgentBinary;
  let before: Health;
  try {
    [running, before] = await Promise.all([getJson<AgentBinary>(box, "/v1/update", { timeoutMs: ASK_MS }), getJson<Health>(box, "/health", { timeoutMs: ASK_MS })]);
  } catch (error) {
    if (!(error instanceof KegError)) throw error;
    if (error.code === "unreachable") return { kind: "offline", error };
    if (error.code === "not_found") {
      const old = new KegError("failed", `the agent is too old to update itself: install the new keg-agent on the box by hand`);
      return { kind: "failed", reason: reasonOf(old), error: old };
    }
    return { kind: "failed", reason: reasonOf(error), error };
  }
  let agent: AgentFile;
  try {
    agent = pickAgent(running.platform);
  } catch (error) {
    if (!(error instanceof KegError)) throw error;
    return { kind: "failed", reason: reasonOf(error), error };
  }
  if (running.sha256 === agent.sha256) return { kind: "current", version: running.version };

  const query = new URLSearchParams({ sha256: agent.sha256, box: box.name, ...(force ? { force: "true" } : {}) });
  let result: UpdateResult;
  try {
    const response = await request(box, `/v1/update?${query}`, {
      method: "POST",
      body: fileBody(agent.path),
      headers: { "content-type": "application/octet-stream" },
      timeoutMs: SEND_MS,
    });
    result = (await response.json()) as UpdateResult;
  } catch (error) {
    if (!(error instanceof KegError)) throw error;
    if (error.code === "busy" || error.code === "locked") return { kind: "skipped", error };
    return { kind: "failed", reason: reasonOf(error), error };
  }
  if (!result.restarting) return { kind: "updated", version: result.version };
  const back = await backFromRestart(box, before.started);
  if (!back) {
    const gone = new KegError("failed", `the new agent did not answer within ${BACK_WITHIN_MS / 1000} s of its restart`);
    return { kind: "failed", reason: reasonOf(gone), error: gone };
  }
  if (back.version !== result.version) {
    const other = new KegError("failed", `the box came back with version ${back.version}, not ${result.version}`);
    return { kind: "failed", reason: reasonOf(other), error: other };
  }
  return { kind: "updated", version: back.version };
}

/** Runs `task` on every item, at most `limit` at a time; `onDone` hears each result as it comes, with its index. */
export async function eachBounded<T, R>(items: T[], limit: number, task: (item: T) => Promise<R>, onDone: (index: number, result: R) => void): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let index = next++; index < items.length; index = next++) onDone(index, await task(items[index]!));
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

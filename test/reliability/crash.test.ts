/**
 * Crash consistency (docs/reliability.md "Crash consistency", docs/locks.md
 * "Restart"): a storm of lock, unlock, heartbeat and run requests from
 * several users, the agent SIGKILLed at a random moment, restarted on the
 * same state dir. The lock state must be one a serial order of the
 * acknowledged requests allows, the history whole, no command lock left,
 * generations only growing, every detached run's exit code recorded and no
 * attached run's process left.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { startAgent, type Agent } from "../helpers/agent.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";
import { Frame, FrameDecoder, decodeFrame } from "../../src/wire/frames.ts";
import { api, type Api } from "./http.ts";
import { LONG, seeded, size, type Rng } from "./mode.ts";

setDefaultTimeout(LONG ? 3_600_000 : 120_000);

const KILLS = size(5, 50);
const USERS = ["ann", "ben", "cat", "dan"];
const MARKER = `keg-crash-${process.pid}`;

type LockOp = { user: string; op: "lock" | "unlock"; status?: number; code?: string };

/** Processes whose command line holds `marker` (the attached runs' scripts). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (cmdline.includes(marker) && stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z") pids.push(Number(name));
    } catch {}
  }
  return pids;
}

/** One user's storm until `stop`: each request waits for its answer, so at most one is in flight. */
async function storm(rng: Rng, user: string, client: Api, stop: { now: boolean }, log: { locks: LockOp[]; detached: Map<string, number>; generations: number[] }) {
  while (!stop.now) {
    const kind = rng.int(10);
    try {
      if (kind < 5) {
        const op: LockOp = { user, op: kind < 3 ? "lock" : "unlock" };
        log.locks.push(op);
        const answer = await client.call("POST", `/v1/${op.op}`, { box: "lab" });
        op.status = answer.status;
        op.code = answer.body?.error?.code;
      } else if (kind < 7) {
        const code = 1 + rng.int(100);
        const answer = await client.run(["sh", "-c", `sleep 0.${1 + rng.int(4)}; exit ${code}`], { detach: true });
        if (answer.status === 200) {
          const { id, generation } = (await answer.json()) as { id: string; generation: number };
          log.detached.set(id, code);
          log.generations.push(generation);
        } else await answer.arrayBuffer();
      } else {
        const answer = await client.run(["sh", "-c", `sleep 0.${1 + rng.int(3)} # ${MARKER}`]);
        if (answer.status !== 200) {
          await answer.arrayBuffer();
          continue;
        }
        const decoder = new FrameDecoder();
        for await (const chunk of answer.body!) {
          for (const raw of decoder.push(chunk)) {
            const frame = decodeFrame(raw);
            if (frame.type !== Frame.started) continue;
            log.generations.push(frame.payload.generation);
            void client.call("POST", `/v1/runs/${frame.payload.id}/heartbeat`, { generation: frame.payload.generation }).catch(() => {});
          }
        }
      }
    } catch {
      // The agent died under this request: it stays unacknowledged.
    }
  }
}

/**
 * Whether `holder` (null: free) is what some serial order of the acknowledged
 * lock requests leaves, starting from `before` (the holder after the last
 * restart). Requests pending at the kill may or may not have happened.
 */
function allowedHolder(before: string | null, locks: LockOp[], holder: string | null): string | undefined {
  const last = new Map<string, LockOp>();
  const inFlight = new Map<string, LockOp>();
  for (const op of locks) {
    if (op.status === undefined) inFlight.set(op.user, op);
    else if (op.status === 200) last.set(op.user, op);
  }
  const holding = [...last.values()].filter((op) => op.op === "lock" && !inFlight.has(op.user)).map((op) => op.user);
  const maybe = [...last.values()].filter((op) => op.op === "lock").map((op) => op.user);
  if (before !== null) maybe.push(before);
  const beforeMayHaveLeft = locks.some((op) => op.user === before && op.op === "unlock" && (op.status === undefined || op.status === 200));
  if (before !== null && holding.length === 0 && !beforeMayHaveLeft && holder !== before) return `${before} held the lock and never unlocked it, but the holder is ${holder}`;
  if (holding.length > 1) return `two users hold the lock by their acknowledged requests: ${holding}`;
  if (holding.length === 1 && holder !== holding[0]) return `${holding[0]} was answered 200 for its lock, but the holder is ${holder}`;
  if (holder !== null && !maybe.includes(holder) && inFlight.get(holder)?.op !== "lock") return `${holder} holds the lock without an acknowledged or pending lock request`;
  return undefined;
}

test(`the agent SIGKILLed during a storm of requests, ${KILLS} times: it comes back consistent`, async () => {
  const rng = seeded("crash");
  using state = tempDir("keg-crash-state-");
  let agent: Agent = await startAgent({ stateDir: state.path });
  const tokens: Record<string, string> = {};
  for (const user of USERS) tokens[user] = await agent.addUser(user);
  const detached = new Map<string, number>();
  let highestGeneration = 0;
  let holderBefore: string | null = null;
  let requests = 0;
  try {
    for (let kill = 0; kill < KILLS; kill++) {
      const log = { locks: [] as LockOp[], detached: new Map<string, number>(), generations: [] as number[] };
      const stop = { now: false };
      const storms = USERS.map((user) => storm(rng, user, api(agent.url, tokens[user]!), stop, log));
      await Bun.sleep(100 + rng.int(1400)); // the random moment of the kill
      await agent.kill();
      stop.now = true;
      await Promise.all(storms);
      agent = await agent.restart();
      const client = api(agent.url, tokens[USERS[0]!]!);

      const status = await client.call("GET", "/v1/status");
      expect(status.status).toBe(200);
      expect(status.body.command_lock).toBeNull();
      const holder: string | null = status.body.user_lock?.user ?? null;
      const problem = allowedHolder(holderBefore, log.locks, holder);
      expect({ kill, problem }).toEqual({ kill, problem: undefined });
      holderBefore = holder;

      // The history is whole, and generations only grew, across lives too.
      const history = await client.call("GET", "/v1/history?limit=1000");
      expect(Array.isArray(history.body)).toBe(true);
      const granted = (history.body as { event: string; generation?: number }[]).filter((e) => e.event === "command-taken").map((e) => e.generation!);
      expect(granted).toEqual([...granted].sort((a, b) => a - b));
      for (const generation of log.generations) expect(generation).toBeGreaterThan(highestGeneration);
      highestGeneration = Math.max(highestGeneration, ...log.generations, ...granted);

      for (const [id, code] of log.detached) detached.set(id, code);
      requests += log.locks.length + log.generations.length;
      // No attached run's script outlives its agent.
      await until(() => processesWith(MARKER).length === 0, { deadlineMs: 10_000, what: `attached scripts to be stopped (${processesWith(MARKER)})` });
    }
    // Every detached run acknowledged with an id ends with its own exit code recorded.
    const client = api(agent.url, tokens[USERS[0]!]!);
    const runs = await until(
      async () => {
        const list = (await client.call("GET", "/v1/runs")).body as { id: string; status: string; exit_code: number | null }[];
        const mine = list.filter((r) => detached.has(r.id));
        return mine.length === detached.size && mine.every((r) => r.status !== "running") ? mine : undefined;
      },
      { deadlineMs: 20_000, what: "every detached run to end" },
    );
    expect(runs.map((r) => [r.id, r.exit_code])).toEqual(runs.map((r) => [r.id, detached.get(r.id)!]));
    // The box takes a run after it all (once the user lock of the storm is gone).
    expect((await client.call("POST", "/v1/unlock", { box: "lab", force: true })).status).toBe(200);
    const last = await client.run(["true"]);
    expect(last.status).toBe(200);
    await last.arrayBuffer();
    console.error(`reliability crash: ${KILLS} kills, ${requests} acknowledged or pending requests, ${detached.size} detached runs checked`);
  } finally {
    await agent[Symbol.asyncDispose]();
  }
});

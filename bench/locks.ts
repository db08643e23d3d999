/**
 * Box locks against their baselines, in one run (docs/performance.md "Locks").
 * Build first (`npm run build`), then: bun bench/locks.ts [--seconds S] [--trials N]
 *
 * (a) raw LMDB: LockStore in this process on a temp state dir, acquire +
 *     release pairs per second (each step one durable write transaction), with
 *     the same store opened noSync beside it for the cost of the sync;
 * (b) over HTTP on 127.0.0.1: POST /v1/lock + POST /v1/unlock round trips per
 *     second from one client and from 4 concurrent clients (fetch, keep-alive),
 *     against GET /health (no LMDB) for the cost of HTTP alone;
 * (c) 24 racers: 24 users' POST /v1/lock fired at once after a barrier, time
 *     until all 24 answered, exactly one 200; N trials;
 * (d) the same race with 24 real `keg boxes lock` processes.
 *
 * Targets: ≥ 5,000 acquire+release per second over HTTP; 24 racers resolved
 * within 100 ms. The agent and every temp dir are removed at the end.
 * @module
 */
import { join } from "node:path";
import { open } from "lmdb";
import { openState, type State } from "../src/agent/state.ts";
import { LockStore } from "../src/lock/store.ts";
import { benchEnv, cleanUp, describeBuild, keg, kegHome, ms, requireBinaries, startAgent, table, tempDir, type BenchAgent } from "./harness.ts";
import { median, p90 } from "./lib.ts";

const argValue = (flag: string) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const seconds = Number(argValue("--seconds") ?? 3);
const trials = Number(argValue("--trials") ?? 20);
const BOX = "lab";
const RACERS = 24;

requireBinaries();

const results: { httpPairs?: number; raceInProcess?: number[]; raceProcesses?: number[] } = {};

/** Runs `step` back to back for `ms` milliseconds; how many completed. */
function loopFor(ms: number, step: () => void): { count: number; elapsed: number } {
  const t = performance.now();
  let count = 0;
  while (performance.now() - t < ms) {
    step();
    count++;
  }
  return { count, elapsed: performance.now() - t };
}

// ---- (a) raw LMDB ----------------------------------------------------------------

/**
 * The same databases as openState (src/agent/state.ts, mirrored here), opened
 * noSync: what the store costs without one fdatasync per commit.
 */
function openStateNoSync(stateDir: string): State {
  const root = open({ path: join(stateDir, "db"), maxDbs: 8, compression: false, noSync: true });
  return {
    root,
    tokens: root.openDB({ name: "tokens", encoding: "json" }),
    locks: root.openDB({ name: "locks", encoding: "json" }),
    history: root.openDB({ name: "history", encoding: "json" }),
    runs: root.openDB({ name: "runs", encoding: "json" }),
    close: () => root.close(),
    refresh: () => root.resetReadTxn(),
  };
}

async function rawLmdb() {
  const rows: (string | number)[][] = [];
  for (const [label, opener] of [
    ["LockStore, as the agent opens it (durable)", openState],
    ["same store opened noSync (not what keg does)", openStateNoSync],
  ] as const) {
    const state = opener(tempDir("keg-bench-lmdb-"));
    const store = new LockStore(state, 1_800_000);
    for (let i = 0; i < 200; i++) store.releaseCommand(store.acquireCommand(BOX, "bench", "python", false).generation);
    const command = loopFor(seconds * 1000, () => {
      const { generation } = store.acquireCommand(BOX, "bench", "python", false);
      if (!store.releaseCommand(generation)) throw new Error("release failed");
    });
    const user = loopFor(seconds * 1000, () => {
      store.lockUser(BOX, "bench", undefined);
      store.unlockUser(BOX, "bench", false);
    });
    const reads = loopFor(500, () => store.read());
    await state.close();
    const perSecond = (r: { count: number; elapsed: number }) => r.count / (r.elapsed / 1000);
    rows.push(
      [`${label}: acquireCommand + releaseCommand`, perSecond(command).toFixed(0), (2 * perSecond(command)).toFixed(0), ms(command.elapsed / command.count)],
      [`${label}: lockUser + unlockUser`, perSecond(user).toFixed(0), (2 * perSecond(user)).toFixed(0), ms(user.elapsed / user.count)],
      [`${label}: read() (no transaction)`, "", perSecond(reads).toFixed(0), (reads.elapsed / reads.count).toFixed(4)],
    );
  }
  console.log(`== (a) Raw LMDB, in-process, ${seconds} s per row ==\n`);
  console.log(table(["operation", "pairs/s", "transactions/s", "ms per pair"], rows));
  console.log();
}

// ---- (b) HTTP round trips ---------------------------------------------------------

async function http(agent: BenchAgent, tokens: string[]) {
  const post = (token: string, path: string, body: unknown) =>
    fetch(`${agent.url}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    });

  /** `clients` loops for `seconds`; each: lock, and when it got the lock, unlock. */
  async function lockLoops(clients: number) {
    let pairs = 0;
    let refused = 0;
    const end = performance.now() + seconds * 1000;
    const t = performance.now();
    await Promise.all(
      tokens.slice(0, clients).map(async (token) => {
        while (performance.now() < end) {
          const locked = await post(token, "/v1/lock", { box: BOX });
          await locked.arrayBuffer();
          if (locked.status !== 200) {
            refused++;
            continue;
          }
          const unlocked = await post(token, "/v1/unlock", { box: BOX, force: false });
          await unlocked.arrayBuffer();
          if (unlocked.status !== 200) throw new Error(`unlock: ${unlocked.status}`);
          pairs++;
        }
      }),
    );
    const elapsed = (performance.now() - t) / 1000;
    return { pairs: pairs / elapsed, refused: refused / elapsed, requests: (2 * pairs + refused) / elapsed };
  }

  async function healthLoops(clients: number) {
    let count = 0;
    const end = performance.now() + seconds * 1000;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < end) {
          await (await fetch(`${agent.url}/health`)).arrayBuffer();
          count++;
        }
      }),
    );
    return count / ((performance.now() - t) / 1000);
  }

  async function statusLoops(clients: number) {
    let count = 0;
    const end = performance.now() + seconds * 1000;
    const t = performance.now();
    await Promise.all(
      tokens.slice(0, clients).map(async (token) => {
        while (performance.now() < end) {
          await (await fetch(`${agent.url}/v1/status`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer();
          count++;
        }
      }),
    );
    return count / ((performance.now() - t) / 1000);
  }

  await lockLoops(1); // warm-up: connections, JIT
  const one = await lockLoops(1);
  const four = await lockLoops(4);
  const health1 = await healthLoops(1);
  const health4 = await healthLoops(4);
  const status4 = await statusLoops(4);
  console.log(`== (b) Over HTTP on 127.0.0.1 (one bun process, fetch with keep-alive), ${seconds} s per row ==\n`);
  console.log(
    table(
      ["clients", "lock+unlock pairs/s", "refused locks/s", "HTTP requests/s"],
      [
        ["1 client: POST /v1/lock, POST /v1/unlock", one.pairs.toFixed(0), one.refused.toFixed(0), one.requests.toFixed(0)],
        ["4 clients (4 users, one box): lock, unlock when won", four.pairs.toFixed(0), four.refused.toFixed(0), four.requests.toFixed(0)],
        ["baseline 1 client: GET /health (no token, no LMDB)", "", "", health1.toFixed(0)],
        ["baseline 4 clients: GET /health", "", "", health4.toFixed(0)],
        ["baseline 4 clients: GET /v1/status (token check, LMDB reads)", "", "", status4.toFixed(0)],
      ],
    ),
  );
  console.log();
  results.httpPairs = Math.max(one.pairs, four.pairs);
}

// ---- (c) 24 racers in-process -------------------------------------------------------

async function racersInProcess(agent: BenchAgent, tokens: string[]) {
  async function trial(): Promise<number> {
    let release!: () => void;
    const barrier = new Promise<void>((resolve) => (release = resolve));
    const racers = tokens.map(async (token) => {
      await barrier;
      const response = await fetch(`${agent.url}/v1/lock`, {
        method: "POST",
        body: JSON.stringify({ box: BOX }),
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      });
      await response.arrayBuffer();
      return { token, status: response.status };
    });
    const t = performance.now();
    release();
    const answers = await Promise.all(racers);
    const elapsed = performance.now() - t;
    const winners = answers.filter((a) => a.status === 200);
    const others = answers.filter((a) => a.status !== 200).map((a) => a.status);
    if (winners.length !== 1 || others.some((s) => s !== 409)) throw new Error(`race: ${winners.length} winners, others ${others.join(",")}`);
    const unlocked = await fetch(`${agent.url}/v1/unlock`, {
      method: "POST",
      body: JSON.stringify({ box: BOX, force: false }),
      headers: { authorization: `Bearer ${winners[0]!.token}`, "content-type": "application/json" },
    });
    if (unlocked.status !== 200) throw new Error(`unlock after the race: ${unlocked.status}`);
    return elapsed;
  }
  const cold = await trial(); // opens the 24 connections
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await trial());
  results.raceInProcess = times;
  return { cold, times };
}

// ---- (d) 24 keg processes --------------------------------------------------------------

async function racersProcesses(homes: string[]) {
  async function trial(): Promise<number> {
    const t = performance.now();
    const procs = homes.map((home) => Bun.spawn([keg, "boxes", "lock", "--box", BOX], { env: benchEnv({ KEG_HOME: home }), stdout: "pipe", stderr: "pipe" }));
    const codes = await Promise.all(procs.map((p) => p.exited));
    const elapsed = performance.now() - t;
    const winner = codes.indexOf(0);
    if (codes.filter((c) => c === 0).length !== 1 || codes.some((c) => c !== 0 && c !== 75)) {
      const stderr = await Promise.all(procs.map((p) => new Response(p.stderr).text()));
      throw new Error(`race of processes: exit codes ${codes.join(",")}: ${stderr.filter(Boolean).slice(0, 3).join(" | ")}`);
    }
    const unlock = Bun.spawnSync([keg, "boxes", "unlock", "--box", BOX], { env: benchEnv({ KEG_HOME: homes[winner]! }), stdout: "pipe", stderr: "pipe" });
    if (unlock.exitCode !== 0) throw new Error(`unlock after the race: ${unlock.stderr.toString()}`);
    return elapsed;
  }
  await trial(); // warm-up: page cache for the binary
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await trial());
  // Baseline: 24 processes that do nothing but start (keg --version), the floor for any 24-process race here.
  const floor: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await Promise.all(homes.map((home) => Bun.spawn([keg, "--version"], { env: benchEnv({ KEG_HOME: home }), stdout: "ignore", stderr: "ignore" }).exited));
    floor.push(performance.now() - t);
  }
  results.raceProcesses = times;
  return { times, floor };
}

async function main() {
  console.log(`keg locks bench: ${new Date().toISOString()}, ${navigator.hardwareConcurrency} CPUs, ${describeBuild()}\n`);
  await rawLmdb();

  const agent = await startAgent(BOX);
  const users = Array.from({ length: RACERS }, (_, i) => `racer${String(i + 1).padStart(2, "0")}`);
  const tokens = users.map((user) => agent.addUser(user));
  await http(agent, tokens);

  const inProcess = await racersInProcess(agent, tokens);
  const homes = tokens.map((token) => kegHome(agent, BOX, token));
  const processes = await racersProcesses(homes);
  console.log(`== (c, d) ${RACERS} racers for one box, ${trials} trials each: exactly one won every trial, the others got 409 / exit 75 ==\n`);
  console.log(
    table(
      ["race", "median ms", "p90 ms", "max ms", "min ms"],
      [
        [`(c) ${RACERS} POST /v1/lock from one process, after a barrier (connections warm)`, ms(median(inProcess.times)), ms(p90(inProcess.times)), ms(Math.max(...inProcess.times)), ms(Math.min(...inProcess.times))],
        [`(c) the first trial, ${RACERS} new connections`, ms(inProcess.cold), "", "", ""],
        [`(d) ${RACERS} 'keg boxes lock' processes, spawn to all exited`, ms(median(processes.times)), ms(p90(processes.times)), ms(Math.max(...processes.times)), ms(Math.min(...processes.times))],
        [`baseline: ${RACERS} 'keg --version' processes, spawn to all exited (5 trials)`, ms(median(processes.floor)), ms(p90(processes.floor)), ms(Math.max(...processes.floor)), ms(Math.min(...processes.floor))],
      ],
    ),
  );

  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  console.log("\n== Targets ==\n");
  console.log(`≥ 5,000 acquire+release per second over HTTP: best ${results.httpPairs!.toFixed(0)} pairs/s → ${verdict(results.httpPairs! >= 5000)}`);
  const c = results.raceInProcess!;
  const d = results.raceProcesses!;
  console.log(`24 racers resolved within 100 ms: in-process requests median ${ms(median(c))} ms, max ${ms(Math.max(...c))} ms → ${verdict(Math.max(...c) <= 100)}`);
  console.log(`                                  24 keg processes median ${ms(median(d))} ms, max ${ms(Math.max(...d))} ms → ${verdict(Math.max(...d) <= 100)}`);
}

try {
  await main();
} finally {
  await cleanUp();
}

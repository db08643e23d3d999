/**
 * Box locks against their targets, in one run (docs/performance.md "Locks").
 * Build first (`npm run build`), then:
 *
 *   bun bench/locks.ts [--seconds S] [--trials N] [--baseline-agent PATH]
 *                                                   the full tables (and the
 *                                                   HTTP rows of another agent)
 *   bun bench/locks.ts --quick                      one line per target, in ≤ 30 s
 *
 * `--quick` (for `bench:check`; `quickLocks()` is the same, importable) runs
 * 1 s rows, no process race, and prints only lines of the form
 * `<what>: <measured> (target <target>) → met|NOT met`.
 *
 * (a) the store in this process, on a temp state dir opened as the agent
 *     opens it: command-lock acquire + release pairs (the volatile, never
 *     synced environment), user lock + unlock one durable transaction each,
 *     and user lock + unlock by group commit from 16 concurrent callers
 *     (how many requests each sync answered);
 * (b) over HTTP on 127.0.0.1 (fetch, keep-alive, one bun process):
 *     POST /v1/lock then POST /v1/unlock from 1, 4 and 16 concurrent clients
 *     of one user (every answer a 200 of a synced state; the real changes
 *     among them counted apart), and from 4 and 16 clients of as many users
 *     racing for the one box (lock, unlock when won), against GET /health
 *     and GET /v1/status;
 * (c) 24 racers: 24 users' POST /v1/lock fired at once after a barrier,
 *     exactly one 200 and 23 × 409 checked every trial;
 * (d) the same race with 24 real `keg boxes lock` processes.
 *
 * Targets: ≥ 5,000 user lock+unlock pairs/s over HTTP with 16 concurrent
 * clients, durable (judged on pairs of real changes); ≥ 20,000 command-lock acquire+release pairs/s in the
 * store; 24 simultaneous requests, exactly one winner, within 100 ms.
 * The agent and every temp dir are removed at the end.
 * @module
 */
import { openState } from "../src/agent/state.ts";
import { LockStore } from "../src/lock/store.ts";
import { benchEnv, cleanUp, describeBuild, keg, kegHome, ms, requireBinaries, startAgent, stopProcess, table, tempDir, type BenchAgent } from "./harness.ts";
import { argValue, median, p90 } from "./lib.ts";

const BOX = "lab";
const RACERS = 24;
const TARGET_HTTP_PAIRS = 5000;
const TARGET_COMMAND_PAIRS = 20_000;
const TARGET_RACE_MS = 100;

type Rate = { count: number; elapsed: number };
const perSecond = (r: Rate) => r.count / (r.elapsed / 1000);
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const verdict = (ok: boolean) => (ok ? "→ met" : "→ NOT met");

/** Runs `step` back to back for `ms` milliseconds; how many completed. */
function loopFor(ms: number, step: () => void): Rate {
  const t = performance.now();
  let count = 0;
  while (performance.now() - t < ms) {
    step();
    count++;
  }
  return { count, elapsed: performance.now() - t };
}

// ---- (a) the store in-process ------------------------------------------------------

type StoreFigures = { command: Rate; userEach: Rate; grouped: Rate & { commits: number } };

async function storeFigures(seconds: number, full: boolean): Promise<StoreFigures> {
  const state = openState(tempDir("keg-bench-lmdb-"));
  const store = new LockStore(state, 1_800_000);
  store.clearCommandLock();
  for (let i = 0; i < 200; i++) store.releaseCommand(store.acquireCommand(BOX, "bench", "python", false).generation);
  const command = loopFor(seconds * 1000, () => {
    const { generation } = store.acquireCommand(BOX, "bench", "python", false);
    if (!store.releaseCommand(generation)) throw new Error("release failed");
  });
  const userEach = full
    ? loopFor(seconds * 1000, () => {
        store.lockUser(BOX, "bench", undefined);
        store.unlockUser(BOX, "bench", false);
      })
    : { count: 0, elapsed: 1 };
  // 16 callers of one user, each: lock, then unlock, awaited, by group commit.
  const before = { ...store.stats };
  let pairs = 0;
  const end = performance.now() + seconds * 1000;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) {
        await store.lockUserGrouped(BOX, "bench", undefined);
        await store.unlockUserGrouped(BOX, "bench", false);
        pairs++;
      }
    }),
  );
  const grouped = { count: pairs, elapsed: performance.now() - t, commits: store.stats.commits - before.commits };
  await state.close();
  return { command, userEach, grouped };
}

function printStore(seconds: number, f: StoreFigures) {
  console.log(`== (a) The store in this process, ${seconds} s per row ==\n`);
  console.log(
    table(
      ["operation", "pairs/s", "transactions/s", "ms per pair"],
      [
        ["acquireCommand + releaseCommand (volatile environment, never synced)", fmt(perSecond(f.command)), fmt(2 * perSecond(f.command)), (f.command.elapsed / f.command.count).toFixed(4)],
        ["lockUser + unlockUser, one durable transaction (one sync) each", fmt(perSecond(f.userEach)), fmt(2 * perSecond(f.userEach)), ms(f.userEach.elapsed / f.userEach.count)],
        [
          `lockUserGrouped + unlockUserGrouped, 16 callers of one user (${(2 * f.grouped.count / Math.max(1, f.grouped.commits)).toFixed(1)} requests per sync)`,
          fmt(perSecond(f.grouped)),
          `${fmt(f.grouped.commits / (f.grouped.elapsed / 1000))} syncs/s`,
          "",
        ],
      ],
    ),
  );
  console.log();
}

// ---- (b) HTTP round trips ---------------------------------------------------------

/** per second: pairs answered 200, refused locks, requests, and real changes (an unlock that unlocked, with the lock before it) */
type Loops = { pairs: number; refused: number; requests: number; changes: number };

function poster(agent: BenchAgent) {
  return (token: string, path: string, body: unknown) =>
    fetch(`${agent.url}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    });
}

/**
 * `tokens.length` clients loop for `seconds`; each: lock, and when it got the
 * lock (200), unlock (200). One token given N times: N clients of one user,
 * every answer a 200; N tokens: N users racing for the box.
 */
async function lockLoops(agent: BenchAgent, tokens: string[], seconds: number): Promise<Loops> {
  const post = poster(agent);
  let pairs = 0;
  let refused = 0;
  let unlocked = 0;
  const end = performance.now() + seconds * 1000;
  const t = performance.now();
  await Promise.all(
    tokens.map(async (token) => {
      while (performance.now() < end) {
        const locked = await post(token, "/v1/lock", { box: BOX });
        await locked.arrayBuffer();
        if (locked.status !== 200) {
          if (locked.status !== 409) throw new Error(`lock: ${locked.status}`);
          refused++;
          continue;
        }
        const unlock = await post(token, "/v1/unlock", { box: BOX, force: false });
        const { message } = (await unlock.json()) as { message: string };
        if (unlock.status !== 200) throw new Error(`unlock: ${unlock.status}`);
        // Clients of one user find the lock theirs already, or gone already, as often as not: those answers change nothing.
        if (message.endsWith(" unlocked")) unlocked++;
        pairs++;
      }
    }),
  );
  const elapsed = (performance.now() - t) / 1000;
  return { pairs: pairs / elapsed, refused: refused / elapsed, requests: (2 * pairs + refused) / elapsed, changes: (2 * unlocked) / elapsed };
}

async function getLoops(agent: BenchAgent, clients: number, path: string, token: string | undefined, seconds: number) {
  let count = 0;
  const end = performance.now() + seconds * 1000;
  const t = performance.now();
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        await (await fetch(`${agent.url}${path}`, { headers })).arrayBuffer();
        count++;
      }
    }),
  );
  return count / ((performance.now() - t) / 1000);
}

const times = <T>(n: number, value: T) => Array.from({ length: n }, () => value);

async function http(agent: BenchAgent, tokens: string[], seconds: number) {
  await lockLoops(agent, times(16, tokens[0]!), 1); // warm-up: connections, JIT
  const one = await lockLoops(agent, [tokens[0]!], seconds);
  const four = await lockLoops(agent, times(4, tokens[0]!), seconds);
  const sixteen = await lockLoops(agent, times(16, tokens[0]!), seconds);
  const race4 = await lockLoops(agent, tokens.slice(0, 4), seconds);
  const race16 = await lockLoops(agent, tokens.slice(0, 16), seconds);
  const health1 = await getLoops(agent, 1, "/health", undefined, seconds);
  const health16 = await getLoops(agent, 16, "/health", undefined, seconds);
  const status16 = await getLoops(agent, 16, "/v1/status", tokens[0], seconds);
  console.log(`== (b) Over HTTP on 127.0.0.1 (one bun process, fetch with keep-alive), ${seconds} s per row, every 200 synced ==\n`);
  console.log(
    table(
      ["clients", "pairs answered 200 /s", "real changes /s", "refused locks/s", "HTTP requests/s"],
      [
        ["1 client: POST /v1/lock, POST /v1/unlock", fmt(one.pairs), fmt(one.changes), "", fmt(one.requests)],
        ["4 clients of one user, each: lock, unlock", fmt(four.pairs), fmt(four.changes), "", fmt(four.requests)],
        ["16 clients of one user, each: lock, unlock", fmt(sixteen.pairs), fmt(sixteen.changes), "", fmt(sixteen.requests)],
        ["4 users racing for the box: lock, unlock when won", fmt(race4.pairs), fmt(race4.changes), fmt(race4.refused), fmt(race4.requests)],
        ["16 users racing for the box: lock, unlock when won", fmt(race16.pairs), fmt(race16.changes), fmt(race16.refused), fmt(race16.requests)],
        ["baseline 1 client: GET /health (no token, no LMDB)", "", "", "", fmt(health1)],
        ["baseline 16 clients: GET /health", "", "", "", fmt(health16)],
        ["baseline 16 clients: GET /v1/status (token check, LMDB reads)", "", "", "", fmt(status16)],
      ],
    ),
  );
  console.log();
  return { one, four, sixteen, race4, race16 };
}

// ---- (c) 24 racers in-process -------------------------------------------------------

async function raceOnce(agent: BenchAgent, tokens: string[]): Promise<number> {
  const post = poster(agent);
  let release!: () => void;
  const barrier = new Promise<void>((resolve) => (release = resolve));
  const racers = tokens.map(async (token) => {
    await barrier;
    const response = await post(token, "/v1/lock", { box: BOX });
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
  const unlocked = await post(winners[0]!.token, "/v1/unlock", { box: BOX, force: false });
  if (unlocked.status !== 200) throw new Error(`unlock after the race: ${unlocked.status}`);
  return elapsed;
}

async function racersInProcess(agent: BenchAgent, tokens: string[], trials: number) {
  const cold = await raceOnce(agent, tokens); // opens the 24 connections
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await raceOnce(agent, tokens));
  return { cold, times };
}

// ---- (d) 24 keg processes --------------------------------------------------------------

async function racersProcesses(homes: string[], trials: number) {
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
  return { times, floor };
}

// ---- targets -------------------------------------------------------------------------

type TargetFigures = { http16: Loops; commandPairs: number; race: number[] };

/**
 * The HTTP target counts pairs of real changes (an unlock that unlocked and
 * the lock it undid), each synced before its answer: of 16 clients of one
 * user many answers are "already yours" or "not locked", which change and
 * sync nothing, so the pairs answered 200 are printed beside it, not judged.
 */
function targetLines(f: TargetFigures): string[] {
  const pairs = f.http16.changes / 2;
  return [
    `user lock+unlock pairs/s over HTTP, 16 clients, real changes each synced before its 200: ${fmt(pairs)} (target ≥ ${fmt(TARGET_HTTP_PAIRS)}; ${fmt(f.http16.pairs)} pairs answered 200) ${verdict(pairs >= TARGET_HTTP_PAIRS)}`,
    `command-lock acquire+release pairs/s in the store: ${fmt(f.commandPairs)} (target ≥ ${fmt(TARGET_COMMAND_PAIRS)}) ${verdict(f.commandPairs >= TARGET_COMMAND_PAIRS)}`,
    `24 simultaneous POST /v1/lock, one winner every trial, slowest: ${ms(Math.max(...f.race))} ms over ${f.race.length} trials (target ≤ ${TARGET_RACE_MS} ms) ${verdict(Math.max(...f.race) <= TARGET_RACE_MS)}`,
  ];
}

async function agentWithUsers(binary?: string) {
  const agent = await startAgent(BOX, [], binary);
  const users = Array.from({ length: RACERS }, (_, i) => `racer${String(i + 1).padStart(2, "0")}`);
  return { agent, tokens: users.map((user) => agent.addUser(user)) };
}

/**
 * The quick version for bench:check: one line per target, in ≤ 30 s (~7 s
 * here). It stops its agent; its temp dirs go with harness's `cleanUp()`.
 */
export async function quickLocks(): Promise<string[]> {
  requireBinaries();
  const store = await storeFigures(1, false);
  const { agent, tokens } = await agentWithUsers();
  try {
    await lockLoops(agent, times(16, tokens[0]!), 0.5); // warm-up
    const sixteen = await lockLoops(agent, times(16, tokens[0]!), 2);
    await raceOnce(agent, tokens);
    const race: number[] = [];
    for (let i = 0; i < 5; i++) race.push(await raceOnce(agent, tokens));
    return targetLines({ http16: sixteen, commandPairs: perSecond(store.command), race });
  } finally {
    await stopProcess(agent.proc);
  }
}

async function main() {
  const seconds = Number(argValue("--seconds") ?? 3);
  const trials = Number(argValue("--trials") ?? 20);
  requireBinaries();
  console.log(`keg locks bench: ${new Date().toISOString()}, ${navigator.hardwareConcurrency} CPUs, ${describeBuild()}\n`);
  const store = await storeFigures(seconds, true);
  printStore(seconds, store);

  const { agent, tokens } = await agentWithUsers();
  const figures = await http(agent, tokens, seconds);
  const baseline = argValue("--baseline-agent");
  if (baseline) {
    // The same rows against another keg-agent (an older build), in the same run.
    console.log(`(the same against ${baseline})`);
    const other = await agentWithUsers(baseline);
    await http(other.agent, other.tokens, seconds);
  }

  const inProcess = await racersInProcess(agent, tokens, trials);
  const homes = tokens.map((token) => kegHome(agent, BOX, token));
  const processes = await racersProcesses(homes, trials);
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

  console.log("\n== Targets ==\n");
  for (const line of targetLines({ http16: figures.sixteen, commandPairs: perSecond(store.command), race: inProcess.times })) console.log(line);
  const d = processes.times;
  console.log(`24 racing 'keg boxes lock' processes, spawn to all exited: median ${ms(median(d))} ms (target ≤ ${TARGET_RACE_MS} ms; ${RACERS} 'keg --version' alone: ${ms(median(processes.floor))} ms) ${verdict(Math.max(...d) <= TARGET_RACE_MS)}`);
}

if (import.meta.main) {
  try {
    if (process.argv.includes("--quick")) for (const line of await quickLocks()) console.log(line);
    else await main();
  } finally {
    await cleanUp();
  }
}

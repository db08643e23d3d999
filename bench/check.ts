/**
 * A quick version of every target of docs/performance.md, one line each:
 *   `<what>: <measured> (target <target>) → met` or `→ NOT met`.
 * `npm run bench:check` builds first; then `bun bench/check.ts [--runs N]
 * [--stream-runs N]`. It reports and exits 0 whatever it measured (a bench,
 * not a test); it fails only when it cannot measure at all. The detailed
 * tables are `npm run bench`'s; the figures here come from fewer runs
 * where a row says so, on whatever else the machine is doing (the load
 * average is printed before and after).
 *
 * Rows: run overhead (a person's spacing, back to back), the warm
 * interpreter (`serve --warm-python`; said to be missing when the agent
 * refuses the flag), 1 GiB of stdout against ssh, locks (bench/locks.ts
 * --quick, when it has that mode), memory (stalled client, fast reader),
 * start-up, and the floor (the least a compiled client costs here: bench/floor.ts).
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  benchEnv,
  cleanUp,
  describeBuild,
  dropFinishedSpools,
  GiB,
  keg,
  kegHome,
  MB,
  memorySampler,
  realPython,
  requireBinaries,
  root,
  rssKiB,
  runOk,
  stalledClient,
  startAgent,
  startSshd,
  tempDir,
  timeStream,
  waitForSpare,
  waitForSpareSync,
  type BenchAgent,
  type Sshd,
  type StreamCommand,
} from "./harness.ts";
import { argValue, median, timeAll, type Command } from "./lib.ts";
import { fastReaderLine, overheadLine, stalledLine, startupLines, streamLines } from "./targets.ts";
import { measureWarm, warmLines } from "./warm.ts";
import { floorLine, measureFloor, streamFloorCommands, streamFloorLine } from "./floor.ts";

const runs = Number(argValue("--runs") ?? 30);
const streamRuns = Number(argValue("--stream-runs") ?? 3);
const BOX = "lab";

const started = performance.now();
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
/** Target lines are printed as they are measured: the bench takes minutes. */
const print = (lines: string[]) => {
  for (const line of lines) console.log(line);
};

requireBinaries();

async function main() {
  const work = tempDir("keg-bench-check-");
  writeFileSync(join(work, "empty.py"), "");
  const python = realPython();
  const cpu = /^Model name:\s*(.+)$/m.exec(Bun.spawnSync(["lscpu"], { stdout: "pipe" }).stdout.toString())?.[1]?.trim() ?? "?";
  console.log(
    `keg bench:check ${new Date().toISOString()}: ${navigator.hardwareConcurrency} CPUs (${cpu}), load average ${loadAverage()}, ${describeBuild()}, interpreter ${python}`,
  );

  startup();
  const agent = await startAgent(BOX, ["--log-limit", "2048"]);
  const token = agent.addUser("bench");
  const home = kegHome(agent, BOX, token);
  const kegEnv = benchEnv({ KEG_HOME: home });
  const sshd = await startSshd();

  // Seconds per part on stderr: the whole must stay within about three minutes on 2 CPUs.
  const timed = async (part: string, fn: () => unknown) => {
    const t = performance.now();
    await fn();
    console.error(`  (${part}: ${((performance.now() - t) / 1000).toFixed(0)} s)`);
  };
  await timed("run overhead", () => overhead(work, python, agent, kegEnv));
  await timed("floor", async () => print([floorLine(await measureFloor(venvPython(agent) ?? python, join(work, "empty.py"), runs))]));
  await timed("warm interpreter", () => warm(work, python, sshd));
  await timed("locks", () => locks());
  await timed("streaming", () => streaming(work, agent, kegEnv, sshd));
  await timed("stalled client", () => stalled(work, agent, kegEnv));
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s, load average ${loadAverage()}`);
}

// ---- 1. run overhead -----------------------------------------------------------

const venvPython = (agent: BenchAgent) => {
  const path = join(agent.stateDir, "venv", "bin", "python");
  return existsSync(path) ? path : undefined;
};

function overhead(work: string, python: string, agent: BenchAgent, kegEnv: Record<string, string>) {
  const run = [keg, "python", "run", "empty.py", "--box", BOX];
  // One run first: it waits for the venv the agent makes at start, whose python is the second baseline.
  runOk(run, { KEG_HOME: kegEnv.KEG_HOME! }, work);
  const venvInterpreter = venvPython(agent);
  const local: Command = { label: "local", cmd: [python, join(work, "empty.py")], env: benchEnv(), cwd: work };
  const venv: Command[] = venvInterpreter ? [{ label: "venv", cmd: [venvInterpreter, join(work, "empty.py")], env: benchEnv(), cwd: work }] : [];
  // A person's spacing: the agent has its spare supervisor ready (refilled 100 ms after a run ends).
  const [spaced, spacedLocal, spacedVenv] = timeAll([{ label: "keg", cmd: run, env: kegEnv, cwd: work, before: () => waitForSpareSync(agent.pid) }, local, ...venv], { runs });
  print([overheadLine("a person's spacing", spaced!, spacedLocal!, spacedVenv)]);
  // Back to back, as a loop in a script starts them: the next right after the last one's end.
  const [b2b, b2bLocal, b2bVenv] = timeAll([{ label: "keg", cmd: run, env: kegEnv, cwd: work }, local, ...venv], { runs });
  print([overheadLine("back to back", b2b!, b2bLocal!, b2bVenv)]);
}

async function warm(work: string, python: string, sshd: Sshd | undefined) {
  print(warmLines(await measureWarm(work, python, sshd, Math.min(runs, 10))));
}

// ---- 3. streaming ---------------------------------------------------------------------

async function streaming(work: string, agent: BenchAgent, kegEnv: Record<string, string>, sshd: Sshd | undefined) {
  const produce = ["head", "-c", String(GiB), "/dev/zero"];
  const commands: StreamCommand[] = [{ label: "keg", cmd: [keg, "exec", "--box", BOX, "--", ...produce], env: kegEnv, cwd: work }];
  if (sshd) {
    commands.push(
      { label: "ssh default", cmd: ["ssh", ...sshd.base, "127.0.0.1", produce.join(" ")], env: sshd.env(true) },
      { label: "ssh aes128-gcm", cmd: ["ssh", ...sshd.base, "-c", "aes128-gcm@openssh.com", "127.0.0.1", produce.join(" ")], env: sshd.env(true) },
    );
  }
  const floors = commands.length;
  commands.push(...streamFloorCommands(GiB, tempDir("keg-bench-floor-")));
  const samples = commands.map(() => [] as number[]);
  let agentMax = 0;
  for (let round = 0; round < streamRuns; round++) {
    for (const [i, command] of commands.entries()) {
      if (i === 0) await waitForSpare(agent.pid);
      const sampler = i === 0 ? memorySampler(agent.pid) : undefined;
      samples[i]!.push((await timeStream(command)).ms);
      if (sampler) agentMax = Math.max(agentMax, sampler.stop().agent);
      if (i === 0) dropFinishedSpools(agent);
    }
  }
  // The agent after serving 1 GiB to a fast reader: a second after the last keg stream ended.
  await Bun.sleep(1000);
  const agentAfter = rssKiB(agent.pid) ?? 0;
  const rate = (list: number[]) => GiB / MB / (median(list) / 1000);
  const [kegRate, defaultRate, aesRate] = samples.slice(0, floors).map(rate);
  const [copiesRate, spooledRate] = samples.slice(floors).map(rate);
  print([...streamLines(kegRate!, defaultRate, aesRate, streamRuns), streamFloorLine(copiesRate!, spooledRate!, kegRate!), fastReaderLine(agentAfter, agentMax)]);
}

// ---- 4. locks ---------------------------------------------------------------------

function locks() {
  const bench = join(root, "bench", "locks.ts");
  if (!existsSync(bench) || !readFileSync(bench, "utf8").includes("--quick")) {
    console.log("locks: not available (bench/locks.ts has no --quick mode in this checkout) (target ≥ 5,000 user lock+unlock pairs/s, command locks ≥ 20,000 pairs/s) → NOT met");
    return;
  }
  const result = Bun.spawnSync([process.execPath, bench, "--quick"], { cwd: root, env: benchEnv(), stdout: "pipe", stderr: "pipe" });
  const lines = result.stdout.toString().split("\n").filter((line) => /→ (met|NOT met)\s*$/.test(line));
  if (result.exitCode !== 0 || !lines.length) {
    console.log(`locks: bench/locks.ts --quick exited ${result.exitCode} with no target line (${result.stderr.toString().trim().split("\n").pop() ?? ""}) → NOT met`);
    return;
  }
  for (const line of lines) console.log(line.trim().startsWith("locks") ? line.trim() : `locks: ${line.trim()}`);
}

// ---- 5. memory with a stalled client -----------------------------------------------------

async function stalled(work: string, agent: BenchAgent, kegEnv: Record<string, string>) {
  const seen = await stalledClient(work, agent, BOX, kegEnv);
  dropFinishedSpools(agent);
  print([stalledLine(seen.memory.pssTotal, seen.memory.agent, seen.memory.supervisor, seen.received, GiB)]);
}

// ---- 6. start-up ---------------------------------------------------------------------

function startup() {
  const python = "/usr/bin/python3";
  if (!existsSync(python)) {
    console.log("start-up: no /usr/bin/python3 (Debian's) here to compare with (target keg --version ≤ 0.6× python3 -c pass) → NOT met");
    return;
  }
  const env = benchEnv();
  const [version, help, py] = timeAll(
    [
      { label: "keg --version", cmd: [keg, "--version"], env },
      { label: "keg --help", cmd: [keg, "--help"], env },
      { label: "python3 -c pass", cmd: [python, "-c", "pass"], env },
    ],
    { runs },
  );
  print(startupLines(version!, help!, py!));
}

try {
  await main();
} finally {
  await cleanUp();
}

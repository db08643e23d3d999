/**
 * A fleet of local agents, in one run (docs/performance.md "Fleet").
 * Build first (`npm run build`), then: bun bench/fleet.ts [--runs N]
 *
 * (a) `keg update --all` on 20 agents that run an older build (each from a
 *     copy of its own, since an update renames over its executable), to the
 *     keg-agent beside keg: wall time, every line `updated to`;
 * (b) `keg boxes list` on 50 agents, all answering: N runs;
 * (c) the same with one of them stopped (SIGSTOP: it accepts connections and
 *     never answers, the worst kind of offline): a few runs.
 *
 * Targets: (a) within 10 s; (b) within 0.5 s; (c) within 3.2 s.
 * Every agent and temp dir is removed at the end.
 * @module
 */
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchEnv, cleanUp, describeBuild, keg, kegAgent, ms, realPython, requireBinaries, root, startAgent, table, tempDir, type BenchAgent } from "./harness.ts";
import { argValue, median, p90 } from "./lib.ts";

const runs = Number(argValue("--runs") ?? 10);
const UPDATED = 20;
const LISTED = 50;
const OLD = "0.0.1-bench";

requireBinaries();
// A box's python3 is a plain executable; here it is a pyenv shim that every (re)start would pay ~100 ms of CPU for.
const python = realPython();

function oldAgentBinary(): string {
  const outdir = tempDir("keg-bench-old-");
  const built = Bun.spawnSync([process.execPath, "build/compile.ts", "--version", OLD, "--outdir", outdir, "--only", "keg-agent"], { cwd: root, stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`building keg-agent ${OLD} failed: ${built.stderr}`);
  return join(outdir, "keg-agent");
}

function ownCopy(binary: string): string {
  const path = join(tempDir("keg-bench-exe-"), "keg-agent");
  copyFileSync(binary, path);
  chmodSync(path, 0o755);
  return path;
}

/** A KEG_HOME listing `agents` as box-1…box-N for user bench (written directly: `boxes add` is not what is measured). */
function homeWith(agents: BenchAgent[], tokens: string[]): string {
  const home = tempDir("keg-bench-home-");
  const boxes = agents.map((agent, i) => ({ name: `box-${String(i + 1).padStart(2, "0")}`, address: agent.url, token: tokens[i], user: "bench" }));
  writeFileSync(join(home, "boxes.json"), JSON.stringify({ boxes }), { mode: 0o600 });
  return home;
}

function timedKeg(args: string[], home: string): { ms: number; cpuMs: number; code: number; stdout: string } {
  const started = performance.now();
  const result = Bun.spawnSync([keg, ...args], { env: benchEnv({ KEG_HOME: home }), stdout: "pipe", stderr: "pipe" });
  const cpu = result.resourceUsage?.cpuTime;
  return { ms: performance.now() - started, cpuMs: cpu ? Number(cpu.user + cpu.system) / 1000 : NaN, code: result.exitCode, stdout: result.stdout.toString() };
}

/** CPU ms a process and its reaped children used so far (/proc/PID/stat; kept across exec, so an updated agent counts whole). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const ticks = [11, 12, 13, 14].reduce((sum, at) => sum + Number(fields[at]), 0);
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function startMany(count: number, binary: () => string): Promise<BenchAgent[]> {
  const agents: BenchAgent[] = [];
  // A few at a time: 2 CPUs, and each start extracts the embedded addons.
  for (let at = 0; at < count; at += 5)
    agents.push(...(await Promise.all(Array.from({ length: Math.min(5, count - at) }, (_, i) => startAgent(`box-${at + i + 1}`, ["--python", python], binary())))));
  return agents;
}

try {
  console.log(`# Fleet bench: ${describeBuild()}, ${new Date().toISOString().slice(0, 16)}Z, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`);
  const old = oldAgentBinary();
  const fleet = await startMany(UPDATED, () => ownCopy(old));
  const fleetTokens = fleet.map((agent) => agent.addUser("bench"));
  const fleetHome = homeWith(fleet, fleetTokens);
  const agentCpuBefore = fleet.reduce((sum, agent) => sum + cpuMsOf(agent.pid), 0);
  const update = timedKeg(["update", "--all"], fleetHome);
  const agentCpu = fleet.reduce((sum, agent) => sum + cpuMsOf(agent.pid), 0) - agentCpuBefore;
  const lines = update.stdout.trimEnd().split("\n");
  const updatedLines = lines.filter((line) => / updated to /.test(line)).length;
  if (update.code !== 0 || updatedLines !== UPDATED) throw new Error(`update --all: exit ${update.code}, ${updatedLines} of ${UPDATED} updated:\n${update.stdout}`);
  const again = timedKeg(["update", "--all"], fleetHome);

  const more = await startMany(LISTED - UPDATED, () => kegAgent);
  const all = [...fleet, ...more];
  const allTokens = [...fleetTokens, ...more.map((agent) => agent.addUser("bench"))];
  const listHome = homeWith(all, allTokens);
  const list = (label: string, count: number) => {
    timedKeg(["boxes", "list"], listHome); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const run = timedKeg(["boxes", "list", "--json"], listHome);
      if (run.code !== 0) throw new Error(`${label}: boxes list exited ${run.code}`);
      samples.push(run.ms);
    }
    return { label, samples, rows: JSON.parse(timedKeg(["boxes", "list", "--json"], listHome).stdout) as { status: string }[] };
  };
  const online = list(`${LISTED} agents, all answering`, runs);
  if (online.rows.some((row) => row.status !== "current")) throw new Error("boxes list: a box is not current");
  const stopped = all[LISTED - 1]!;
  process.kill(stopped.pid, "SIGSTOP");
  const offline = list(`${LISTED} agents, one stopped (offline)`, Math.min(runs, 3));
  process.kill(stopped.pid, "SIGCONT");
  if (offline.rows.filter((row) => row.status === "offline").length !== 1) throw new Error("boxes list: not exactly one offline box");

  console.log(
    table(
      ["measure", "runs", "median ms", "p90 ms", "max ms", "target"],
      [
        [`update --all, ${UPDATED} agents (${OLD} → current)`, 1, ms(update.ms), "", "", "10,000"],
        [`update --all again, ${UPDATED} agents already at it`, 1, ms(again.ms), "", "", ""],
        [`  CPU of that update: keg ${ms(update.cpuMs)} ms, the ${UPDATED} agents ${ms(agentCpu)} ms`, "", ms((update.cpuMs + agentCpu) / 2), "", "", "(÷ 2 CPUs)"],
        [`boxes list, ${online.label}`, online.samples.length, ms(median(online.samples)), ms(p90(online.samples)), ms(Math.max(...online.samples)), "500"],
        [`boxes list, ${offline.label}`, offline.samples.length, ms(median(offline.samples)), ms(p90(offline.samples)), ms(Math.max(...offline.samples)), "3,200"],
      ],
    ),
  );
} finally {
  await cleanUp();
}

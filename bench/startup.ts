/**
 * Start-up time of the compiled CLI against Python's (docs/performance.md "Start-up").
 * Build first (`npm run build`), then: bun bench/startup.ts [--runs N]
 *
 * Prints the median and p90 wall time of `keg --version`, `keg --help`,
 * `keg boxes list` with three local agents registered, and `python3 -c pass`
 * with the real interpreter (the PATH python3 here is a pyenv shim costing
 * ~100 ms: docs/development.md "Processes"), the Debian system one and the shim apart.
 * Target: keg --version and --help no slower than python3 -c pass.
 * @module
 */
import { existsSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, timeAll, type Command, type Summary } from "./lib.ts";
import { startupLines } from "./targets.ts";

const root = join(import.meta.dir, "..");
const keg = join(root, "dist", "keg");
const kegAgent = join(root, "dist", "keg-agent");
const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;

for (const bin of [keg, kegAgent]) if (!existsSync(bin)) throw new Error(`${bin} is missing: run 'npm run build' first`);

/** The environment the CLI runs in: no NODE_ENV (bun sets it for tests), no colour. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...extra };
  for (const key of ["NODE_ENV", "KEG_BOX", "KEG_TOKEN"]) delete base[key];
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

type RunningAgent = { url: string; stateDir: string; proc: ReturnType<typeof Bun.spawn> };

async function startAgent(name: string): Promise<RunningAgent> {
  const stateDir = mkdtempSync(join(tmpdir(), "keg-bench-agent-"));
  const proc = Bun.spawn([kegAgent, "serve", "--listen", "127.0.0.1:0", "--state-dir", stateDir, "--name", name], {
    env: env(),
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`keg-agent exited before listening: ${seen}`);
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const url = /listening on (\S+)/.exec(seen)?.[1];
  if (!url) throw new Error(`unexpected first line: ${seen}`);
  return { url, stateDir, proc };
}

function run(cmd: string[], extraEnv: Record<string, string> = {}): string {
  const result = Bun.spawnSync(cmd, { env: env(extraEnv), stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`'${cmd.join(" ")}' exited ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

/** python3 on PATH, what it really runs, and Debian's own /usr/bin/python3. */
function pythons(): Command[] {
  const onPath = Bun.which("python3");
  if (!onPath) return [];
  const real = run([onPath, "-c", "import sys; print(sys.executable)"]);
  const commands: Command[] = [{ label: `python3 -c pass (${real})`, cmd: [real, "-c", "pass"], env: env() }];
  if (existsSync("/usr/bin/python3") && realpathSync("/usr/bin/python3") !== realpathSync(real))
    commands.push({ label: "python3 -c pass (/usr/bin/python3, Debian)", cmd: ["/usr/bin/python3", "-c", "pass"], env: env() });
  if (realpathSync(onPath) !== realpathSync(real))
    commands.push({ label: `python3 -c pass (PATH shim ${onPath})`, cmd: [onPath, "-c", "pass"], env: env() });
  return commands;
}

const agents: RunningAgent[] = [];
const home = mkdtempSync(join(tmpdir(), "keg-bench-home-"));
const cleanUp = async () => {
  for (const agent of agents) agent.proc.kill("SIGKILL");
  await Promise.all(agents.map((a) => a.proc.exited));
  for (const dir of [home, ...agents.map((a) => a.stateDir)]) rmSync(dir, { recursive: true, force: true });
};
process.once("SIGINT", () => void cleanUp().then(() => process.exit(130)));

let rows: Summary[];
try {
  for (const name of ["bench-a", "bench-b", "bench-c"]) agents.push(await startAgent(name));
  for (const [i, agent] of agents.entries()) {
    const token = run([kegAgent, "users", "add", "bench", "--state-dir", agent.stateDir]);
    run([keg, "boxes", "add", "--name", `box-${i + 1}`, "--address", agent.url, "--token", token], { KEG_HOME: home });
  }
  const kegEnv = env({ KEG_HOME: home });
  const commands: Command[] = [
    { label: "keg --version", cmd: [keg, "--version"], env: kegEnv },
    { label: "keg --help", cmd: [keg, "--help"], env: kegEnv },
    { label: "keg boxes list (3 local agents)", cmd: [keg, "boxes", "list"], env: kegEnv },
    { label: "keg-agent --version", cmd: [kegAgent, "--version"], env: kegEnv },
    ...pythons(),
  ];
  // Sanity: the list really reaches three current boxes, not three offline ones.
  const listed = JSON.parse(run([keg, "boxes", "list", "--json"], { KEG_HOME: home })) as { status: string }[];
  if (listed.length !== 3 || listed.some((b) => b.status !== "current")) throw new Error(`boxes list: ${JSON.stringify(listed)}`);
  rows = timeAll(commands, { runs, warmup: 3 });
} finally {
  await cleanUp();
}

console.log(`keg start-up, ${runs} runs each (interleaved, 3 warm-up rounds), wall time from spawn to exit\n`);
console.log(formatTable(rows));
// The target compares with every real interpreter (not the shim): the pyenv
// one may pay for its site-packages, the Debian one is the bare baseline.
const baselines = rows.filter((r) => r.label.startsWith("python3 -c pass (") && !r.label.includes("shim"));
for (const python of baselines) {
  console.log(`\ntarget: no slower than ${python.label}, median ${python.median.toFixed(1)} ms`);
  for (const label of ["keg --version", "keg --help"]) {
    const row = rows.find((r) => r.label === label)!;
    console.log(`  ${label.padEnd(13)} ${row.median.toFixed(1).padStart(6)} ms  ${row.median <= python.median ? "met" : "NOT met"}`);
  }
}

// The bar of docs/performance.md: --version ≤ 0.6× Debian's python3 -c pass, --help ≤ it.
const debian = rows.find((r) => r.label.includes("/usr/bin/python3, Debian"));
if (debian) {
  console.log("\n== Targets ==\n");
  console.log(startupLines(rows.find((r) => r.label === "keg --version")!, rows.find((r) => r.label === "keg --help")!, debian).join("\n"));
}

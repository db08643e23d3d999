/**
 * Set-up shared by bench/run.ts and bench/locks.ts: a clean environment for
 * the compiled binaries, a keg-agent on 127.0.0.1 port 0 with a temp state
 * dir, users and a KEG_HOME, a throwaway sshd on 127.0.0.1 (docs/development.md
 * "Baselines for bench/"), and one clean-up list that kills every process and
 * removes every temp dir a bench started, also on Ctrl-C.
 * @module
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GiB } from "./lib.ts";

export { GiB, MB, ms } from "./lib.ts";

export const root = join(import.meta.dir, "..");
/** The binaries under test: copies of dist/ once requireBinaries() ran. */
export let keg = join(root, "dist", "keg");
export let kegAgent = join(root, "dist", "keg-agent");

/**
 * Copies dist/keg and dist/keg-agent to a temp dir and benches the copies: a
 * rebuild of dist/ during the bench (the agent re-executes its own binary for
 * every run's supervisor) would otherwise fail runs with ETXTBSY or mix builds.
 */
export function requireBinaries(): void {
  const dir = tempDir("keg-bench-bin-");
  for (const name of ["keg", "keg-agent"]) {
    const source = join(root, "dist", name);
    if (!existsSync(source)) throw new Error(`${source} is missing: run 'npm run build' first`);
    copyFileSync(source, join(dir, name));
    chmodSync(join(dir, name), 0o755);
  }
  keg = join(dir, "keg");
  kegAgent = join(dir, "keg-agent");
}

/** The environment the binaries run in: no NODE_ENV (bun sets it for tests), no colour, no KEG_* from outside. */
export function benchEnv(extra: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  for (const key of ["NODE_ENV", "KEG_BOX", "KEG_TOKEN", "KEG_HOME", "KEG_AGENT_STATE"]) delete base[key];
  Object.assign(base, extra);
  return Object.fromEntries(Object.entries(base).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

/** Runs a command to its end; throws on a non-zero exit; returns trimmed stdout. */
export function runOk(cmd: string[], extraEnv: Record<string, string> = {}, cwd?: string): string {
  const result = Bun.spawnSync(cmd, { env: benchEnv(extraEnv), cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`'${cmd.join(" ")}' exited ${result.exitCode}: ${result.stderr.toString()}`);
  return result.stdout.toString().trim();
}

// ---- clean-up ------------------------------------------------------------

const cleanups: (() => void | Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;

/** Registers clean-up work; it runs last-registered first. */
export function onCleanup(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

export function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      try {
        await cleanups.pop()!();
      } catch (error) {
        console.error(`clean-up: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cleanUp().then(() => process.exit(130)));

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Kills a process we started (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
export async function stopProcess(proc: { pid: number; exited: Promise<number>; exitCode: number | null; signalCode: unknown }, graceMs = 2000) {
  if (proc.exitCode !== null || proc.signalCode) return;
  proc.exited.catch(() => {});
  try {
    process.kill(proc.pid, "SIGTERM");
  } catch {}
  const timer = setTimeout(() => {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {}
  }, graceMs);
  await proc.exited;
  clearTimeout(timer);
}

// ---- the agent -----------------------------------------------------------

export type BenchAgent = {
  url: string;
  stateDir: string;
  pid: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** what the agent wrote after its first line (last 64 KiB) */
  log(): string;
  addUser(name: string): string;
};

/**
 * `binary`: the keg-agent to run (default the copied build; an update bench
 * gives each agent its own); `stateDir`: an existing one (an agent started
 * again on it), else a new temp dir.
 */
export async function startAgent(name: string, args: string[] = [], binary = kegAgent, stateDir = tempDir("keg-bench-agent-")): Promise<BenchAgent> {
  const proc = Bun.spawn([binary, "serve", "--listen", "127.0.0.1:0", "--state-dir", stateDir, "--name", name, ...args], {
    env: benchEnv(),
    stdout: "pipe",
    stderr: "pipe",
  });
  onCleanup(() => stopProcess(proc));
  let log = "";
  const keep = (text: string) => {
    log = (log + text).slice(-65536);
  };
  const decoder = new TextDecoder();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`keg-agent exited before listening: ${seen}${await new Response(proc.stderr as ReadableStream).text()}`);
    seen += decoder.decode(value);
  }
  const url = /^keg-agent \S+ listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(seen)?.[1];
  if (!url) throw new Error(`unexpected first line: ${seen}`);
  keep(seen.slice(seen.indexOf("\n") + 1));
  // Keep draining both pipes, so the agent never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      keep(decoder.decode(value));
    }
  })();
  void (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) keep(decoder.decode(chunk));
  })();
  return {
    url,
    stateDir,
    pid: proc.pid,
    proc,
    log: () => log,
    addUser: (user) => runOk([kegAgent, "users", "add", user, "--state-dir", stateDir]),
  };
}

/** A KEG_HOME with the agent registered as box `box` for `token`. */
export function kegHome(agent: BenchAgent, box: string, token: string): string {
  const home = tempDir("keg-bench-home-");
  runOk([keg, "boxes", "add", "--name", box, "--address", agent.url, "--token", token], { KEG_HOME: home });
  return home;
}

/** The interpreter `python3` really runs (the PATH one is a pyenv shim here: docs/development.md "Processes"). */
export function realPython(): string {
  return runOk(["python3", "-c", "import sys; print(sys.executable)"]);
}

// ---- process memory ------------------------------------------------------

/** VmRSS of a process in KiB, or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Proportional set size of a process in KiB (/proc/PID/smaps_rollup): pages
 * shared with other processes (the same binary mapped by the agent and its
 * supervisors) count a share each, so PSS adds up across processes where
 * VmRSS would count them twice.
 */
export function pssKiB(pid: number): number | undefined {
  try {
    const match = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Children of `parent` whose command line contains `word` (e.g. the run supervisors of our agent). */
export function childrenMatching(parent: number, word: string): number[] {
  return pgrep(["-P", String(parent), "-f", word]);
}

/** Whether `pid` has any child process now. */
export function hasChildren(pid: number): boolean {
  return pgrep(["-P", String(pid)]).length > 0;
}

/**
 * Descendants of `root` (children, grandchildren, …) whose command line
 * contains `word`. A run's script is a child of its supervisor, which is a
 * child of the agent; matching the whole system instead would also find the
 * `keg` client, whose own arguments carry the script's command line.
 */
export function descendantsMatching(root: number, word: string): number[] {
  return pgrep(["-f", word]).filter((pid) => {
    for (let at = pid, hops = 0; at > 1 && hops < 64; hops++) {
      at = parentPid(at) ?? 0;
      if (at === root) return true;
    }
    return false;
  });
}

/** The parent pid from /proc/PID/stat (after the command name, which may hold spaces and parentheses). */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** How long ago `pid` started, in ms (10 ms resolution: clock ticks of /proc/PID/stat against /proc/uptime). */
export function processAgeMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const uptimeSeconds = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    return uptimeSeconds * 1000 - startTicks * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function pgrep(args: string[]): number[] {
  const result = Bun.spawnSync(["pgrep", ...args], { stdout: "pipe", stderr: "ignore" });
  return result.stdout
    .toString()
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

// ---- runs, spares and memory of one agent (bench/run.ts, bench/check.ts) --------

/**
 * Removes the output spools of finished runs from the agent's (temp) state
 * dir: a 1 GiB spool would otherwise be written back to disk during the next
 * measurements (and everyone else's), long after keg was done with it.
 */
export function dropFinishedSpools(agent: BenchAgent): void {
  const runsDir = join(agent.stateDir, "runs");
  for (const id of existsSync(runsDir) ? readdirSync(runsDir) : []) {
    if (existsSync(join(runsDir, id, "exit.json"))) rmSync(join(runsDir, id, "spool"), { recursive: true, force: true });
  }
}

export type StreamCommand = { label: string; cmd: string[]; env: Record<string, string>; cwd?: string };

export async function timeStream(command: StreamCommand): Promise<{ ms: number; stderr: string }> {
  const t = performance.now();
  const proc = Bun.spawn(command.cmd, { env: command.env, cwd: command.cwd, stdout: "ignore", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  const elapsed = performance.now() - t;
  if (code !== 0) throw new Error(`${command.label}: exited ${code}: ${stderr}`);
  return { ms: elapsed, stderr };
}

/**
 * The agent's supervisors (`keg-agent supervise`, children of the agent): the
 * ones running a script (they have a child) and the idle spare the agent keeps
 * started ahead of need (no child yet, waiting for a run folder on stdin).
 */
export function supervisors(agentPid: number): { running: number[]; idle: number[] } {
  const running: number[] = [];
  const idle: number[] = [];
  for (const pid of childrenMatching(agentPid, "supervise")) (hasChildren(pid) ? running : idle).push(pid);
  return { running, idle };
}

/** VmRSS of the agent's idle spare supervisor(s) now, in KiB (0 when there is none). */
export function idleSpareKiB(agentPid: number): number {
  return Math.max(0, ...supervisors(agentPid).idle.map((pid) => rssKiB(pid) ?? 0));
}

/**
 * Waits until the agent has an idle spare supervisor started at least
 * `settleMs` ago (a new one needs a moment to start and wait on its stdin).
 * The agent refills the spare 100 ms after a run ends; runs in these benches
 * come closer together than runs typed by a person, so each waits for it.
 */
export function spareReady(agentPid: number, settleMs: number): boolean {
  return supervisors(agentPid).idle.some((pid) => (processAgeMs(pid) ?? 0) >= settleMs);
}

export async function waitForSpare(agentPid: number, settleMs = 150): Promise<void> {
  for (const deadline = performance.now() + 5000; !spareReady(agentPid, settleMs); await Bun.sleep(20))
    if (performance.now() > deadline) throw new Error("the agent has no spare supervisor after 5 s");
}

export function waitForSpareSync(agentPid: number, settleMs = 150): void {
  for (const deadline = performance.now() + 5000; !spareReady(agentPid, settleMs); Bun.sleepSync(20))
    if (performance.now() > deadline) throw new Error("the agent has no spare supervisor after 5 s");
}

/**
 * Samples the VmRSS of the agent and of its supervisors every `everyMs` until
 * stopped; maxima in KiB. A supervisor counts as the run's once it has been
 * seen with a child (the script), and stays so until it ends; before that it
 * is an idle spare.
 */
export function memorySampler(agentPid: number, everyMs = 200) {
  let agent = 0;
  let supervisor = 0;
  let spare = 0;
  /** the largest PSS of the agent and all its supervisors together, in one sample */
  let pssTotal = 0;
  let samples = 0;
  const seenRunning = new Set<number>();
  const sample = () => {
    agent = Math.max(agent, rssKiB(agentPid) ?? 0);
    const { running, idle } = supervisors(agentPid);
    for (const pid of running) seenRunning.add(pid);
    let pss = pssKiB(agentPid) ?? 0;
    for (const pid of [...running, ...idle]) {
      const rss = rssKiB(pid) ?? 0;
      if (seenRunning.has(pid)) supervisor = Math.max(supervisor, rss);
      else spare = Math.max(spare, rss);
      pss += pssKiB(pid) ?? 0;
    }
    pssTotal = Math.max(pssTotal, pss);
    samples++;
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    sample,
    stop() {
      clearInterval(timer);
      sample();
      return { agent, supervisor, spare, pssTotal, samples };
    },
  };
}

export type StalledClient = {
  /** agent VmRSS before the run, KiB */
  idleAgent: number;
  spareBefore: number;
  spareAfter: number;
  agentAfter: number;
  memory: { agent: number; supervisor: number; spare: number; pssTotal: number; samples: number };
  stoppedAt: number;
  producerMs: number;
  drainMs: number;
  received: number;
  code: number;
  stderr: string;
};

/**
 * `keg exec` of 1 GiB of stdout with keg stopped (SIGSTOP) as soon as its
 * script runs, its stdout a pipe nobody reads: the agent's and its
 * supervisors' memory sampled until the script is done (it touches a marker
 * file), then SIGCONT and every byte keg prints counted.
 */
export async function stalledClient(work: string, agent: BenchAgent, box: string, kegEnv: Record<string, string>): Promise<StalledClient> {
  const marker = join(work, "producer-done");
  rmSync(marker, { force: true });
  // The spare supervisor is refilled 100 ms after a run ends: this run finds one, idle.
  await waitForSpare(agent.pid, 300);
  const idleAgent = rssKiB(agent.pid)!;
  const spareBefore = idleSpareKiB(agent.pid);
  const t0 = performance.now();
  // keg's stdout is a pipe nobody reads; keg is stopped as soon as the run is on.
  const proc = Bun.spawn([keg, "exec", "--box", box, "--", "sh", "-c", `head -c ${GiB} /dev/zero; touch ${marker}`], {
    env: kegEnv,
    cwd: work,
    stdout: "pipe",
    stderr: "pipe",
  });
  // The script is a child of the run's supervisor, a child of the agent: search the agent's
  // descendants (the keg client's own command line holds the same words).
  const script = `head -c ${GiB}`;
  while (!descendantsMatching(agent.pid, script).length && performance.now() - t0 < 10_000) await Bun.sleep(5);
  if (!descendantsMatching(agent.pid, script).length) throw new Error("stalled client: the script never showed up under the agent");
  proc.kill("SIGSTOP");
  const stoppedAt = performance.now() - t0;
  const sampler = memorySampler(agent.pid);
  let producerMs = NaN;
  for (const deadline = performance.now() + 60_000; performance.now() < deadline; await Bun.sleep(50)) {
    if (existsSync(marker)) {
      producerMs = performance.now() - t0;
      break;
    }
  }
  const memory = sampler.stop();
  // Let the client go on, and count what it gets.
  proc.kill("SIGCONT");
  let received = 0;
  const drainStart = performance.now();
  const [stderr, code] = await Promise.all([
    new Response(proc.stderr).text(),
    proc.exited,
    (async () => {
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) received += chunk.length;
    })(),
  ]);
  const drainMs = performance.now() - drainStart;
  await stopProcess(proc);
  // The next spare, started 100 ms after the run ended, idle.
  await Bun.sleep(1000);
  return { idleAgent, spareBefore, spareAfter: idleSpareKiB(agent.pid), agentAfter: rssKiB(agent.pid) ?? 0, memory, stoppedAt, producerMs, drainMs, received, code, stderr };
}

// ---- a throwaway sshd ----------------------------------------------------

export type Sshd = {
  port: number;
  /** ssh options for a fresh connection each time (no user config, temp known_hosts, batch mode) */
  base: string[];
  /** the same with ControlMaster reuse through a socket in the temp dir */
  mux: string[];
  /**
   * The client's environment: with `skipBashrc` it sends SHLVL=1, so the
   * remote bash skips root's .bashrc (bash sources it for ssh only as a
   * top-level shell); without, SHLVL is not sent and .bashrc runs as usual.
   * Every ssh here has SendEnv=SHLVL: a ControlMaster forwards only what its
   * own SendEnv allows, whatever the session's client says.
   */
  env(skipBashrc: boolean): Record<string, string>;
};

/**
 * Starts sshd on 127.0.0.1 with a random high port, its own config, host key
 * and authorized key in a temp dir. Returns undefined (with the reason on
 * stderr) when /usr/sbin/sshd is missing or it does not answer.
 */
export async function startSshd(): Promise<Sshd | undefined> {
  if (!existsSync("/usr/sbin/sshd")) {
    console.error("no /usr/sbin/sshd: the ssh columns are skipped (apt-get install openssh-server to get them)");
    return undefined;
  }
  const dir = tempDir("keg-bench-sshd-");
  mkdirSync("/run/sshd", { recursive: true });
  for (const key of ["host_key", "client_key"]) runOk(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(dir, key)]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "client_key.pub")), { mode: 0o600 });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const config = [
      "ListenAddress 127.0.0.1",
      `Port ${port}`,
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no",
      "AcceptEnv SHLVL",
      "MaxSessions 100",
      "MaxStartups 100",
    ].join("\n");
    writeFileSync(join(dir, "sshd_config"), config + "\n");
    const proc = Bun.spawn(["/usr/sbin/sshd", "-D", "-f", join(dir, "sshd_config"), "-E", join(dir, "sshd.log")], { stdout: "ignore", stderr: "pipe" });
    onCleanup(() => stopProcess(proc));
    const base = [
      "-F", "/dev/null",
      "-p", String(port),
      "-i", join(dir, "client_key"),
      "-o", "StrictHostKeyChecking=no",
      "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`,
      "-o", "BatchMode=yes",
      "-o", "LogLevel=ERROR",
      "-o", "SendEnv=SHLVL",
      "-n",
    ];
    const controlPath = join(dir, "cm");
    const mux = [...base, "-o", "ControlMaster=auto", "-o", `ControlPath=${controlPath}`, "-o", "ControlPersist=300"];
    // Stop the master before the sshd (last registered runs first).
    onCleanup(() => {
      if (existsSync(controlPath)) Bun.spawnSync(["ssh", "-F", "/dev/null", "-o", `ControlPath=${controlPath}`, "-O", "exit", "127.0.0.1"], { stdout: "ignore", stderr: "ignore" });
    });
    for (let i = 0; i < 50 && proc.exitCode === null; i++) {
      const probe = Bun.spawnSync(["ssh", ...base, "127.0.0.1", "true"], { stdout: "ignore", stderr: "pipe" });
      if (probe.exitCode === 0) {
        const env = (skipBashrc: boolean) => {
          const env = benchEnv(skipBashrc ? { SHLVL: "1" } : {});
          if (!skipBashrc) delete env.SHLVL;
          return env;
        };
        return { port, base, mux, env };
      }
      await Bun.sleep(100);
    }
    await stopProcess(proc);
  }
  console.error(`sshd on 127.0.0.1 did not answer (log: ${readFileSync(join(dir, "sshd.log"), "utf8").slice(-500)}); the ssh columns are skipped`);
  return undefined;
}

// ---- output ---------------------------------------------------------------

/** A plain text table: the first column left-aligned, the others right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = rows.map((row) => row.map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: string[]) => c.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}


/** "keg 0.1.0, commit abc1234 (+ local changes)": what was measured. */
export function describeBuild(): string {
  const version = runOk([keg, "--version"]);
  const git = (args: string[]) => Bun.spawnSync(["git", ...args], { cwd: root, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  const commit = git(["rev-parse", "--short", "HEAD"]);
  const dirty = git(["status", "--porcelain", "--", "src", "build"]) ? " + uncommitted changes under src/ or build/" : "";
  return `${version}, commit ${commit || "?"}${dirty}`;
}

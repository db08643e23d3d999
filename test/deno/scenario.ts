/**
 * The Deno smoke scenario, for any pair of runtimes: an agent started by one
 * (`deno run -A src/agent-main.ts` or the compiled keg-agent) driven by the
 * CLI of another. Written with node: modules only, so it runs under Bun (in
 * `npm test`) and under Deno (`npm run deno:smoke`). Each step's exit code
 * and output are kept, with what varies between runs (ids, times, ports,
 * versions, column widths) normalised, so two pairs' transcripts compare.
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** How to start keg and keg-agent under one runtime. */
export type Runtime = { name: string; keg: string[]; agent: string[] };

/** The pinned Deno of the `deno` dev dependency (no global Deno needed). */
export function denoExecutable(): string {
  const inPackage = join(root, "node_modules", "deno", "deno");
  return existsSync(inPackage) ? inPackage : join(root, "node_modules", ".bin", "deno");
}

export const denoRuntime = (): Runtime => ({
  name: "deno",
  keg: [denoExecutable(), "run", "-A", join(root, "src", "cli.ts")],
  agent: [denoExecutable(), "run", "-A", join(root, "src", "agent-main.ts")],
});

export const binaryRuntime = (binDir: string): Runtime => ({ name: "bun", keg: [join(binDir, "keg")], agent: [join(binDir, "keg-agent")] });

export type Result = { code: number | null; stdout: string; stderr: string };
export type Step = Result & { step: string };

/** The environment of every process of the scenario: no NODE_ENV (bun test sets it), no colour, no Deno update check. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", TZ: "UTC", DENO_NO_UPDATE_CHECK: "1", ...extra };
  for (const key of ["NODE_ENV", "KEG_BOX", "KEG_TOKEN", "KEG_HOME", "KEG_AGENT_STATE"]) if (!(key in extra)) delete env[key];
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

const DEADLINE_MS = 30_000;

/** Runs `argv` to its end; `onStdout` sees its output as it comes. */
function run(argv: string[], options: { env?: Record<string, string>; cwd?: string; onStdout?: (text: string) => void } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: cleanEnv(options.env ?? {}), stdio: ["ignore", "pipe", "pipe"] });
    const result: Result = { code: null, stdout: "", stderr: "" };
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} took over ${DEADLINE_MS} ms; so far: ${JSON.stringify(result)}`));
    }, DEADLINE_MS);
    proc.stdout.setEncoding("utf8").on("data", (text: string) => {
      result.stdout += text;
      options.onStdout?.(result.stdout);
    });
    proc.stderr.setEncoding("utf8").on("data", (text: string) => (result.stderr += text));
    proc.once("error", reject);
    proc.once("close", (code) => {
      clearTimeout(timer);
      resolve({ ...result, code });
    });
  });
}

export type RunningAgent = { url: string; port: number; stop(): Promise<void> };

/** Starts `runtime`'s agent on `stateDir` and waits for its `listening on` line. */
export function startAgent(runtime: Runtime, stateDir: string, port = 0): Promise<RunningAgent> {
  const argv = [...runtime.agent, "serve", "--listen", `127.0.0.1:${port}`, "--state-dir", stateDir, "--name", "lab"];
  const proc = spawn(argv[0]!, argv.slice(1), { env: cleanEnv({}), stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`the ${runtime.name} agent did not listen within ${DEADLINE_MS} ms: ${seen}${stderr}`));
    }, DEADLINE_MS);
    proc.once("exit", (code) => reject(new Error(`the ${runtime.name} agent exited (${code}) before listening: ${seen}${stderr}`)));
    proc.stdout.setEncoding("utf8").on("data", (text: string) => {
      seen += text;
      const match = /^keg-agent \S+ listening on (http:\/\/127\.0\.0\.1:(\d+))\n/.exec(seen);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        port: Number(match[2]),
        async stop() {
          proc.kill("SIGKILL");
          await exited;
        },
      });
    });
  });
}

/** What differs between two runs of the scenario and says nothing about keg's behaviour. */
export function normalise(text: string, paths: Record<string, string>): string {
  let out = text;
  for (const [name, path] of Object.entries(paths)) out = out.split(path).join(`<${name}>`);
  return out
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, "<URL>")
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, "<ID>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<TIME>")
    .replace(/\b\d+\.\d+\.\d+(-dev)?\b/g, "<VERSION>")
    .replace(/keg_[\w-]+/g, "<TOKEN>")
    .replace(/ {2,}/g, "  ");
}

const SCRIPTS = {
  // Prints, then waits for the test to answer that it saw the line: a run whose output is not live never ends.
  "live.py": [
    "import keg, os, sys, time",
    "print('first line', flush=True)",
    "while not os.path.exists(sys.argv[1]): time.sleep(0.02)",
    "keg.output({'loss': 0.25, 'step': 3})",
    "open('result.txt', 'w').write('computed on the box\\n')",
    "print('second line')",
    "sys.exit(3)",
  ].join("\n"),
  // Holds the box (a detached run keeps the command lock) until the test lets it go.
  "hold.py": ["import os, sys, time", "print('holding', flush=True)", "while not os.path.exists(sys.argv[1]): time.sleep(0.02)", "print('released')", "sys.exit(4)"].join(
    "\n",
  ),
  "quick.py": "print('never runs while the box is busy')\n",
};

export type ScenarioOptions = {
  /** the runtime whose `keg-agent users add` writes the state dir before the agent serves it (default: the agent's) */
  stateFrom?: Runtime;
  /** after the scenario, this runtime's agent reopens the state dir and is asked for what the first one kept */
  reopenWith?: Runtime;
};

/**
 * The smoke scenario: `cli` against `agent`. Returns every step with its exit
 * code and normalised output; `checkScenario` says whether they are right.
 */
export async function runScenario(cli: Runtime, agentRuntime: Runtime, options: ScenarioOptions = {}): Promise<Step[]> {
  const dir = mkdtempSync(join(tmpdir(), `keg-${cli.name}-${agentRuntime.name}-`));
  const stateDir = join(dir, "state");
  const work = join(dir, "work");
  const homes = { alice: join(dir, "alice"), bob: join(dir, "bob") };
  const paths = { DIR: dir };
  const steps: Step[] = [];
  const keep = (step: string, result: Result) => {
    steps.push({ step, code: result.code, stdout: normalise(result.stdout, paths), stderr: normalise(result.stderr, paths) });
    return result;
  };
  const keg = (user: keyof typeof homes, args: string[], onStdout?: (text: string) => void) =>
    run([...cli.keg, ...args], { env: { KEG_HOME: homes[user] }, cwd: work, onStdout });
  const stateWriter = options.stateFrom ?? agentRuntime;

  let agent: RunningAgent | undefined;
  try {
    for (const path of [stateDir, work, homes.alice, homes.bob]) mkdirSync(path);
    for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(join(work, name), text);
    const tokens: Record<string, string> = {};
    for (const user of ["alice", "bob"] as const) {
      const added = await run([...stateWriter.agent, "users", "add", user, "--state-dir", stateDir]);
      if (added.code !== 0) throw new Error(`${stateWriter.name} keg-agent users add ${user} failed: ${added.stderr}`);
      tokens[user] = added.stdout.trim();
    }
    agent = await startAgent(agentRuntime, stateDir);
    for (const user of ["alice", "bob"] as const) keep(`boxes add (${user})`, await keg(user, ["boxes", "add", "--name", "lab", "--address", agent.url, "--token", tokens[user]!]));
    keep("boxes list", await keg("alice", ["boxes", "list"]));
    // Beside a serving agent, keg-agent users asks it over its socket (docs/cli.md "keg-agent users").
    const carol = keep("users add beside the serving agent", await run([...agentRuntime.agent, "users", "add", "carol", "--state-dir", stateDir]));
    const whoami = await fetch(`${agent.url}/v1/whoami`, { headers: { authorization: `Bearer ${carol.stdout.trim()}` } });
    keep("the new token, at once", { code: whoami.status, stdout: `${whoami.status === 200 ? (await whoami.json()).user : await whoami.text()}\n`, stderr: "" });

    const go = join(dir, "go");
    let sawFirstLineLive = false;
    const live = await keg("alice", ["python", "run", "live.py", go, "--box", "lab", "--download", "result.txt"], (stdout) => {
      if (!stdout.includes("first line\n") || sawFirstLineLive) return;
      sawFirstLineLive = true;
      writeFileSync(go, "");
    });
    keep("python run (live output, a record, a download, exit 3)", live);
    keep("downloaded result.txt", { code: 0, stdout: readFileSync(join(work, "result.txt"), "utf8"), stderr: "" });

    // The command lock is held while an attached run lasts (a detached one gives it back once started).
    const holding = (release: string, onHolding: () => void) => (stdout: string) => {
      if (stdout.includes("holding\n") && !existsSync(release)) onHolding();
    };
    const release = join(dir, "release");
    let busy: Promise<Result> | undefined;
    const attached = keg("alice", ["python", "run", "hold.py", release, "--box", "lab"], holding(release, () => {
      busy ??= keg("bob", ["python", "run", "quick.py", "--box", "lab"]).finally(() => writeFileSync(release, ""));
    }));
    keep("python run (attached, holding the box)", await attached);
    keep("python run while the box is busy (bob)", await busy!);

    const releaseDetached = join(dir, "release-detached");
    const detached = keep("python run --detach", await keg("alice", ["python", "run", "hold.py", releaseDetached, "--box", "lab", "--detach"]));
    const reattached = await keg("alice", ["python", "--reattach", detached.stdout.trim(), "--box", "lab"], holding(releaseDetached, () => writeFileSync(releaseDetached, "")));
    keep("python --reattach", reattached);

    keep("boxes lock (alice)", await keg("alice", ["boxes", "lock", "--box", "lab"]));
    keep("boxes lock (bob, refused)", await keg("bob", ["boxes", "lock", "--box", "lab"]));
    keep("boxes unlock (bob, refused)", await keg("bob", ["boxes", "unlock", "--box", "lab"]));
    keep("boxes unlock (alice)", await keg("alice", ["boxes", "unlock", "--box", "lab"]));
    keep("boxes unlock (alice, again)", await keg("alice", ["boxes", "unlock", "--box", "lab"]));

    if (options.reopenWith) {
      const port = agent.port;
      await agent.stop();
      agent = await startAgent(options.reopenWith, stateDir, port);
      const history = await keg("alice", ["boxes", "history", "--box", "lab", "--json"]);
      const events = history.code === 0 ? (JSON.parse(history.stdout) as { event: string; user: string }[]).map((e) => `${e.event} ${e.user}`) : [];
      keep(`boxes history, from the state dir reopened by the ${options.reopenWith.name} agent`, { ...history, stdout: `${events.join("\n")}\n` });
      const ps = await keg("alice", ["python", "ps", "--box", "lab", "--json"]);
      const runs = ps.code === 0 ? (JSON.parse(ps.stdout) as { runnable: string; exit_code: number }[]).map((r) => `${r.runnable} ${r.exit_code}`).sort() : [];
      keep(`python ps, from the state dir reopened by the ${options.reopenWith.name} agent`, { ...ps, stdout: `${runs.join("\n")}\n` });
    }
    if (!sawFirstLineLive) throw new Error("the first line never came while the script ran");
    return steps;
  } finally {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What each step must give: exit code and the exact lines keg's docs promise. */
const EXPECTED: Record<string, { code: number; stdout?: string | RegExp; stderr?: string | RegExp }> = {
  "boxes add (alice)": { code: 0, stdout: "", stderr: "Added box 'lab' at <URL> as alice (agent <VERSION>)\n" },
  "boxes add (bob)": { code: 0, stdout: "", stderr: "Added box 'lab' at <URL> as bob (agent <VERSION>)\n" },
  // A source-run keg says version 0.0.0-dev: beside a compiled one it is "outdated".
  "boxes list": { code: 0, stdout: /^Name  Address  User  Version  Status\nlab  <URL>  alice  <VERSION>  (current|outdated)\n$/ },
  "users add beside the serving agent": { code: 0, stdout: "<TOKEN>\n", stderr: "" },
  "the new token, at once": { code: 200, stdout: "carol\n" },
  "python run (live output, a record, a download, exit 3)": { code: 3, stdout: "first line\nsecond line\n", stderr: /^\[record json\] \{"loss":0\.25,"step":3\}\n/ },
  "downloaded result.txt": { code: 0, stdout: "computed on the box\n" },
  "python run (attached, holding the box)": { code: 4, stdout: "holding\nreleased\n", stderr: "" },
  "python run --detach": { code: 0, stdout: "<ID>\n", stderr: /^Started run <ID> on box 'lab'\.\n/ },
  "python run while the box is busy (bob)": { code: 75, stdout: "", stderr: "Error: Box 'lab' is busy — 'python' in progress by alice. Use --force-command to override.\n" },
  "python --reattach": { code: 4, stdout: "holding\nreleased\n", stderr: "" },
  "boxes lock (alice)": { code: 0, stdout: "Box 'lab' locked by alice at <TIME>\n" },
  "boxes lock (bob, refused)": { code: 75, stderr: "Error: Box 'lab' is already locked by alice (since <TIME>)\n" },
  "boxes unlock (bob, refused)": { code: 75, stderr: "Error: Box 'lab' is locked by alice. Use --force to unlock it.\n" },
  "boxes unlock (alice)": { code: 0, stdout: "Box 'lab' unlocked\n" },
  "boxes unlock (alice, again)": { code: 0, stdout: "Box 'lab' is not locked\n" },
};

/** The steps that are not as expected, each with what it gave; empty when the scenario passed. */
export function checkScenario(steps: Step[]): string[] {
  const wrong: string[] = [];
  for (const [name, want] of Object.entries(EXPECTED)) {
    const step = steps.find((s) => s.step === name);
    if (!step) {
      wrong.push(`${name}: missing`);
      continue;
    }
    const fits = (text: string, wanted?: string | RegExp) => wanted === undefined || (typeof wanted === "string" ? text === wanted : wanted.test(text));
    if (step.code !== want.code || !fits(step.stdout, want.stdout) || !fits(step.stderr, want.stderr)) wrong.push(`${name}: ${JSON.stringify(step)}`);
  }
  return wrong;
}

/**
 * A real keg-agent on 127.0.0.1:0 with its own state dir. Dispose it (or call
 * stop) to kill it; `await using agent = await startAgent()`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { agentBin, cleanEnv } from "./bin.ts";

export type Agent = {
  url: string;
  port: number;
  stateDir: string;
  pid: number;
  proc: ReturnType<typeof Bun.spawn>;
  /** stdout and stderr seen so far (after the first line) */
  output(): string;
  addUser(name: string): Promise<string>;
  /** SIGKILL, wait for exit */
  kill(): Promise<void>;
  /** start a new agent process on the same state dir and port */
  restart(extraArgs?: string[]): Promise<Agent>;
  [Symbol.asyncDispose](): Promise<void>;
};

export type AgentOptions = {
  args?: string[];
  /** relative paths are taken from `cwd` */
  stateDir?: string;
  port?: number;
  name?: string;
  keepState?: boolean;
  env?: Record<string, string>;
  /** the agent's working directory */
  cwd?: string;
  /** the keg-agent to run (default: the copied build); an update test gives each agent a copy of its own */
  binary?: string;
};

export async function agentCommand(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const proc = Bun.spawn([agentBin(), ...args], { env: cleanEnv(env), cwd, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

/**
 * `KEG_TEST_WARM=1` (the second pass of `npm test`): every agent keeps a warm
 * interpreter, and a python run that fell back to a cold start for any reason
 * but the documented ones fails its test (docs/development.md "Tests").
 */
export const WARM_MODE = process.env.KEG_TEST_WARM === "1";

/** The warm-fallback log lines of `output` that are not a run's own choice (its environment) or a box without a venv. */
export function unexpectedFallbacks(output: string): string[] {
  const lines = output.split("\n");
  const fallbacks = lines.filter((line) => / event=warm-fallback /.test(line) && !/cause="(the run sets |this box has no )/.test(line));
  // Python runs, yet no warm interpreter ever served: the flag did not take.
  const pythonRuns = lines.some((line) => / event=run-started .*command=python/.test(line));
  const noVenv = lines.some((line) => / event=warning .*no warm interpreter: this box has no /.test(line));
  if (pythonRuns && !noVenv && !lines.some((line) => / event=warm-python-ready /.test(line))) fallbacks.push("python runs, and no warm interpreter was ever ready");
  return fallbacks;
}

export async function startAgent(options: AgentOptions = {}): Promise<Agent> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "keg-agent-"));
  const extra = options.args ?? [];
  const warm = WARM_MODE && !extra.includes("--warm-python") ? ["--warm-python"] : [];
  const args = ["serve", "--listen", `127.0.0.1:${options.port ?? 0}`, "--state-dir", stateDir, "--name", options.name ?? "testbox", ...warm, ...extra];
  const proc = Bun.spawn([options.binary ?? agentBin(), ...args], { env: cleanEnv(options.env), cwd: options.cwd, stdout: "pipe", stderr: "pipe" });
  let seen = "";
  const decoder = new TextDecoder();
  const reader = proc.stdout.getReader();
  const firstLine = await (async () => {
    const deadline = setTimeout(() => proc.kill("SIGKILL"), 15_000);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`keg-agent exited before listening: ${seen}${await new Response(proc.stderr).text()}`);
        seen += decoder.decode(value);
        const nl = seen.indexOf("\n");
        if (nl >= 0) {
          const line = seen.slice(0, nl);
          seen = seen.slice(nl + 1);
          return line;
        }
      }
    } finally {
      clearTimeout(deadline);
    }
  })();
  const match = /^keg-agent \S+ listening on (http:\/\/127\.0\.0\.1:(\d+))$/.exec(firstLine);
  if (!match) throw new Error(`unexpected first line: ${firstLine}`);
  // Keep draining both pipes so the agent never blocks on a full pipe.
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      seen += decoder.decode(value);
    }
  })();
  void (async () => {
    for await (const chunk of proc.stderr) seen += decoder.decode(chunk);
  })();
  const kill = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
  };
  const agent: Agent = {
    url: match[1]!,
    port: Number(match[2]),
    stateDir,
    pid: proc.pid,
    proc,
    output: () => seen,
    async addUser(name) {
      const { stdout, stderr, code } = await agentCommand(["users", "add", name, "--state-dir", stateDir], {}, options.cwd);
      if (code !== 0) throw new Error(`users add failed: ${stderr}`);
      return stdout.trim();
    },
    kill,
    async restart(extraArgs) {
      if (proc.exitCode === null) await kill();
      return startAgent({ ...options, stateDir, port: agent.port, args: extraArgs ?? options.args });
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) await kill();
      if (!options.keepState && !options.stateDir) rmSync(stateDir, { recursive: true, force: true });
      const fallbacks = WARM_MODE ? unexpectedFallbacks(seen) : [];
      if (fallbacks.length) throw new Error(`python runs fell back to a cold start:\n${fallbacks.join("\n")}`);
    },
  };
  return agent;
}

/** The first line a process writes on stdout (the agent's `listening on` line); throws with its stderr when it exits first. */
export async function firstLine(reader: ReadableStreamDefaultReader<Uint8Array>, stderr: Promise<string>): Promise<string> {
  let seen = "";
  while (!seen.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`exited before its first line: ${seen}${await stderr}`);
    seen += new TextDecoder().decode(value);
  }
  return seen.slice(0, seen.indexOf("\n"));
}

/** The lines of an agent's stderr that are not operator log lines (docs/usage.md "Operating a box"): none are expected. */
export const notLogLines = (stderr: string) => stderr.split("\n").filter((line) => line && !/^time=\S+ event=[\w-]+( |$)/.test(line));

/** The log line a serving agent starts with about whose rights scripts have (docs/security.md "Who runs scripts"). */
export function ownRightsLine(): RegExp {
  const name = Bun.spawnSync(["id", "-un"]).stdout.toString().trim();
  return new RegExp(`^time=\\S+ event=scripts-run-as user=${name} uid=${userInfo().uid} own_rights=true note=".*--run-as USER to keep them away from its state"$`, "m");
}

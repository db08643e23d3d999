/**
 * A real keg-agent on 127.0.0.1:0 with its own state dir. Dispose it (or call
 * stop) to kill it; `await using agent = await startAgent()`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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

export type AgentOptions = { args?: string[]; stateDir?: string; port?: number; name?: string; keepState?: boolean; env?: Record<string, string> };

export async function agentCommand(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([agentBin(), ...args], { env: cleanEnv(env), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

export async function startAgent(options: AgentOptions = {}): Promise<Agent> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "keg-agent-"));
  const args = ["serve", "--listen", `127.0.0.1:${options.port ?? 0}`, "--state-dir", stateDir, "--name", options.name ?? "testbox", ...(options.args ?? [])];
  const proc = Bun.spawn([agentBin(), ...args], { env: cleanEnv(options.env), stdout: "pipe", stderr: "pipe" });
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
      const { stdout, stderr, code } = await agentCommand(["users", "add", name, "--state-dir", stateDir]);
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
    },
  };
  return agent;
}

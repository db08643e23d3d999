/**
 * What the run tests share: an agent with one user and box `lab`, a
 * temp folder for scripts and downloads, keg's output read as it comes, and a
 * process check that counts a zombie as gone.
 */
import { readFileSync, rmSync } from "node:fs";
import { startAgent, type Agent, type AgentOptions } from "./agent.ts";
import { userWithBox, withBox, type KegResult } from "./keg.ts";
import { tempDir, type TempDir } from "./tmp.ts";
import { isAlive, until } from "./until.ts";

export type RunBox = {
  agent: Agent;
  user: Awaited<ReturnType<typeof userWithBox>>;
  dir: TempDir;
  /** `keg ARGS --box lab` (`--box` before any `--`) in `dir` (or `cwd`), to the end */
  run(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<KegResult & { ms: number }>;
  /** `keg ARGS --box lab` in `dir` (or `cwd`), running */
  spawn(args: string[], options?: { cwd?: string; env?: Record<string, string> }): ReturnType<typeof Bun.spawn>;
  [Symbol.asyncDispose](): Promise<void>;
};

/** An agent, a user `alice` with box `lab` on it, and a temp folder holding `files`. */
export async function runBox(files: Record<string, string> = {}, options: AgentOptions = {}): Promise<RunBox> {
  const agent = await startAgent(options);
  let user: RunBox["user"];
  try {
    user = await userWithBox(agent, "alice", "lab");
  } catch (error) {
    const alive = agent.proc.exitCode === null && agent.proc.signalCode === null;
    await agent[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\nagent ${alive ? "running" : `exited (${agent.proc.exitCode ?? agent.proc.signalCode})`}, its output: ${agent.output()}`);
  }
  const dir = tempDir("keg-run-", files);
  return {
    agent,
    user,
    dir,
    async run(args, opts = {}) {
      const started = performance.now();
      const result = await user.run(withBox(args), { cwd: dir.path, ...opts });
      return { ...result, ms: performance.now() - started };
    },
    spawn: (args, opts = {}) => user.spawn(withBox(args), { cwd: dir.path, ...opts }),
    async [Symbol.asyncDispose]() {
      await agent[Symbol.asyncDispose]();
      dir[Symbol.dispose]();
      rmSync(user.home, { recursive: true, force: true });
    },
  };
}

/** Reads a stream as it comes, so a test can wait for a line and know when it arrived. */
export class StreamText {
  text = "";
  bytes = 0;
  done: Promise<void>;
  private readonly arrivals: { at: number; length: number }[] = [];

  constructor(stream: ReadableStream<Uint8Array> | number | undefined) {
    const decoder = new TextDecoder();
    this.done = (async () => {
      for await (const chunk of stream as ReadableStream<Uint8Array>) {
        this.bytes += chunk.length;
        this.text += decoder.decode(chunk, { stream: true });
        this.arrivals.push({ at: Date.now(), length: this.text.length });
      }
    })();
  }

  /** Waits until `pattern` is in the text; returns the match and the time (ms since epoch) its end arrived. */
  async waitFor(pattern: RegExp, deadlineMs = 10_000): Promise<{ match: RegExpExecArray; at: number }> {
    const match = await until(() => pattern.exec(this.text), { deadlineMs, what: `${pattern} in ${JSON.stringify(this.text.slice(-400))}` });
    const end = match.index + match[0].length;
    const at = this.arrivals.find((a) => a.length >= end)!.at;
    return { match, at };
  }
}

/** Counts the bytes of a stream without keeping them. */
export async function countBytes(stream: ReadableStream<Uint8Array> | number | undefined): Promise<number> {
  let total = 0;
  for await (const chunk of stream as ReadableStream<Uint8Array>) total += chunk.length;
  return total;
}

/** The processes `pid` forked that are still there. */
export function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The pid of the warm interpreter serving now (the last one that said it was ready in the agent's log). */
export const servingPid = (log: string) => Number([...log.matchAll(/ event=warm-python-ready pid=(\d+)/g)].at(-1)?.[1]);

/** Alive and not a zombie waiting to be reaped (an orphan's parent may reap late). */
export function isRunning(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** A file's text, or undefined while it does not exist (or is still empty). */
export function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8") || undefined;
  } catch {
    return undefined;
  }
}

/** A process's resident set in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match![1]) * 1024;
}

/** The real interpreter behind `python3` (a pyenv shim costs ~100 ms a start; docs/development.md "Processes"). */
export const realPython = (() => {
  let found: string | undefined;
  return () => (found ??= Bun.spawnSync(["python3", "-c", "import sys; print(sys.executable)"]).stdout.toString().trim());
})();

/** Once the box has released its command lock, a next run works: retried while refused with 75. */
export async function expectNextRunWorks(box: RunBox): Promise<void> {
  await Bun.write(box.dir.join("next.py"), "print('next')\n");
  const next = await until(async () => {
    const result = await box.run(["python", "run", "next.py"]);
    return result.code === 75 ? undefined : result;
  }, { deadlineMs: 10_000, what: "the command lock to be released" });
  if (next.code !== 0 || next.stdout !== "next\n") throw new Error(`the next run failed: ${JSON.stringify(next)}`);
}

/**
 * What the lock tests share: an agent with several users, each with
 * box `lab` in their own KEG_HOME, a temp folder of scripts, keg processes
 * whose output is read as it comes, and the exact sentences of docs/locks.md.
 */
import { rmSync, writeFileSync } from "node:fs";
import { startAgent, type Agent, type AgentOptions } from "./agent.ts";
import { userWithBox, withBox, type KegResult } from "./keg.ts";
import { StreamText } from "./run.ts";
import { tempDir, type TempDir } from "./tmp.ts";
import { until } from "./until.ts";

/** ISO 8601 UTC to the second (docs/locks.md). */
export const ISO = String.raw`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`;

/** Scripts the lock tests run. `GO` files are absolute paths the test creates to let a script end. */
export const SCRIPTS = {
  "ok.py": 'print("ok")\n',
  // prints "ready", then waits silently (no output) until the file argv[1] exists; exits argv[2] (default 0).
  "hold.py": [
    "import os, sys, time",
    'print("ready", flush=True)',
    "deadline = time.time() + 120",
    "while not os.path.exists(sys.argv[1]) and time.time() < deadline:",
    "    time.sleep(0.02)",
    "sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)",
    "",
  ].join("\n"),
  // like hold.py, but first writes out.txt (for --download)
  "hold-write.py": [
    "import os, sys, time",
    'open("out.txt", "w").write("from the run\\n")',
    'print("ready", flush=True)',
    "deadline = time.time() + 120",
    "while not os.path.exists(sys.argv[1]) and time.time() < deadline:",
    "    time.sleep(0.02)",
    "",
  ].join("\n"),
  // prints "ready", then is silent for argv[1] seconds
  "quiet.py": 'import sys, time\nprint("ready", flush=True)\ntime.sleep(float(sys.argv[1]))\n',
};

export const say = {
  busy: (user: string, command = "python", box = "lab") =>
    `Error: Box '${box}' is busy — '${command}' in progress by ${user}. Use --force-command to override.\n`,
  locked: (user: string, since: string, note?: string, box = "lab") =>
    `Error: Box '${box}' is locked by ${user} (since ${since}${note ? `, note: ${note}` : ""}). Use --force-command to override.\n`,
  lockedLine: (user: string, at: string, box = "lab") => `Box '${box}' locked by ${user} at ${at}\n`,
  alreadyLocked: (user: string, since: string, note?: string, box = "lab") =>
    `Error: Box '${box}' is already locked by ${user} (since ${since}${note ? `, note: ${note}` : ""})\n`,
  unlocked: (box = "lab") => `Box '${box}' unlocked\n`,
  notLocked: (box = "lab") => `Box '${box}' is not locked\n`,
  needsForce: (user: string, box = "lab") => `Error: Box '${box}' is locked by ${user}. Use --force to unlock it.\n`,
};

/** A keg process with its stdout and stderr read as they come. */
export type Running = {
  proc: ReturnType<typeof Bun.spawn>;
  out: StreamText;
  err: StreamText;
  /** waits for the exit and both streams to end */
  result(): Promise<KegResult>;
  [Symbol.asyncDispose](): Promise<void>;
};

export type LockUser = Awaited<ReturnType<typeof userWithBox>> & {
  name: string;
  /** `keg ARGS` as given (no `--box`), in the box's folder */
  plain(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<KegResult>;
  /** `keg ARGS --box lab` (`--box` before any `--`) in the box's folder, to the end */
  run(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Promise<KegResult>;
  start(args: string[], options?: { cwd?: string; env?: Record<string, string> }): Running;
};

export type LockBox = {
  agent: Agent;
  dir: TempDir;
  users: Record<string, LockUser>;
  /** a path in the temp folder for a GO file */
  goFile(name: string): string;
  go(path: string): void;
  /** more users with box `lab` */
  addUsers(names: string[]): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};


export function running(proc: ReturnType<typeof Bun.spawn>): Running {
  const out = new StreamText(proc.stdout as ReadableStream<Uint8Array>);
  const err = new StreamText(proc.stderr as ReadableStream<Uint8Array>);
  return {
    proc,
    out,
    err,
    async result() {
      const code = await proc.exited;
      await Promise.all([out.done, err.done]);
      return { code, stdout: out.text, stderr: err.text };
    },
    async [Symbol.asyncDispose]() {
      if (proc.exitCode === null && proc.signalCode === null) {
        try {
          process.kill(proc.pid, "SIGCONT");
        } catch {}
        proc.kill("SIGKILL");
      }
      await proc.exited;
    },
  };
}

/** Gives an agent user a keg home with box `box` and the lock helpers. */
export async function lockUser(agent: Agent, name: string, dir: TempDir, box = "lab", token?: string): Promise<LockUser> {
  const keg = await userWithBox(token ? { url: agent.url, addUser: async () => token } : agent, name, box);
  const { run, spawn } = keg;
  return Object.assign(keg, {
    name,
    plain: (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) => run(args, { cwd: dir.path, ...options }),
    run: (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) => run(withBox(args, box), { cwd: dir.path, ...options }),
    start: (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) =>
      running(spawn(withBox(args, box), { cwd: dir.path, ...options })),
  });
}

/** An agent (with `agentArgs`), users `names` each with box `lab`, and a folder holding SCRIPTS. */
export async function lockBox(names: string[], options: AgentOptions = {}): Promise<LockBox> {
  const agent = await startAgent(options);
  const dir = tempDir("keg-locks-", SCRIPTS);
  const users: Record<string, LockUser> = {};
  let goFiles = 0;
  const box: LockBox = {
    agent,
    dir,
    users,
    goFile: (name) => dir.join(`go-${name}-${++goFiles}`),
    go: (path) => writeFileSync(path, ""),
    async addUsers(more) {
      // Tokens one at a time: concurrent `keg-agent users add` beside a serving
      // agent has been seen to lose a token.
      const tokens: string[] = [];
      for (const name of more) tokens.push(await agent.addUser(name));
      await Promise.all(more.map(async (name, i) => (users[name] = await lockUser(agent, name, dir, "lab", tokens[i]))));
    },
    async [Symbol.asyncDispose]() {
      await agent[Symbol.asyncDispose]();
      dir[Symbol.dispose]();
      for (const user of Object.values(users)) rmSync(user.home, { recursive: true, force: true });
    },
  };
  try {
    await box.addUsers(names);
  } catch (error) {
    await box[Symbol.asyncDispose]();
    throw error;
  }
  return box;
}

/** Retries `attempt` until it exits 0; every other try must be refused with exactly `refusal` (exit 75). */
export async function untilFree(attempt: () => Promise<KegResult>, refusal: string, deadlineMs: number): Promise<{ tries: number; result: KegResult }> {
  let tries = 0;
  let last: KegResult | undefined;
  const bad: KegResult[] = [];
  await until(
    async () => {
      tries++;
      last = await attempt();
      if (last.code === 0) return true;
      if (last.code !== 75 || last.stderr !== refusal) bad.push(last);
      return bad.length > 0;
    },
    { deadlineMs, what: `the box to be free (last: ${JSON.stringify(last)})` },
  );
  if (bad.length) throw new Error(`unexpected answer while waiting for the box: ${JSON.stringify(bad[0])}`);
  return { tries, result: last! };
}

type BoxRow = { name: string; locked_by: string | null; lock_note: string | null; locked_since: string | null; busy: string | null };

/** `keg boxes list --json` as `user` sees it: the row of `box`. */
export async function listed(user: LockUser, box = "lab"): Promise<BoxRow> {
  const result = await user.plain(["boxes", "list", "--json"]);
  if (result.code !== 0) throw new Error(`boxes list failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as BoxRow[]).find((row) => row.name === box)!;
}

/** The latest lock events, as `keg boxes history --json` gives them. */
export async function history(user: LockUser): Promise<Record<string, unknown>[]> {
  const result = await user.run(["boxes", "history", "--json"]);
  if (result.code !== 0) throw new Error(`boxes history failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

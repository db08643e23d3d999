/**
 * A python run started by the box's warm interpreter (docs/usage.md "Warm
 * interpreter"), from the supervisor's side. A spare supervisor connects to
 * the forkserver's Unix socket ahead of its run (`connectRunner`): the
 * runner that accepts names its script's process and pipes, the supervisor
 * checks them and takes over the read ends through /proc/RUNNER/fd/N. A run
 * then costs one line each way (`startWarm`): its orders, and `running` or
 * `refused WHY`. The protocol is in src/agent/python/keg_warm.py. A failure
 * before the orders are sent, or `refused`, is a fallback to a fresh
 * interpreter: nothing of the script has run.
 *
 * What the forkserver says is not trusted beyond the run user's rights:
 * the processes it names must be the run user's, the runner's child, and
 * their descriptors pipes (docs/security.md "Warm interpreter").
 * @module
 */
import { readFileSync } from "node:fs";
import { connectUnix, openPipe, type OpenedPipe, type SpawnedRun, type UnixConnection } from "../platform/index.ts";
import { sleep } from "../sleep.ts";
import { signalGroup } from "./signals.ts";

/** Where the warm interpreter takes runs, and the run user it must run them as. */
export type WarmServer = { socket: string; uid: number };

/** What a run plan carries when the warm interpreter may start it. */
export type WarmOrders = WarmServer & { argv: string[] };

/** A runner connected and checked, its pipes open: it takes one run's orders. */
export type WarmRunner = {
  server: WarmServer;
  /** the connection ended or failed: this runner takes no run */
  readonly gone: boolean;
  close(): void;
};

export type WarmRun = SpawnedRun & {
  /** the runner: the script's parent and subreaper, whose leftovers end with the run */
  runner: number;
  /** closes the connection to the runner once the run is over */
  end(): void;
};

/** A loaded box forks slowly: beyond this, the run starts cold instead. */
const HANDSHAKE_MS = 5000;
const GROUP_POLL_MS = 50;
/** How often a warm run's script is looked at, in case its runner cannot tell its end. */
const SCRIPT_POLL_MS = 250;
const EXIT_LINE_GRACE_MS = 1000;
const MAX_LINE = 4096;

/** Lines from the runner, one at a time; undefined once the connection is over. */
function lineReader(socket: UnixConnection) {
  const decoder = new TextDecoder();
  let text = "";
  let over = false;
  let wake: (() => void) | undefined;
  const poke = () => {
    wake?.();
    wake = undefined;
  };
  socket.onData = (chunk) => {
    text += decoder.decode(chunk, { stream: true });
    if (text.length > MAX_LINE && !text.includes("\n")) socket.close();
    poke();
  };
  socket.onClose = () => ((over = true), poke());
  const next = async function next(timeoutMs?: number): Promise<string | undefined> {
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const newline = text.indexOf("\n");
      if (newline >= 0) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        return line;
      }
      if (over) return undefined;
      if (Date.now() >= deadline) throw new Error(`no answer from the warm interpreter within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (deadline !== Infinity) setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
    }
  };
  return Object.assign(next, { over: () => over });
}

function connect(path: string): Promise<UnixConnection> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the warm interpreter's socket does not answer")), HANDSHAKE_MS);
    connectUnix(path).then(
      (socket) => (clearTimeout(timer), resolve(socket)),
      (error) => (clearTimeout(timer), reject(error)),
    );
  });
}

/** `/proc/PID/status` fields: every uid, and the parent. */
function processOf(pid: number): { uids: number[]; parent: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const uids = /^Uid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number) ?? [];
    const parent = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
    return { uids, parent };
  } catch {
    return undefined;
  }
}

function checkOwned(pid: number, uid: number, what: string, parent?: number): void {
  const found = processOf(pid);
  if (!found || found.uids.length !== 4 || found.uids.some((id) => id !== uid)) throw new Error(`the ${what} ${pid} is not the run user's`);
  if (parent !== undefined && found.parent !== parent) throw new Error(`the ${what} ${pid} is not the runner's child`);
}

function exitOf(line: string | undefined): { code: number; signal: string | null } | undefined {
  const match = /^exit (\d+) (\S+)$/.exec(line ?? "");
  if (!match) return undefined;
  return { code: Number(match[1]), signal: match[2] === "-" ? null : match[2]! };
}

/**
 * Whether `pid` can still do its part: there, and neither stopped nor a
 * zombie. A runner taken ahead waits as the run user, whose scripts may
 * signal it (SIGSTOP): one that cannot answer is not given a run.
 */
function canAnswer(pid: number): boolean {
  return !"TtZX".includes(stateOf(pid) ?? "X");
}

/** The process's state letter (`S`, `T`, `Z`…), undefined once it is gone. */
function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2];
  } catch {
    return undefined;
  }
}

/** Waits for the group led by `pid` to be gone, or its leader a zombie nobody reaps (its runner died or is stopped). */
async function groupGone(pid: number): Promise<void> {
  while (signalGroup(pid, 0) && stateOf(pid) !== "Z") await sleep(GROUP_POLL_MS);
}

/**
 * Resolves when the script's process has ended (gone, or a zombie) while its
 * runner is stopped, and both still are EXIT_LINE_GRACE_MS later: a stopped
 * runner never tells the exit, and the run must still end. A runner that is
 * merely slow (a loaded box) is waited for. `stop()` ends the watch.
 */
function scriptEnded(pid: number, runner: number): { ended: Promise<undefined>; stop(): void } {
  let watching = true;
  const stuck = () => ["Z", undefined].includes(stateOf(pid)) && "Tt".includes(stateOf(runner) ?? "-");
  const ended = (async () => {
    while (watching) {
      await sleep(SCRIPT_POLL_MS);
      if (!stuck()) continue;
      await sleep(EXIT_LINE_GRACE_MS);
      if (stuck()) break;
    }
    return undefined;
  })();
  return { ended, stop: () => (watching = false) };
}

type Connected = WarmRunner & {
  pid: number;
  runner: number;
  pipes: OpenedPipe[];
  socket: UnixConnection;
  next: ReturnType<typeof lineReader>;
};

/** Connects to the warm interpreter's spare runner and takes over its pipes; throws (having started nothing) when it cannot. */
export async function connectRunner(server: WarmServer): Promise<WarmRunner> {
  const socket = await connect(server.socket);
  const next = lineReader(socket);
  const pipes: OpenedPipe[] = [];
  let closed = false;
  try {
    const spare = await next(HANDSHAKE_MS);
    const match = /^spare (\d+) (\d+) (\d+) (\d+) (\d+)$/.exec(spare ?? "");
    if (!match) throw new Error(spare === undefined ? "the warm interpreter ended the connection" : "the warm interpreter's answer was not understood");
    const [pid, runner, ...fds] = match.slice(1).map(Number) as [number, number, number, number, number];
    checkOwned(runner, server.uid, "runner");
    checkOwned(pid, server.uid, "script's process", runner);
    for (const fd of fds) pipes.push(openPipe(`/proc/${runner}/fd/${fd}`));
    const connected: Connected = {
      server,
      pid,
      runner,
      pipes,
      socket,
      next,
      get gone() {
        return closed || next.over() || !canAnswer(runner) || !canAnswer(pid);
      },
      close() {
        closed = true;
        for (const pipe of pipes) pipe.close();
        socket.close();
      },
    };
    return connected;
  } catch (error) {
    for (const pipe of pipes) pipe.close();
    socket.close();
    throw error;
  }
}

/**
 * Gives `argv` to a connected runner. Throws when it refuses (nothing of the
 * script ran: start it cold). Once the orders are sent the run is the warm
 * interpreter's whatever happens: a runner that goes away without a word
 * leaves an exit code that is lost, never a second start.
 */
export async function startWarm(connected: WarmRunner, argv: string[], cwd: string, env: Record<string, string>): Promise<WarmRun> {
  const { pid, runner, pipes, socket, next } = connected as Connected;
  socket.write(`${JSON.stringify({ argv, cwd, env })}\n`);
  // No answer in time (a runner stopped since it was checked): the script may have its orders,
  // so the run goes on as the warm path's; its end comes with the exit line or the connection's.
  const answer = await next(HANDSHAKE_MS).catch(() => "late");
  if (answer?.startsWith("refused")) {
    connected.close();
    throw new Error(`the warm interpreter refused the run (${answer.slice(8, 300) || "no reason given"})`);
  }
  const [stdout, stderr, channel] = pipes as [OpenedPipe, OpenedPipe, OpenedPipe];
  /** The runner's exit line (after its `running`, when that came late). */
  const exitLine = async () => {
    if (answer === undefined) return undefined;
    const line = await next();
    return answer === "late" && line === "running" ? next() : line;
  };
  return {
    pid,
    runner,
    stdout: stdout.stream,
    stderr: stderr.stream,
    channel: channel.stream,
    exited: (async () => {
      const watch = scriptEnded(pid, runner);
      const line = await Promise.race([exitLine(), watch.ended]);
      watch.stop();
      const exit = exitOf(line);
      if (exit) return exit;
      // The runner is gone or stopped without a word: the exit code is lost once the script is gone too.
      await groupGone(pid);
      return { code: 255, signal: null };
    })(),
    closeChannel: () => pipes.forEach((pipe) => pipe.close()),
    end: () => socket.close(),
  };
}

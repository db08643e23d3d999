/**
 * The run supervisor: owns the script's pipes, spools every byte as frames (so
 * the script never waits on a slow client), enforces the timeout, and records
 * the exit code in the run folder. It runs as `keg-agent supervise`, a process
 * in a session of its own: it takes the output off the agent's thread (the
 * two run on two cores), and a detached run keeps its output and exit code
 * across agent restarts. The agent keeps one started and waiting for its
 * orders on stdin (the run folder and the plan, as one JSON line: the
 * environment the user passed never touches the disk), so a run does not wait
 * for a process start. Before the orders the agent may name the warm
 * interpreter (`{"warm": SERVER}` lines, the last one counts): the spare then
 * connects to it ahead of its run (src/agent/warm-start.ts). It tells the
 * agent `warm` or `cold WHY` when the warm interpreter was asked, `pid N`
 * once, then one byte per append, and `!` once the exit record is written.
 * @module
 */
import { writeSync } from "node:fs";
import { becomeSubreaper, spawnRun, type SpawnedRun } from "../platform/index.ts";
import { endDescendants } from "./descendants.ts";
import { encodeFrame, encodeJsonFrame, Frame, FrameDecoder } from "../wire/frames.ts";
import { runPaths, writeJsonAtomically, type ExitRecord, type RunPlan } from "./run-files.ts";
import { stopGroup } from "./signals.ts";
import { signalRun } from "./container.ts";
import { SpoolWriter } from "./spool.ts";
import { connectRunner, startWarm, type WarmRun, type WarmRunner, type WarmServer } from "./warm-start.ts";

const CHUNK = 1024 * 1024;
const KILL_AFTER_TERM_MS = 5000;
/** After the script exits, how long a grandchild may keep its pipes open before we stop reading. */
const DRAIN_AFTER_EXIT_MS = 1000;

export type SupervisorEvents = {
  /** the script runs as the leader of process group `pid` */
  started(pid: number): void;
  /** frames were appended to the spool */
  output(): void;
  /** a run the warm interpreter was asked for: whether it served it, or why not */
  warm?(served: boolean, why?: string): void;
};

/** Reads a stream to its end, or until `stop` (a plain read loop: racing each read would keep every chunk alive). */
async function pump(stream: ReadableStream<Uint8Array>, onChunk: (chunk: Uint8Array) => void, stop: Promise<void>) {
  const reader = stream.getReader();
  void stop.then(() => reader.cancel().catch(() => {}));
  for (;;) {
    const next = await reader.read().catch(() => ({ done: true as const, value: undefined }));
    if (next.done) return;
    onChunk(next.value);
  }
}

/** What a supervisor tells the agent once the exit record is written: the cycle may end before the process has. */
export const EXIT_RECORDED = "!";

/** What the agent tells a supervisor on its stdin: its run, as one line. */
export type SupervisorOrders = { dir: string; plan: RunPlan };
/** A line the agent may send before the orders: the warm interpreter to connect to ahead of the run. */
export type SupervisorWarmUp = { warm: WarmServer };

/** A runner of the warm interpreter for `server`: one connected ahead when it is that server's and still there. */
export type RunnerSource = (server: WarmServer) => Promise<WarmRunner>;

/** Runs `plan` in `runDir` to its end; the exit record is also written to the run folder. */
export async function superviseRun(runDir: string, plan: RunPlan, events: SupervisorEvents, runnerFor: RunnerSource = connectRunner): Promise<ExitRecord> {
  const paths = runPaths(runDir);
  const spool = new SpoolWriter(paths.spool, plan.logLimitBytes);
  const append = (type: number, payload: Uint8Array) => {
    spool.appendFrame(type, payload);
    events.output();
  };
  const forward = (type: number) => (chunk: Uint8Array) => {
    for (let at = 0; at < chunk.length; at += CHUNK) append(type, chunk.subarray(at, at + CHUNK));
  };
  const finish = (exit: ExitRecord) => {
    spool.reopenIfGone();
    spool.append(encodeJsonFrame(Frame.exit, exit));
    spool.close();
    writeJsonAtomically(paths.exit, exit);
    events.output();
    return exit;
  };

  if (plan.notice) forward(Frame.stderr)(new TextEncoder().encode(plan.notice));
  let child: SpawnedRun | WarmRun | undefined;
  if (plan.warm) {
    try {
      child = await startWarm(await runnerFor(plan.warm), plan.warm.argv, paths.work, plan.env);
      events.warm?.(true);
    } catch (error) {
      // Nothing of the script ran: a fresh interpreter starts it instead.
      events.warm?.(false, (error as Error).message);
    }
  }
  try {
    child ??= spawnRun(plan.argv, { cwd: paths.work, env: plan.env });
  } catch (error) {
    forward(Frame.stderr)(new TextEncoder().encode(`keg: cannot start ${plan.argv[0]}: ${(error as Error).message}\n`));
    return finish({ code: 127, signal: null, status: "exited", ended: new Date().toISOString() });
  }
  writeJsonAtomically(paths.pid, { pid: child.pid });
  events.started(child.pid);

  let timedOut = false;
  let killedAfterTimeout = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  if (plan.timeoutSeconds > 0) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signalRun(plan.container, child.pid, "SIGTERM");
        timers.push(
          setTimeout(() => {
            killedAfterTimeout = true;
            signalRun(plan.container, child.pid, "SIGKILL");
          }, KILL_AFTER_TERM_MS),
        );
      }, plan.timeoutSeconds * 1000),
    );
  }

  const records = new FrameDecoder({ isKnownType: (t) => t >= 1 && t <= 4 });
  let garbage = false;
  const onRecord = (chunk: Uint8Array) => {
    if (garbage) return;
    try {
      for (const record of records.push(chunk)) {
        const payload = new Uint8Array(record.payload.length + 1);
        payload[0] = record.type;
        payload.set(record.payload, 1);
        append(Frame.record, payload);
      }
    } catch (error) {
      garbage = true;
      forward(Frame.stderr)(new TextEncoder().encode(`keg: garbage on the output channel (${(error as Error).message}); further records ignored\n`));
    }
  };

  let exited!: () => void;
  const exitedThenDrained = new Promise<void>((resolve) => (exited = resolve)).then(
    () => new Promise<void>((resolve) => setTimeout(resolve, DRAIN_AFTER_EXIT_MS)),
  );
  const pumps = Promise.all([
    pump(child.stdout, forward(Frame.stdout), exitedThenDrained),
    pump(child.stderr, forward(Frame.stderr), exitedThenDrained),
    pump(child.channel, onRecord, exitedThenDrained),
  ]);
  const result = await child.exited;
  exited();
  await pumps;
  child.closeChannel();
  for (const timer of timers) clearTimeout(timer);
  // The run is over: what it started and left behind (even outside its process group) ends with it.
  // A warm run's leftovers are its runner's (the supervisor started nothing itself).
  if ("runner" in child) {
    await endDescendants(child.runner);
    child.end();
  } else await endDescendants();

  return finish({
    code: timedOut ? (killedAfterTimeout ? 137 : 124) : result.code,
    signal: result.signal,
    status: timedOut ? "timeout" : result.signal ? "killed" : "exited",
    ended: new Date().toISOString(),
    warm: "runner" in child || undefined,
  });
}

/**
 * The lines on stdin: warm-up lines (each given to `warmUp`) until the
 * orders, and a promise that settles when stdin ends.
 */
function readOrders(warmUp: (server: WarmServer) => void): { orders: Promise<SupervisorOrders | undefined>; agentGone: Promise<void> } {
  let text = "";
  let given!: (orders: SupervisorOrders | undefined) => void;
  const orders = new Promise<SupervisorOrders | undefined>((resolve) => (given = resolve));
  let ordered = false;
  const take = (line: string) => {
    if (ordered) return;
    let parsed: Partial<SupervisorOrders & SupervisorWarmUp> | undefined;
    try {
      parsed = JSON.parse(line);
    } catch {}
    if (parsed?.warm && !parsed.dir) return warmUp(parsed.warm);
    ordered = true;
    given(parsed?.dir ? (parsed as SupervisorOrders) : undefined);
  };
  const agentGone = new Promise<void>((resolve) => {
    process.stdin.on("data", (chunk) => {
      text += chunk;
      for (let newline = text.indexOf("\n"); newline >= 0; newline = text.indexOf("\n")) {
        const line = text.slice(0, newline).trim();
        text = text.slice(newline + 1);
        if (line) take(line);
      }
    });
    process.stdin.on("end", () => {
      if (text.trim()) take(text.trim());
      given(undefined);
      resolve();
    });
    process.stdin.on("error", () => (given(undefined), resolve()));
  });
  return { orders, agentGone };
}

/** The runner a spare supervisor connected to ahead of its run (the last warm-up line's server). */
function runnersAhead() {
  let ahead: Promise<WarmRunner | undefined> | undefined;
  /** Lets go of the runner connected ahead, if any (once its connection is made). */
  const drop = () => {
    void ahead?.then((runner) => runner?.close());
    ahead = undefined;
  };
  return {
    warmUp(server: WarmServer) {
      drop();
      ahead = connectRunner(server).catch(() => undefined);
    },
    /** The runner connected ahead when it is `server`'s and still there, else a new connection. */
    async take(server: WarmServer): Promise<WarmRunner> {
      const runner = await ahead;
      ahead = undefined;
      if (runner && !runner.gone && runner.server.socket === server.socket && runner.server.uid === server.uid) return runner;
      runner?.close();
      return connectRunner(server);
    },
    /** A run that goes cold: the runner waiting for it is let go. */
    drop,
  };
}

/**
 * `keg-agent supervise`: takes its orders from stdin (after any warm-up
 * lines). Events go to the agent on stdout while it is there. For an attached
 * run the agent keeps stdin open; its end means the agent died, and the run,
 * which no client can follow any more, is stopped (docs/usage.md "Runs").
 */
export async function supervise(): Promise<number> {
  const runners = runnersAhead();
  const { orders: given, agentGone } = readOrders(runners.warmUp);
  await becomeSubreaper();
  const orders = await given;
  if (!orders) return 0; // the agent went away before giving us a run
  const { dir: runDir, plan } = orders;
  if (!plan.warm) runners.drop();
  let agentThere = true;
  const tell = (text: string) => {
    if (!agentThere) return;
    try {
      writeSync(1, text);
    } catch {
      agentThere = false; // the agent went away; the spool still has everything
    }
  };
  // One wake-up per turn of the event loop is enough, however many chunks came in it.
  let pending = false;
  const output = () => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      tell(".");
    });
  };
  let ended = false;
  const stopIfAgentGone = async (pid: number) => {
    await agentGone;
    if (!ended) await stopGroup(pid, () => ended, (signal) => signalRun(plan.container, pid, signal));
  };
  await superviseRun(runDir, plan, {
    warm: (served, why) => tell(served ? "warm\n" : `cold ${why?.replace(/\s+/g, " ")}\n`),
    started: (pid) => {
      tell(`pid ${pid}\n`);
      if (plan.attached) void stopIfAgentGone(pid);
    },
    output,
  }, runners.take);
  ended = true;
  tell(EXIT_RECORDED);
  return 0;
}

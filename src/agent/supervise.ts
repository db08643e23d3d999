/**
 * The run supervisor: `keg-agent supervise RUN_DIR`, started by the agent for
 * each run in a session of its own. It owns the script's pipes, spools every
 * byte as frames (so the script never waits on a slow client), enforces the
 * timeout, and records the exit code in the run folder. Because it is not the
 * agent, a detached run keeps its output and exit code across agent restarts.
 * On stdout it tells the agent `pid N` once, then one byte per append.
 * @module
 */
import { writeSync } from "node:fs";
import { spawnRun } from "../platform/bun.ts";
import { encodeFrame, encodeJsonFrame, Frame, FrameDecoder } from "../wire/frames.ts";
import { readJson, runPaths, writeJsonAtomically, type ExitRecord, type RunPlan } from "./run-files.ts";
import { signalGroup } from "./signals.ts";
import { SpoolWriter } from "./spool.ts";

const CHUNK = 1024 * 1024;
const KILL_AFTER_TERM_MS = 5000;
/** After the script exits, how long a grandchild may keep its pipes open before we stop reading. */
const DRAIN_AFTER_EXIT_MS = 1000;

function notifier() {
  let open = true;
  return (text: string) => {
    if (!open) return;
    try {
      writeSync(1, text);
    } catch {
      open = false; // the agent went away; the spool still has everything
    }
  };
}

async function pump(stream: ReadableStream<Uint8Array>, onChunk: (chunk: Uint8Array) => void, stop: Promise<void>) {
  const reader = stream.getReader();
  const stopped = stop.then(() => "stop" as const);
  for (;;) {
    const next = await Promise.race([reader.read(), stopped]);
    if (next === "stop") {
      reader.cancel().catch(() => {});
      return;
    }
    if (next.done) return;
    onChunk(next.value);
  }
}

export async function supervise(runDir: string): Promise<number> {
  const paths = runPaths(runDir);
  const plan = readJson<RunPlan>(paths.plan);
  if (!plan) throw new Error(`no run plan in ${runDir}`);
  const spool = new SpoolWriter(paths.spool, plan.logLimitBytes);
  const notify = notifier();
  const append = (frames: Uint8Array) => {
    spool.append(frames);
    notify(".");
  };
  const forward = (type: number) => (chunk: Uint8Array) => {
    for (let at = 0; at < chunk.length; at += CHUNK) append(encodeFrame(type, chunk.subarray(at, at + CHUNK)));
  };

  let child;
  try {
    child = spawnRun(plan.argv, { cwd: paths.work, env: plan.env });
  } catch (error) {
    append(encodeFrame(Frame.stderr, new TextEncoder().encode(`keg: cannot start ${plan.argv[0]}: ${(error as Error).message}\n`)));
    const exit: ExitRecord = { code: 127, signal: null, status: "exited", ended: new Date().toISOString() };
    append(encodeJsonFrame(Frame.exit, exit));
    spool.close();
    writeJsonAtomically(paths.exit, exit);
    return 0;
  }
  writeJsonAtomically(paths.pid, { pid: child.pid });
  notify(`pid ${child.pid}\n`);

  let timedOut = false;
  let killedAfterTimeout = false;
  let timers: ReturnType<typeof setTimeout>[] = [];
  if (plan.timeoutSeconds > 0) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signalGroup(child.pid, "SIGTERM");
        timers.push(
          setTimeout(() => {
            killedAfterTimeout = true;
            signalGroup(child.pid, "SIGKILL");
          }, KILL_AFTER_TERM_MS),
        );
      }, plan.timeoutSeconds * 1000),
    );
  }

  const records = new FrameDecoder({ isKnownType: (t) => t >= 1 && t <= 4 });
  const onRecord = (chunk: Uint8Array) => {
    try {
      for (const record of records.push(chunk)) {
        const payload = new Uint8Array(record.payload.length + 1);
        payload[0] = record.type;
        payload.set(record.payload, 1);
        append(encodeFrame(Frame.record, payload));
      }
    } catch (error) {
      forward(Frame.stderr)(new TextEncoder().encode(`keg: garbage on the output channel (${(error as Error).message}); further records ignored\n`));
      records.push = () => [];
    }
  };

  let exited!: () => void;
  const exitedThenDrained = new Promise<void>((resolve) => (exited = resolve)).then(() => new Promise<void>((r) => setTimeout(r, DRAIN_AFTER_EXIT_MS)));
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

  const exit: ExitRecord = {
    code: timedOut ? (killedAfterTimeout ? 137 : 124) : result.code,
    signal: result.signal,
    status: timedOut ? "timeout" : result.signal ? "killed" : "exited",
    ended: new Date().toISOString(),
  };
  append(encodeJsonFrame(Frame.exit, exit));
  spool.close();
  writeJsonAtomically(paths.exit, exit);
  notify("x");
  return 0;
}

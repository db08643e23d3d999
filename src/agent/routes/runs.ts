/**
 * /v1/runs: start a run (upload in, frames out), follow, stop, signal, list.
 * The command lock is taken before the upload is read and released by the
 * cycle's end, whatever way it ends (docs/locks.md "The command lock").
 * @module
 */
import { Hono } from "hono";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../../errors.ts";
import type { Grant, LockStore } from "../../lock/store.ts";
import type { WaitLine } from "../../lock/wait-line.ts";
import { disableIdleTimeout, responseCopiesChunks } from "../../platform/index.ts";
import type { RunInfo, RunSpec, StartedInfo } from "../../wire/api.ts";
import { encodeJsonFrame, Frame } from "../../wire/frames.ts";
import { EmptyRequestSchema, HeartbeatRequestSchema, KillRequestSchema, OutputQuerySchema, ResumeRequestSchema, RunIdParamSchema } from "../../wire/schemas.ts";
import { AttachedCycles } from "../attached-cycles.ts";
import type { AuthEnv } from "../auth.ts";
import type { AgentConfig } from "../config.ts";
import { ContainerRuntime, containerPlan } from "../container.ts";
import { downloadFrames } from "../downloads.ts";
import { frameHeaders, frameStream, queueFrames } from "../frame-stream.ts";
import { mayWait, pythonNotices, type PythonEnv } from "../python-env.ts";
import { runPaths, type RunPlan } from "../run-files.ts";
import { asRunUser, runUserOf } from "../run-user.ts";
import { baseEnv } from "../script-env.ts";
import type { LiveRun, RunManager, RunRecord } from "../runs.ts";
import { isResumeOffset, SpoolReader } from "../spool.ts";
import { unpackUpload } from "../unpack.ts";
import { readSpec, saveUpload, type BodyReader } from "../upload.ts";
import { logEvent } from "../log.ts";
import type { WarmPython } from "../warm-python.ts";
import type { WarmOrders } from "../warm-start.ts";
import { smallJsonBody, valid } from "./validate.ts";

/** Runs per chunk of the `ps` answer. */
const LIST_CHUNK_RUNS = 256;

export type RunDeps = { config: AgentConfig; locks: LockStore; runs: RunManager; python: PythonEnv; warm?: WarmPython; lines: { command: WaitLine } };

/** What the supervisor runs: argv (as the run user) and the script's environment (docs/security.md "A script's environment"). */
async function planFor(spec: RunSpec, record: RunRecord, deps: RunDeps, runDir: string, containers: ContainerRuntime): Promise<RunPlan> {
  const { work: workDir, tmp } = runPaths(runDir);
  const user = runUserOf(deps.config);
  const kegEnv = {
    KEG_PROCESS_ID: record.id,
    KEG_BOX: spec.box,
    KEG_OUTPUT_CHANNEL: "3",
    PYTHONUNBUFFERED: "1",
    // A run folder is used once: bytecode caches would only add files to it.
    PYTHONDONTWRITEBYTECODE: "1",
    PYTHONPATH: [deps.python.libDir, spec.env.PYTHONPATH].filter(Boolean).join(":"),
  };
  const env: Record<string, string> = { ...baseEnv(user, tmp), ...spec.env, ...kegEnv };
  let argv: string[];
  let notice: string | undefined;
  let warm: WarmOrders | undefined;
  if (spec.command === "python") {
    env.KEG_RUNNABLE = join(workDir, spec.entry!);
    // In a container, the image's own Python.
    const runner = spec.image ? { python: "python3" } : await deps.python.runner;
    argv = [runner.python, env.KEG_RUNNABLE, ...spec.args];
    notice = "warning" in runner ? runner.warning : undefined;
    if (deps.warm && !spec.image && !spec.cold) {
      const orders = await deps.warm.ordersFor(argv, env);
      if (typeof orders === "string") logEvent("warm-fallback", { run: record.id, cause: orders });
      else warm = orders;
    }
  } else if (spec.command === "pip") {
    env.KEG_RUNNABLE = "pip";
    env.PIP_DISABLE_PIP_VERSION_CHECK = "1";
    argv = [await deps.python.pip(), "-m", "pip", ...spec.args];
  } else {
    env.KEG_RUNNABLE = spec.args[0]!;
    argv = spec.args;
  }
  const plan: RunPlan = { argv, env, attached: !spec.detach, timeoutSeconds: spec.timeout, logLimitBytes: deps.config.logLimitBytes, notice, warm };
  const run = spec.image
    ? containerPlan(plan, {
        runtime: await containers.find(spec.box),
        image: spec.image,
        name: `keg-${record.id}`,
        work: workDir,
        runDir,
        libDir: deps.python.libDir,
        // The run's own variables: the container keeps the image's PATH and HOME.
        envNames: [...new Set([...Object.keys(spec.env), ...Object.keys(kegEnv), "KEG_RUNNABLE"])],
        devices: deps.config.containerDevices,
        user: user.switches ? `${user.uid}:${user.gid}` : undefined,
        command: argv,
      })
    : plan;
  return { ...run, argv: asRunUser(user, run.argv) };
}

/** `from` where a follower may resume, or the 400 saying it may not (docs/api.md "Resuming"). */
function resumeOffset(live: LiveRun, from: number): number {
  if (!isResumeOffset(runPaths(live.dir).spool, from))
    throw new KegError("bad_request", `Bad query: from must be a frame boundary the output of run ${live.id} has reached.`);
  return from;
}

/**
 * Whether the spool reader of this request's answer may refill one buffer:
 * only when the server copies each chunk before it pulls the next (Bun's
 * listener, not Deno's, nor an in-process `app.request`). A new buffer per
 * read left 1 GiB of 256 KiB buffers to the collector, fresh memory for each
 * (docs/performance.md "Memory and streaming").
 */
const reusesBuffer = (server: unknown) => responseCopiesChunks && server !== undefined;

/**
 * A run's frames from `from`, live until its exit frame; then nothing more.
 * A keepalive goes first: a client following a silent run gets its answer at
 * once, not after `--keepalive` seconds (it gives up waiting for one sooner).
 */
async function* outputFrames(live: LiveRun, runs: RunManager, keepaliveMs: number, from: number, reuseBuffer: boolean): AsyncGenerator<Uint8Array> {
  const reader = new SpoolReader(runPaths(live.dir).spool, from, { reuseBuffer });
  try {
    yield encodeJsonFrame(Frame.keepalive, {});
    yield* spooledFrames(reader, live, runs, keepaliveMs);
  } finally {
    reader.close();
  }
}

async function* spooledFrames(reader: SpoolReader, live: LiveRun, runs: RunManager, keepaliveMs: number): AsyncGenerator<Uint8Array> {
  let lastSent = Date.now();
  for (;;) {
    const { dropped, data } = reader.read();
    if (dropped) yield encodeJsonFrame(Frame.dropped, { bytes: dropped });
    if (data) {
      lastSent = Date.now();
      yield data;
      continue;
    }
    if (dropped) continue;
    if (live.exit) {
      // The supervisor spools the exit frame before it records the exit: one last read finds it.
      const last = reader.read();
      if (last.dropped) yield encodeJsonFrame(Frame.dropped, { bytes: last.dropped });
      if (last.data) {
        yield last.data;
        continue;
      }
      return;
    }
    const wait = keepaliveMs - (Date.now() - lastSent);
    if (wait <= 0) {
      lastSent = Date.now();
      yield encodeJsonFrame(Frame.keepalive, {});
    } else await runs.waitForChange(live, wait);
  }
}

export function runRoutes(deps: RunDeps) {
  const { config, locks, runs, lines } = deps;
  const app = new Hono<AuthEnv & { Bindings: { server?: unknown } }>();
  const keepaliveMs = config.keepaliveSeconds * 1000;
  const containers = new ContainerRuntime(config);
  const cycles = new AttachedCycles(config.reconnectGraceSeconds, runs, locks);

  /** Receives and unpacks the upload into a new run folder (removed again on failure). */
  async function receiveUpload(reader: BodyReader, rest: Uint8Array, id: string): Promise<string> {
    const dir = runs.prepare(id);
    const paths = runPaths(dir);
    try {
      const upload = await saveUpload(reader, rest, paths.upload, config.maxUploadBytes);
      await unpackUpload(upload, paths.work);
      if (typeof upload === "string") rmSync(upload, { force: true });
      runs.handOver(dir);
      return dir;
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async function startRun(dir: string, id: string, user: string, spec: RunSpec, grant: Grant): Promise<LiveRun> {
    const record: RunRecord = {
      id,
      user,
      runnable: spec.command === "python" ? spec.entry! : [...(spec.command === "pip" ? ["pip"] : []), ...spec.args].join(" "),
      command: spec.command,
      started: new Date().toISOString(),
      status: "running",
      exit_code: null,
      signal: null,
      detached: spec.detach,
      warm: false,
      generation: grant.generation,
      forced: grant.forced,
      box: spec.box,
    };
    let live: LiveRun;
    try {
      live = runs.start(dir, record, await planFor(spec, record, deps, dir, containers));
    } catch (error) {
      // Nothing started: no record, and no folder left (the caller releases the lock).
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    // A detached run frees the box right after it has started (docs/locks.md "The command lock").
    if (spec.detach && !grant.forced) locks.releaseCommand(grant.generation);
    return live;
  }

  /** The attached cycle: started, output, exit, downloads, then the end once the lock is released. */
  async function* cycle(live: LiveRun, spec: RunSpec, grant: Grant, reuseBuffer: boolean) {
    const started: StartedInfo = {
      id: live.id,
      generation: grant.generation,
      keepalive: config.keepaliveSeconds,
      forced: grant.forced,
      reconnect_grace: config.reconnectGraceSeconds,
    };
    yield encodeJsonFrame(Frame.started, started);
    yield* restOfCycle(live, spec.downloads, grant, 0, reuseBuffer);
  }

  /** The cycle after `started`, from output offset `from`: what a resuming client gets too. */
  async function* restOfCycle(live: LiveRun, downloads: string[], grant: Grant, from: number, reuseBuffer: boolean) {
    yield* outputFrames(live, runs, keepaliveMs, from, reuseBuffer);
    const work = runPaths(live.dir).work;
    for (const wanted of downloads) yield* downloadFrames(work, wanted, () => cycles.mayDownload(live.id, grant));
    const released = await runs.finishCycle(live);
    cycles.ended(live.id, released);
    yield encodeJsonFrame(Frame.end, { released });
  }

  app.post("/", async (c) => {
    const body = c.req.raw.body;
    if (!body) throw new KegError("bad_request", "A run needs a body (spec and upload). Use keg to start runs.");
    const reader = body.getReader();
    const { spec, rest } = await readSpec(reader);
    // A box without a container runtime refuses --image before the lock and the upload.
    if (spec.image) await containers.find(spec.box);
    const user = c.get("user");
    const id = crypto.randomUUID();
    const signal = c.req.raw.signal;
    const acquire = () => locks.acquireCommand(spec.box, user, spec.command, spec.force, id);
    disableIdleTimeout(c.env?.server, c.req.raw);

    // A detached run waits for the box's Python unsaid: its answer is its id.
    if (spec.wait === undefined && (spec.detach || !mayWait(deps.python, spec))) {
      // Refuse a busy box before reading the upload.
      const grant = acquire();
      let live: LiveRun;
      try {
        live = await startRun(await receiveUpload(reader, rest, id), id, user, spec, grant);
      } catch (error) {
        if (!grant.forced) locks.releaseCommand(grant.generation);
        throw error;
      }
      if (spec.detach) return c.json({ id, generation: grant.generation });
      const gone = cycles.begin(live, spec.downloads, grant);
      // A client that left during the upload or unpacking aborted before this listener existed.
      if (signal.aborted) cycles.abandonNow(id);
      else signal.addEventListener("abort", gone);
      return new Response(frameStream(cycle(live, spec, grant, reusesBuffer(c.env?.server)), gone), { headers: frameHeaders });
    }

    // --wait: the upload comes first, then the run queues for the box. A run that may
    // wait for the box's Python answers with frames at once, to say so.
    const early = spec.wait === undefined ? acquire() : undefined;
    let dir: string;
    try {
      dir = await receiveUpload(reader, rest, id);
    } catch (error) {
      if (early && !early.forced) locks.releaseCommand(early.generation);
      throw error;
    }
    let live: LiveRun | undefined;
    let leave: (() => void) | undefined;
    const release = (grant: Grant) => grant.forced || locks.releaseCommand(grant.generation);
    // A client that left before its answer was first read (the stream is pulled at its pace) never
    // starts the generator below: its early lock and upload go here, or they would stay held.
    let begun = false;
    const dropUnstarted = () => {
      if (begun) return;
      begun = true;
      if (early) release(early);
      rmSync(dir, { recursive: true, force: true });
    };
    if (signal.aborted) {
      dropUnstarted();
      throw new KegError("failed", "The client went away before the run started.");
    }
    // Before the run started, a client that goes away only loses its place in line.
    const gone = () => (begun ? leave?.() : dropUnstarted());
    async function* waitThenRun() {
      if (begun) return;
      begun = true;
      let grant: Grant | undefined;
      try {
        grant = early ?? (yield* queueFrames(lines.command.wait(acquire, spec.wait!, signal, release)));
        yield* pythonNotices(deps.python, spec, signal);
        // Its client left while it waited for the box's Python: the run never starts.
        if (signal.aborted) throw new KegError("failed", "The client went away before the run started.");
        live = await startRun(dir, id, user, spec, grant);
        if (!spec.detach) leave = cycles.begin(live, spec.downloads, grant);
      } catch (error) {
        if (grant) release(grant);
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      if (signal.aborted) cycles.abandonNow(id);
      else signal.addEventListener("abort", gone);
      if (spec.detach) yield encodeJsonFrame(Frame.result, { id });
      else yield* cycle(live, spec, grant, reusesBuffer(c.env?.server));
    }
    return new Response(frameStream(waitThenRun(), gone), { headers: frameHeaders });
  });

  // Records of an older agent have no `warm`: they were all cold.
  const runInfo = ({ generation, forced, box, pid, ...info }: RunRecord): RunInfo => ({ ...info, warm: info.warm ?? false });
  // One JSON array of every run, sent as it is read: thousands of records are kept for
  // --keep-runs days, and neither they nor their text are held whole in memory.
  app.get("/", () => {
    const records = runs.list();
    const encoder = new TextEncoder();
    let first = true;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        let text = first ? "[" : "";
        for (let n = 0; n < LIST_CHUNK_RUNS; n++) {
          const next = records.next();
          if (next.done) {
            controller.enqueue(encoder.encode(`${text}]`));
            controller.close();
            return;
          }
          text += `${first ? "" : ","}${JSON.stringify(runInfo(next.value))}`;
          first = false;
        }
        controller.enqueue(encoder.encode(text));
      },
      cancel: () => void records.return(undefined),
    });
    return new Response(body, { headers: { "content-type": "application/json" } });
  });

  const runId = valid("param", RunIdParamSchema);

  app.get("/:id/output", runId, valid("query", OutputQuerySchema), (c) => {
    const { id } = c.req.valid("param");
    const live = runs.get(id);
    if (!live) {
      runs.record(id); // 404 for an unknown id
      throw new KegError("not_found", `Run '${id}' is no longer followable (the agent restarted before it ended).`);
    }
    const from = resumeOffset(live, c.req.valid("query").from);
    disableIdleTimeout(c.env?.server, c.req.raw);
    async function* follow() {
      yield* outputFrames(live!, runs, keepaliveMs, from, reusesBuffer(c.env?.server));
      yield encodeJsonFrame(Frame.end, { released: false });
    }
    return new Response(frameStream(follow()), { headers: frameHeaders });
  });

  // A client whose connection dropped comes back for the rest of its attached cycle (docs/api.md "Resuming").
  app.post("/:id/resume", runId, smallJsonBody, valid("json", ResumeRequestSchema), (c) => {
    const { generation, from } = c.req.valid("json");
    const resumed = cycles.resume(c.req.valid("param").id, generation, c.get("user"));
    const live = "open" in resumed ? resumed.open.live : resumed.over.live;
    let offset: number;
    try {
      offset = resumeOffset(live, from);
    } catch (error) {
      if ("open" in resumed) resumed.leave();
      throw error;
    }
    disableIdleTimeout(c.env?.server, c.req.raw);
    if ("over" in resumed) {
      const { released, downloads, grant } = resumed.over;
      // The cycle ended while the client was away (maybe before its downloads reached it): they go again.
      const replay = async function* () {
        yield* outputFrames(live, runs, keepaliveMs, offset, reusesBuffer(c.env?.server));
        const own = await released;
        const work = runPaths(live.dir).work;
        for (const wanted of downloads) yield* downloadFrames(work, wanted, () => grant.forced || own);
        yield encodeJsonFrame(Frame.end, { released: own });
      };
      return new Response(frameStream(replay()), { headers: frameHeaders });
    }
    const { open, leave } = resumed;
    c.req.raw.signal.addEventListener("abort", leave);
    return new Response(frameStream(restOfCycle(live, open.downloads, open.grant, offset, reusesBuffer(c.env?.server)), leave), { headers: frameHeaders });
  });

  app.post("/:id/heartbeat", runId, smallJsonBody, valid("json", HeartbeatRequestSchema), (c) => {
    const { generation } = c.req.valid("json");
    const run = runs.record(c.req.valid("param").id);
    if (run.forced) return c.json({ current: true });
    // Only the generation granted to this very run keeps a lock alive (docs/locks.md "Fencing").
    if (run.generation !== generation || !locks.touch(generation))
      throw new KegError("stale", `The command lock of run ${run.id} went stale and was taken over; this step is refused.`);
    return c.json({ current: true });
  });

  app.post("/:id/stop", runId, smallJsonBody, valid("json", EmptyRequestSchema), (c) => {
    const { id } = c.req.valid("param");
    runs.record(id);
    void runs.stop(id);
    return c.json({ stopping: true });
  });

  app.post("/:id/kill", runId, smallJsonBody, valid("json", KillRequestSchema), (c) => {
    const { signal = "SIGTERM" } = c.req.valid("json");
    return c.json({ sent: runs.kill(c.req.valid("param").id, signal) });
  });

  app.post("/kill-all", smallJsonBody, valid("json", EmptyRequestSchema), (c) => {
    const stopped = runs.running().map((r) => r.id);
    for (const id of stopped) void runs.stop(id);
    return c.json({ stopped });
  });

  return app;
}

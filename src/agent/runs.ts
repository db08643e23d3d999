/**
 * The runs of this box: starting a supervisor per run, following its output,
 * stopping and signalling process groups, and ending each cycle (post-run
 * hook, command lock release) exactly once. Run records live in LMDB so `ps`
 * survives restarts.
 * @module
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { KegError } from "../errors.ts";
import type { LockStore } from "../lock/store.ts";
import { selfCommand, spawnHelper, type Helper } from "../platform/index.ts";
import type { RunInfo } from "../wire/api.ts";
import type { AgentConfig } from "./config.ts";
import { treeSize } from "../files/tree-size.ts";
import { runHook } from "./hook.ts";
import { describeError, logEvent } from "./log.ts";
import { logRunEnded, logRunStarted } from "./run-log.ts";
import { oldestToPrune, type FinishedRun } from "./run-pruning.ts";
import { runUserOf } from "./run-user.ts";
import { handOverRun } from "./state-modes.ts";
import { readJson, runPaths, type ExitRecord, type RunPlan } from "./run-files.ts";
import type { State } from "./state.ts";
import { signalGroup, stopGroup } from "./signals.ts";
import { containerOf, keepContainer, signalRun } from "./container.ts";
import { EXIT_RECORDED, type SupervisorEvents, type SupervisorOrders, type SupervisorWarmUp } from "./supervise.ts";
import type { WarmServer } from "./warm-start.ts";

export type RunRecord = RunInfo & { generation: number; forced: boolean; box: string; pid?: number };

/**
 * A finished run's key in the index of finished runs (`state.finished`): its
 * start (ISO 8601 UTC, all of one length, so the text order is the time
 * order), a space, its id.
 */
export const finishedKey = (record: RunRecord) => `${record.started} ${record.id}`;
const keyParts = (key: string) => ({ started: key.slice(0, key.indexOf(" ")), id: key.slice(key.indexOf(" ") + 1) });
const byStart = (a: RunRecord, b: RunRecord) => a.started.localeCompare(b.started);

export type LiveRun = {
  id: string;
  dir: string;
  record: RunRecord;
  exit?: ExitRecord;
  exited: Promise<ExitRecord>;
  clientGone: boolean;
  cycle?: Promise<boolean>;
  /** resolvers waiting for new output or the exit */
  waiters: Set<() => void>;
};

const POLL_MS = 250;
/** How long after a detached run's group is gone its supervisor may take to record the exit (drain, descendants). */
const EXIT_RECORD_WAIT_MS = 10_000;
/** After a cycle's end frame (a script loop's next run comes soon); not during the end, which a spawn would hold up. */
const SPARE_DELAY_MS = 5;
const PID_WAIT_MS = 10_000;
/** Index entries `list()` reads at once. */
const LIST_CHUNK = 256;

export class RunManager {
  readonly live = new Map<string, LiveRun>();
  readonly runsDir: string;
  /** told of every run that ended in this life */
  onRunEnded?: (record: RunRecord) => void;

  constructor(
    private readonly state: State,
    private readonly config: AgentConfig,
    private readonly locks: LockStore,
  ) {
    this.runsDir = join(config.stateDir, "runs");
    mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
    this.refillSpare();
  }

  /** Makes the run folder; the caller unpacks the upload into `work/`. */
  prepare(id: string): string {
    const dir = join(this.runsDir, id);
    const paths = runPaths(dir);
    mkdirSync(paths.work, { recursive: true, mode: 0o700 });
    mkdirSync(paths.tmp, { mode: 0o700 });
    mkdirSync(paths.spool, { mode: 0o700 });
    return dir;
  }

  /** After the upload is unpacked: the run user gets its work and tmp folders. */
  handOver(dir: string): void {
    const paths = runPaths(dir);
    handOverRun(dir, paths.work, paths.tmp, runUserOf(this.config));
  }

  /** Throws, leaving nothing behind, when a detached run's record cannot be written: the run does not start. */
  start(dir: string, record: RunRecord, plan: RunPlan): LiveRun {
    keepContainer(dir, plan);
    if (record.detached) this.state.runs.putSync(record.id, record);
    const live: LiveRun = { id: record.id, dir, record, clientGone: false, waiters: new Set(), exited: undefined as never };
    this.live.set(record.id, live);
    if (!record.detached) setImmediate(() => this.saveAttachedStart(live));
    logRunStarted(record);
    const events: SupervisorEvents = {
      warm: (served, why) => {
        live.record = { ...live.record, warm: served };
        if (!served) logEvent("warm-fallback", { run: record.id, cause: why });
      },
      started: (pid: number) => this.setPid(live, pid),
      output: () => {
        this.wake(live);
        if (!live.record.forced) this.locks.touch(live.record.generation);
      },
    };
    live.exited = this.supervise({ dir, plan }, events).then(
      () => this.finishRecord(live),
      (error) => {
        logEvent("error", { run: record.id, cause: describeError(error) });
        return this.finishRecord(live);
      },
    );
    void live.exited.then(() => {
      this.wake(live);
      if (live.record.detached || live.clientGone) void this.finishCycle(live);
    });
    return live;
  }

  /** A supervisor started ahead of need, waiting for its run folder (it leaves when we do: its stdin ends). */
  private spare?: Helper;
  /** The warm interpreter, while one serves: the spare connects to it ahead of its run. */
  private warmServer?: WarmServer;

  private takeSupervisor(): Helper {
    const supervisor = this.spare ?? spawnHelper([...selfCommand(), "supervise"]);
    this.spare = undefined;
    return supervisor;
  }

  /** Starts the next spare: at start-up, and after a run (not during it, where it would take a core from the script). */
  private refillSpare(): void {
    // Spawning blocks the event loop for a few ms: not while a cycle is ending.
    setTimeout(() => {
      if (this.spare) return;
      this.spare = spawnHelper([...selfCommand(), "supervise"]);
      this.warmUpSpare();
    }, SPARE_DELAY_MS).unref();
  }

  /** The warm interpreter that serves now (undefined: none): the spare connects to it ahead of its run. */
  useWarmServer(server: WarmServer | undefined): void {
    this.warmServer = server;
    this.warmUpSpare();
  }

  private warmUpSpare(): void {
    if (!this.spare || !this.warmServer) return;
    const line: SupervisorWarmUp = { warm: this.warmServer };
    this.spare.tell(`${JSON.stringify(line)}\n`, { keepOpen: true });
  }

  /** Resolves once the supervisor has written the run's exit record (`!`), or is gone; it exits a few ms later. */
  private async supervise(orders: SupervisorOrders, events: SupervisorEvents): Promise<void> {
    const supervisor = this.takeSupervisor();
    // An attached run's supervisor keeps its stdin open: when this agent dies, it
    // sees the end and stops the run that no client can follow any more.
    supervisor.tell(`${JSON.stringify(orders)}\n`, { keepOpen: orders.plan.attached });
    let recorded!: () => void;
    const exitRecorded = new Promise<void>((resolve) => (recorded = resolve));
    void (async () => {
      const decoder = new TextDecoder();
      let text = "";
      let told = false;
      for await (const chunk of supervisor.stdout) {
        text += decoder.decode(chunk);
        // Lines until `pid N` (`warm`, or `cold WHY`, before it); then one byte per append, `!` at the end.
        for (; !told && text.includes("\n"); text = text.slice(text.indexOf("\n") + 1)) {
          const line = text.slice(0, text.indexOf("\n"));
          const pid = /^pid (\d+)$/.exec(line);
          if (pid) {
            told = true;
            events.started(Number(pid[1]));
          } else if (line === "warm") events.warm?.(true);
          else if (line.startsWith("cold ")) events.warm?.(false, line.slice(5, 300));
        }
        if (told) {
          if (text.includes(EXIT_RECORDED)) recorded();
          text = "";
        }
        events.output();
      }
      recorded();
      await supervisor.exited;
      this.refillSpare();
    })();
    await exitRecorded;
  }

  /**
   * A detached run's record is synced before the run starts (start()): it
   * must outlive an agent crash, which the run survives. An attached run's
   * is synced in a turn of its own, after the supervisor has its orders (a
   * synced commit is ~1–2.5 ms of the event loop); a crash stops that run
   * anyway. Every run's final record goes in one commit with its entry in
   * the index of finished runs, at the end of its cycle (indexFinished); an
   * agent that dies before it finds the exit record in the run folder at
   * its next start (recover()). All synchronous: no lmdb-js async write
   * (docs/development.md "LMDB").
   */
  private saveAttachedStart(live: LiveRun): void {
    // `live.record` as it is now: were this ever to run after the final commit, it would write the final record again, never a stale `running` one.
    try {
      this.state.root.transactionSync(() => this.state.runs.putSync(live.id, live.record));
    } catch (error) {
      // The run goes on (the live map has it); its final record is written at its end.
      logEvent("error", { run: live.id, cause: `its start record was not written: ${describeError(error)}` });
    }
  }

  /** Kept in memory; after a restart the run folder's pid file tells it. */
  private setPid(live: LiveRun, pid: number): void {
    live.record = { ...live.record, pid };
  }

  private finishRecord(live: LiveRun): ExitRecord {
    const exit = readJson<ExitRecord>(runPaths(live.dir).exit) ?? {
      code: 255,
      signal: null,
      status: "killed",
      ended: new Date().toISOString(),
    };
    live.exit = exit;
    live.record = {
      ...live.record,
      status: exit.status === "exited" ? "exited" : "killed",
      exit_code: exit.code,
      signal: exit.signal,
      // The supervisor's word: also for a detached run that a previous life of the agent started.
      warm: exit.warm ?? live.record.warm,
    };
    logRunEnded(live.record, exit);
    this.onRunEnded?.(live.record);
    return exit;
  }

  wake(live: LiveRun): void {
    for (const resolve of live.waiters) resolve();
    live.waiters.clear();
  }

  /** Resolves on new output, the exit, or after `ms`. */
  waitForChange(live: LiveRun, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        live.waiters.delete(done);
        resolve();
      }
      live.waiters.add(done);
    });
  }

  /**
   * Ends the cycle once: after the run, the post-run hook, then the command
   * lock of this cycle's generation is released (a fenced-off cycle frees
   * nothing). Resolves to whether this cycle's lock was released.
   */
  finishCycle(live: LiveRun): Promise<boolean> {
    live.cycle ??= (async () => {
      await live.exited;
      await runHook(this.config, live.record);
      // Finished: followers keep their reference; later ones replay it through get(), which
      // reads LMDB: out of the live map once the final record and its index entry are committed
      // there (`ps` lists the live map and the index). Pruning, after the release (it must not
      // keep the next user waiting), counts this run too.
      // In a turn of its own: the synced commit must not hold up this cycle's end frame.
      setImmediate(() => {
        try {
          this.indexFinished(live.record);
          this.live.delete(live.id);
        } catch (error) {
          // It stays in the live map, which `ps` lists, until the next start records it from its folder (recover).
          logEvent("error", { run: live.id, cause: `its final record was not written: ${describeError(error)}` });
        }
        setImmediate(() => this.prune());
      });
      this.refillSpare();
      if (live.record.forced || live.record.detached) return false;
      return this.locks.releaseCommand(live.record.generation);
    })();
    return live.cycle;
  }

  /** The attached client went away: stop the run, then end the cycle. */
  clientGone(live: LiveRun): void {
    if (live.clientGone) return;
    live.clientGone = true;
    if (live.record.detached) return;
    if (!live.exit) void this.stop(live.id);
    else void this.finishCycle(live);
  }

  /** A run to follow: live, or a finished one whose kept output can be replayed. */
  get(id: string): LiveRun | undefined {
    const live = this.live.get(id);
    if (live) return live;
    const record = this.state.runs.get(id) as RunRecord | undefined;
    const dir = join(this.runsDir, id);
    const exit = record && readJson<ExitRecord>(runPaths(dir).exit);
    if (!record || !exit) return undefined;
    return { id, dir, record, exit, exited: Promise.resolve(exit), clientGone: true, waiters: new Set() };
  }

  record(id: string): RunRecord {
    const record = this.live.get(id)?.record ?? (this.state.runs.get(id) as RunRecord | undefined);
    if (!record) throw new KegError("not_found", `No run '${id}' on this box. See 'keg python ps'.`);
    return record;
  }

  /** SIGINT, then SIGTERM, then SIGKILL to the run's group until it is gone. */
  async stop(id: string): Promise<void> {
    const live = this.live.get(id);
    // The supervisor reports the script's pid a moment after the start: a stop in that moment waits for it.
    const deadline = Date.now() + PID_WAIT_MS;
    while (live && live.record.pid === undefined && !live.exit && Date.now() < deadline) await this.waitForChange(live, 50);
    const record = this.record(id);
    if (record.status !== "running" || !record.pid) return;
    const container = containerOf(join(this.runsDir, id));
    await stopGroup(record.pid, () => Boolean(live?.exit), (signal) => signalRun(container, record.pid!, signal));
  }

  /** `--kill`: one signal to the group (SIGCONT after SIGTERM, so a stopped group can end). */
  kill(id: string, signal: NodeJS.Signals): boolean {
    const record = this.record(id);
    if (record.status !== "running" || !record.pid) return false;
    const container = containerOf(join(this.runsDir, id));
    const sent = signalRun(container, record.pid, signal);
    if (sent && signal === "SIGTERM") signalRun(container, record.pid, "SIGCONT");
    return sent;
  }

  /**
   * Every run, oldest start first: the live ones from memory, the finished
   * ones from their index, merged, one record at a time (`ps` streams them).
   * The index is read in chunks, each from the latest commit at once: no
   * read snapshot is held while the answer is sent.
   */
  *list(): Generator<RunRecord> {
    const live = this.liveRecords();
    const liveIds = new Set(live.map((record) => record.id));
    let next = 0;
    for (let after: string | undefined, more = true; more; ) {
      // The latest commit: a run leaves the live map once its index entry is committed.
      this.state.refresh();
      const from = after;
      const records: RunRecord[] = [];
      let read = 0;
      for (const { key } of this.state.finished.getRange({ start: from, limit: LIST_CHUNK })) {
        read++;
        after = key;
        const { id } = keyParts(key);
        // Already listed, or its index entry was committed a moment before it left the live map.
        if (key === from || liveIds.has(id)) continue;
        const record = this.state.runs.get(id) as RunRecord | undefined;
        if (record) records.push(record);
      }
      more = read === LIST_CHUNK;
      for (const record of records) {
        while (next < live.length && byStart(live[next]!, record) <= 0) yield live[next++]!;
        yield record;
      }
    }
    while (next < live.length) yield live[next++]!;
  }

  /** The runs still running (all of them are live after recover()), oldest start first. */
  running(): RunRecord[] {
    return this.liveRecords().filter((record) => record.status === "running");
  }

  private liveRecords(): RunRecord[] {
    return [...this.live.values()].map((run) => run.record).sort(byStart);
  }

  /**
   * After a restart: runs of a previous life that were attached are stopped
   * (no client can follow them any more); detached ones are watched until
   * they end.
   */
  recover(): void {
    for (const { value } of this.state.runs.getRange()) {
      const record = value as RunRecord;
      if (record.status !== "running" || this.live.has(record.id)) continue;
      const dir = join(this.runsDir, record.id);
      const exit = readJson<ExitRecord>(runPaths(dir).exit);
      const pid = record.pid ?? readJson<{ pid: number }>(runPaths(dir).pid)?.pid;
      if (exit) this.state.runs.putSync(record.id, { ...record, status: exit.status === "exited" ? "exited" : "killed", exit_code: exit.code, signal: exit.signal });
      else if (!record.detached) {
        if (pid) signalRun(containerOf(dir), pid, "SIGKILL");
        this.state.runs.putSync(record.id, { ...record, status: "killed", exit_code: null, signal: "SIGKILL" });
      } else this.watchDetached({ ...record, pid }, dir);
    }
    this.checkIndex();
    this.prune();
    // At start nothing is being uploaded: a folder no record knows is a leftover.
    for (const name of existsSync(this.runsDir) ? readdirSync(this.runsDir) : []) {
      if (!this.state.runs.get(name)) rmSync(join(this.runsDir, name), { recursive: true, force: true });
    }
  }

  /** The bytes of the folders of the runs in the index of finished runs: its values' sum. */
  private finishedBytes = 0;

  /** A run that ended: its final record, and its entry in the index of finished runs with its folder's size, measured once. */
  private indexFinished(record: RunRecord): void {
    const bytes = treeSize(join(this.runsDir, record.id));
    this.state.root.transactionSync(() => {
      this.state.runs.putSync(record.id, record);
      this.state.finished.putSync(finishedKey(record), bytes);
    });
    this.finishedBytes += bytes;
  }

  /**
   * At start: the index of finished runs against the records, one scan of
   * each; an entry without its finished record goes, a finished record
   * without its entry gets one (the first start after an upgrade indexes
   * them all). Sums the bytes pruning counts from.
   */
  private checkIndex(): void {
    const stale: string[] = [];
    let total = 0;
    for (const { key, value } of this.state.finished.getRange()) {
      const record = this.state.runs.get(keyParts(key).id) as RunRecord | undefined;
      if (!record || record.status === "running" || finishedKey(record) !== key) stale.push(key);
      else total += value;
    }
    const missing: [string, number][] = [];
    for (const { value } of this.state.runs.getRange()) {
      const record = value as RunRecord;
      if (record.status === "running" || this.live.has(record.id) || this.state.finished.get(finishedKey(record)) !== undefined) continue;
      missing.push([finishedKey(record), treeSize(join(this.runsDir, record.id))]);
    }
    if (stale.length || missing.length)
      this.state.root.transactionSync(() => {
        for (const key of stale) this.state.finished.removeSync(key);
        for (const [key, bytes] of missing) {
          this.state.finished.putSync(key, bytes);
          total += bytes;
        }
      });
    this.finishedBytes = total;
  }

  /**
   * Removes finished runs older than --keep-runs, then the oldest beyond
   * --max-disk. Reads the index of finished runs oldest first, and only the
   * entries it removes and one more.
   */
  prune(): void {
    const live = this.live;
    function* oldestFirst(entries: Iterable<{ key: string; value: number }>): Generator<FinishedRun & { key: string }> {
      for (const { key, value } of entries) {
        const { started, id } = keyParts(key);
        if (!live.has(id)) yield { key, id, started: Date.parse(started), bytes: value };
      }
    }
    const keepMs = this.config.keepRunsDays * 86_400_000;
    const gone = oldestToPrune(oldestFirst(this.state.finished.getRange()), this.finishedBytes, Date.now(), keepMs, this.config.maxDiskBytes);
    if (!gone.length) return;
    for (const run of gone) rmSync(join(this.runsDir, run.id), { recursive: true, force: true });
    this.state.root.transactionSync(() => {
      for (const run of gone) {
        this.state.runs.removeSync(run.id);
        this.state.finished.removeSync(run.key);
      }
    });
    for (const run of gone) this.finishedBytes -= run.bytes;
  }

  /** A detached run of a previous life: no supervisor pipe, so poll for its exit record. */
  private watchDetached(record: RunRecord, dir: string): void {
    const live: LiveRun = { id: record.id, dir, record, clientGone: true, waiters: new Set(), exited: undefined as never };
    this.live.set(record.id, live);
    live.exited = new Promise((resolve) => {
      let groupGoneAt: number | undefined;
      const timer = setInterval(() => {
        this.wake(live);
        const recorded = existsSync(runPaths(dir).exit);
        if (!recorded && record.pid && signalGroup(record.pid, 0)) return;
        // The group ends before its supervisor has drained the pipes and written the exit record:
        // give it that long before the exit code counts as lost.
        groupGoneAt ??= Date.now();
        if (!recorded && Date.now() - groupGoneAt < EXIT_RECORD_WAIT_MS) return;
        clearInterval(timer);
        resolve(this.finishRecord(live));
      }, POLL_MS);
    });
    void live.exited.then(() => {
      this.wake(live);
      void this.finishCycle(live);
    });
  }
}

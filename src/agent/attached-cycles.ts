/**
 * Who follows each attached run's cycle, so a connection blip does not stop
 * the run (docs/usage.md "Connection blips"). When the last connection
 * following a cycle drops, the run and its command lock are kept for
 * `--reconnect-grace` seconds; a client that resumes in time carries on, and
 * otherwise the run is stopped and the lock released, as for a client gone
 * for good. Resuming is fenced by the grant's generation, like the heartbeat
 * (docs/locks.md "Fencing").
 * @module
 */
import { KegError } from "../errors.ts";
import type { Grant, LockStore } from "../lock/store.ts";
import { logEvent } from "./log.ts";
import type { LiveRun, RunManager } from "./runs.ts";

type OpenCycle = { live: LiveRun; downloads: string[]; grant: Grant; followers: number; timer?: ReturnType<typeof setTimeout> };

/**
 * How a cycle that nobody follows any more ended: `released` says whether it
 * released its own lock (false when that lock was taken over, or for a forced
 * or detached run, which holds none).
 */
export type CycleOutcome = { live: LiveRun; downloads: string[]; grant: Grant; stoppedAfterGrace: boolean; released: Promise<boolean> };

/** What a resuming client is given: the open cycle to follow (with its `leave`), or how it ended. */
export type Resumed = { open: OpenCycle; leave: () => void } | { over: CycleOutcome };

/** Outcomes kept for clients that come back after their cycle ended. */
const KEEP_OUTCOMES = 1000;

export class AttachedCycles {
  private readonly open = new Map<string, OpenCycle>();
  private readonly outcomes = new Map<string, CycleOutcome>();
  /** ended cycles (of `outcomes`) that released their own command lock */
  private readonly releasedOwn = new Set<string>();

  constructor(
    private readonly graceSeconds: number,
    private readonly runs: RunManager,
    private readonly locks: LockStore,
  ) {}

  /** An attached run's cycle begins, followed by the client that started it; returns that client's `leave`. */
  begin(live: LiveRun, downloads: string[], grant: Grant): () => void {
    const cycle: OpenCycle = { live, downloads, grant, followers: 0 };
    this.open.set(live.id, cycle);
    return this.follow(cycle);
  }

  /** The client left before it could learn the run's id (during the upload or in line): nobody can come back for it. */
  abandonNow(id: string): void {
    const cycle = this.open.get(id);
    if (!cycle) return;
    cycle.followers = 0;
    this.abandon(cycle);
  }

  /** The cycle's `end` frame is being sent: nobody needs to come back for it. */
  ended(id: string, released: boolean): void {
    const cycle = this.open.get(id);
    if (!cycle) return;
    if (released) this.releasedOwn.add(id);
    this.close(cycle, { ...this.outcomeOf(cycle), stoppedAfterGrace: false, released: Promise.resolve(released) });
  }

  /**
   * Whether the downloads of cycle `id` may be sent (again) to its client: while
   * its lock is current, and after the cycle released that lock itself, since
   * the files are the run's own. Never once the lock was taken over
   * (docs/locks.md "Fencing").
   */
  mayDownload(id: string, grant: Grant): boolean {
    return grant.forced || this.locks.isCurrent(grant.generation) || this.releasedOwn.has(id);
  }

  /** `user` comes back for the cycle of `generation`, or learns how it ended; only the run's owner may. */
  resume(id: string, generation: number, user: string): Resumed {
    const cycle = this.open.get(id);
    if (this.runs.record(id).user !== user) throw new KegError("not_found", `Run ${id} is not yours: only the user who started it resumes its cycle.`);
    if (cycle) {
      const { grant } = cycle;
      if (grant.generation !== generation || !(grant.forced || this.locks.isCurrent(generation)))
        throw new KegError("stale", `The command lock of run ${id} went stale and was taken over; this step is refused.`);
      logEvent("client-back", { id, user });
      return { open: cycle, leave: this.follow(cycle) };
    }
    const over = this.outcomes.get(id);
    const record = this.runs.record(id);
    if (!over || record.generation !== generation || record.detached)
      throw new KegError("not_found", `Run ${id} has no attached cycle of generation ${generation} to resume on this box.`);
    if (over.stoppedAfterGrace)
      throw new KegError("stale", `The run was stopped: the connection was lost for more than ${this.graceSeconds} s.`);
    return { over };
  }

  /** One more connection follows `cycle`; the function it returns is called (any number of times) when that connection ends. */
  private follow(cycle: OpenCycle): () => void {
    cycle.followers++;
    clearTimeout(cycle.timer);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--cycle.followers > 0 || this.open.get(cycle.live.id) !== cycle) return;
      logEvent("client-lost", { id: cycle.live.id, user: cycle.live.record.user, grace_s: this.graceSeconds });
      cycle.timer = setTimeout(() => this.abandon(cycle), this.graceSeconds * 1000);
    };
  }

  /** Nobody came back within the grace: stop the run (if it still runs) and end its cycle. */
  private abandon(cycle: OpenCycle): void {
    if (cycle.followers > 0 || this.open.get(cycle.live.id) !== cycle) return;
    const stoppedAfterGrace = !cycle.live.exit;
    logEvent("client-gone", { id: cycle.live.id, user: cycle.live.record.user, stopping: stoppedAfterGrace });
    this.runs.clientGone(cycle.live);
    this.close(cycle, { ...this.outcomeOf(cycle), stoppedAfterGrace, released: this.runs.finishCycle(cycle.live) });
  }

  private outcomeOf(cycle: OpenCycle): Pick<CycleOutcome, "live" | "downloads" | "grant"> {
    return { live: cycle.live, downloads: cycle.downloads, grant: cycle.grant };
  }

  private close(cycle: OpenCycle, outcome: CycleOutcome): void {
    const { id } = cycle.live;
    clearTimeout(cycle.timer);
    this.open.delete(id);
    this.outcomes.set(id, outcome);
    void outcome.released.then((released) => void (released && this.outcomes.get(id) === outcome && this.releasedOwn.add(id)));
    if (this.outcomes.size > KEEP_OUTCOMES) {
      const oldest = this.outcomes.keys().next().value!;
      this.outcomes.delete(oldest);
      this.releasedOwn.delete(oldest);
    }
  }
}

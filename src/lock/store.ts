/**
 * Lock state in LMDB (docs/locks.md "Durability"). Every decision is made
 * inside a write transaction that reads, decides (src/lock/rules.ts) and
 * writes together, so of N simultaneous requests exactly one wins, across
 * processes too.
 *
 * - User locks live in the durable environment. Their changes are grouped:
 *   the changes that arrive together (in one turn of the event loop) are
 *   decided one after the other inside one write transaction, whose commit
 *   is one sync, and only then are they all answered (`lockUserGrouped`,
 *   `unlockUserGrouped`).
 * - The command lock lives in the volatile environment, never synced: every
 *   start clears it anyway. Its decision holds the durable environment's
 *   write lock too (empty, so no sync), so the user lock it reads cannot
 *   change under it.
 * - Generations are reserved in durable blocks: the durable `generation` is
 *   a ceiling no grant has passed, raised (one sync) a block at a time; a
 *   start goes on above it, so generations only grow across any crash.
 * - Command-lock events are written to the volatile history and moved into
 *   the durable one with the next durable commit, within a second, and at
 *   the next start.
 * @module
 */
import { KegError, LockRefusal } from "../errors.ts";
import type { Database, RootDatabase } from "lmdb";
import type { HistoryEvent } from "../wire/api.ts";
import { messages } from "./messages.ts";
import {
  decideCommand,
  decideUnlock,
  decideUserLock,
  isoSeconds,
  type CommandLock,
  type CommandName,
  type LockState,
  type Refusal,
  type UserLock,
} from "./rules.ts";

const COMMAND = "command";
const USER = "user";
const GENERATION = "generation";
const HISTORY_KEPT = 1000;
/** Old events are removed in bunches: a range read per event would cost more than the event. */
const PRUNE_EVERY = 64;
/** Generations reserved by one durable commit. */
export const GENERATION_BLOCK = 1024;
/** Activity is written at most this often per lock; staleness is counted in seconds to minutes. */
const TOUCH_EVERY_MS = 1000;
/** Command-lock events wait at most this long in the volatile history. */
const MOVE_HISTORY_AFTER_MS = 1000;

/** The never-synced environment of the command lock. */
export type VolatileLockDb = { root: RootDatabase; locks: Database<any, string>; history: Database<any, number> };

/** The part of the agent's LMDB environments the locks live in. */
export type LockDb = {
  root: RootDatabase;
  locks: Database<any, string>;
  history: Database<any, number>;
  volatile(): VolatileLockDb;
};

export type Grant = { generation: number; forced: boolean };

/** Counters for tests and the bench: how many durable commits carried how many user-lock changes. */
export type GroupStats = { commits: number; requests: number };

/** Generations are positive integers; anything else (a missing one above all) matches no lock. */
const isGeneration = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

/** Whether `lock` is the lock granted with `generation`: never when either is missing, since undefined === undefined. */
const isGrantOf = (lock: CommandLock | undefined, generation: number): lock is CommandLock => isGeneration(generation) && lock !== undefined && lock.generation === generation;

type Queued = { decide: () => unknown; resolve: (value: any) => void; reject: (error: unknown) => void };

/** lmdb-js's own `status` (not in its types): "closed" once closed. */
const isOpen = (root: RootDatabase) => (root as unknown as { status?: string }).status === "open";

function lastKey(db: Database<any, number>): number {
  for (const key of db.getKeys({ reverse: true, limit: 1 })) return key;
  return 0;
}

export class LockStore {
  private lastTouch = new Map<number, number>();
  private readonly volatile: VolatileLockDb;
  /** the durable ceiling: no generation above it has been granted */
  private ceiling: number;
  /** the latest history sequence number, in either history */
  private sequence: number;
  private queue: Queued[] = [];
  private moveTimer?: ReturnType<typeof setTimeout>;
  /** events whose transaction is not committed yet (told to onEvent after the commit) */
  private told: HistoryEvent[] = [];
  readonly stats: GroupStats = { commits: 0, requests: 0 };
  /** called after a lock is released, so waiters can try again */
  onRelease: () => void = () => {};
  /** called with each history event once its transaction is done (the agent logs them) */
  onEvent: (event: HistoryEvent) => void = () => {};

  constructor(
    private readonly state: LockDb,
    private readonly ttlMs: number,
  ) {
    this.volatile = state.volatile();
    this.ceiling = state.locks.get(GENERATION) ?? 0;
    this.sequence = Math.max(lastKey(state.history), lastKey(this.volatile.history));
    // A fresh volatile environment goes on from the ceiling.
    if (this.volatile.locks.get(GENERATION) === undefined) this.volatile.root.transactionSync(() => this.volatile.locks.putSync(GENERATION, this.ceiling));
  }

  read(): LockState {
    return { command: this.volatile.locks.get(COMMAND), user: this.state.locks.get(USER) };
  }

  /** Writes `event` to the durable history (inside a durable transaction). */
  private record(event: Omit<HistoryEvent, "time">, now = Date.now()): void {
    const recorded: HistoryEvent = { time: isoSeconds(now), ...event };
    this.state.history.putSync(++this.sequence, recorded);
    this.prune(this.state.history, true);
    this.told.push(recorded);
  }

  /** Writes a command-lock event to the volatile history (inside a volatile transaction). */
  private recordVolatile(event: Omit<HistoryEvent, "time">, now = Date.now()): void {
    const recorded: HistoryEvent = { time: isoSeconds(now), ...event };
    this.volatile.history.putSync(++this.sequence, recorded);
    this.prune(this.volatile.history);
    this.told.push(recorded);
    if (this.moveTimer) return;
    this.moveTimer = setTimeout(() => {
      this.moveTimer = undefined;
      // Closed meanwhile (a stop, an update's restart): the next start moves them.
      if (isOpen(this.state.root) && isOpen(this.volatile.root)) this.moveHistory();
    }, MOVE_HISTORY_AFTER_MS);
    (this.moveTimer as { unref?: () => void }).unref?.();
  }

  /** Keeps the latest HISTORY_KEPT sequence numbers (`end` is exclusive), pruned every PRUNE_EVERY events. */
  private prune(history: Database<any, number>, now = false): void {
    const end = this.sequence - HISTORY_KEPT + 1;
    if (end > 1 && (now || this.sequence % PRUNE_EVERY === 0)) for (const key of history.getKeys({ end })) history.removeSync(key);
  }

  /** Tells onEvent what the transaction that just committed recorded. */
  private tell(): void {
    const events = this.told;
    this.told = [];
    if (events.length) queueMicrotask(() => events.forEach((event) => this.onEvent(event)));
  }

  /** Inside a durable transaction: copies the volatile events into the durable history; their keys, for `forgetMoved`. */
  private copyVolatileHistory(): number[] {
    const keys: number[] = [];
    for (const { key, value } of this.volatile.history.getRange({})) {
      this.state.history.putSync(key, value);
      keys.push(key);
    }
    if (keys.length) this.prune(this.state.history, true);
    return keys;
  }

  /** After the durable commit: the moved events leave the volatile history. */
  private forgetMoved(keys: number[]): void {
    if (!keys.length) return;
    this.volatile.root.transactionSync(() => {
      for (const key of keys) this.volatile.history.removeSync(key);
    });
  }

  /** Moves the volatile events into the durable history (one durable commit). */
  moveHistory(): void {
    clearTimeout(this.moveTimer);
    this.moveTimer = undefined;
    let moved: number[] = [];
    this.state.root.transactionSync(() => {
      moved = this.copyVolatileHistory();
    });
    this.forgetMoved(moved);
  }

  private refusal(box: string, refusal: Refusal): LockRefusal {
    return refusal.reason === "busy"
      ? new LockRefusal("busy", messages.busy(box, refusal.holder), messages.waitingBusy(refusal.holder))
      : new LockRefusal("locked", messages.lockedForCommand(box, refusal.holder), messages.waitingLocked(refusal.holder));
  }

  /** Checks without taking: the refusal a command would get now, if any. */
  check(box: string, user: string, force: boolean): KegError | undefined {
    const decision = decideCommand(this.read(), { user, force, now: Date.now(), ttlMs: this.ttlMs });
    return decision.ok ? undefined : this.refusal(box, decision);
  }

  /**
   * Takes the command lock (or, forced, records the bypass); throws the spec's
   * refusal. One volatile transaction inside a durable one that stays empty
   * (no sync): it holds the durable write lock, so the user lock read cannot
   * change meanwhile.
   */
  acquireCommand(box: string, user: string, command: CommandName, force: boolean, runId?: string): Grant {
    // A new block first, in a durable commit of its own (synced): a failing
    // disk then fails the grant before anything of it is written.
    if (this.nextGeneration() > this.ceiling) this.reserveGenerations();
    let grant: Grant;
    try {
      grant = this.state.root.transactionSync(() =>
        this.volatile.root.transactionSync(() => {
          const now = Date.now();
          const state = this.read();
          const decision = decideCommand(state, { user, force, now, ttlMs: this.ttlMs });
          if (!decision.ok) throw this.refusal(box, decision);
          const next = this.nextGeneration();
          // Never above the durable ceiling (reserved above, in this same thread).
          if (next > this.ceiling) throw new Error(`generation ${next} above the reserved ${this.ceiling}`);
          this.volatile.locks.putSync(GENERATION, next);
          if (!decision.take) {
            this.recordVolatile({ event: "forced-command", user, command, holder: state.command?.user ?? state.user?.user, generation: next }, now);
            return { generation: next, forced: true };
          }
          if (decision.staleHolder)
            this.recordVolatile({ event: "command-stale", user, holder: decision.staleHolder.user, command: decision.staleHolder.command, generation: decision.staleHolder.generation }, now);
          const lock: CommandLock = { user, command, since: isoSeconds(now), activity: now, generation: next, runId };
          this.volatile.locks.putSync(COMMAND, lock);
          this.recordVolatile({ event: "command-taken", user, command, generation: next }, now);
          return { generation: next, forced: false };
        }),
      );
    } catch (error) {
      this.told = [];
      throw error;
    }
    this.tell();
    return grant;
  }

  /** The volatile counter stays at or below the durable ceiling. */
  private nextGeneration(): number {
    return (this.volatile.locks.get(GENERATION) ?? 0) + 1;
  }

  /** Raises the durable ceiling a block above the next generation (one synced commit). */
  private reserveGenerations(): void {
    const ceiling = this.state.root.transactionSync(() => {
      const reserved = Math.max(this.state.locks.get(GENERATION) ?? 0, this.nextGeneration() + GENERATION_BLOCK - 1);
      this.state.locks.putSync(GENERATION, reserved);
      return reserved;
    });
    this.ceiling = ceiling;
  }

  isCurrent(generation: number): boolean {
    return isGrantOf(this.volatile.locks.get(COMMAND), generation);
  }

  /**
   * Notes activity (output or heartbeat) for the lock of `generation`; false if
   * it is no longer current. It only ever refreshes an existing lock of that
   * generation: a grant is the one thing that writes a command lock.
   */
  touch(generation: number): boolean {
    if (!isGeneration(generation)) return false;
    const now = Date.now();
    if (now - (this.lastTouch.get(generation) ?? 0) < TOUCH_EVERY_MS) return this.isCurrent(generation);
    this.lastTouch.set(generation, now);
    return this.volatile.root.transactionSync(() => {
      const lock = this.volatile.locks.get(COMMAND) as CommandLock | undefined;
      if (!isGrantOf(lock, generation)) {
        this.lastTouch.delete(generation); // fenced off for good
        return false;
      }
      this.volatile.locks.putSync(COMMAND, { ...lock, activity: now });
      return true;
    });
  }

  /** Releases the lock of `generation` only: a fenced-off holder cannot free the new holder's lock. */
  releaseCommand(generation: number): boolean {
    this.lastTouch.delete(generation);
    const released = this.volatile.root.transactionSync(() => {
      const lock = this.volatile.locks.get(COMMAND) as CommandLock | undefined;
      if (!isGrantOf(lock, generation)) return false;
      this.volatile.locks.removeSync(COMMAND);
      this.recordVolatile({ event: "command-released", user: lock.user, command: lock.command, generation });
      return true;
    });
    this.tell();
    if (released) this.onRelease();
    return released;
  }

  /**
   * At start-up: command locks of a previous life are void (docs/locks.md
   * "Restart"). Its events still in the volatile history are moved into the
   * durable one, and generations go on above the durable ceiling.
   */
  clearCommandLock(): void {
    let moved: number[] = [];
    let ceiling = 0;
    this.state.root.transactionSync(() => {
      moved = this.copyVolatileHistory();
      // A command lock of the volatile environment, or of a durable one (an agent before it).
      for (const locks of [this.volatile.locks, this.state.locks]) {
        const lock = locks.get(COMMAND) as CommandLock | undefined;
        if (lock) this.record({ event: "cleared-at-start", user: lock.user, command: lock.command, generation: lock.generation });
      }
      if (this.state.locks.get(COMMAND) !== undefined) this.state.locks.removeSync(COMMAND);
      ceiling = Math.max(this.state.locks.get(GENERATION) ?? 0, this.volatile.locks.get(GENERATION) ?? 0);
      if (ceiling !== (this.state.locks.get(GENERATION) ?? 0)) this.state.locks.putSync(GENERATION, ceiling);
    });
    this.ceiling = ceiling;
    this.volatile.root.transactionSync(() => {
      for (const key of moved) this.volatile.history.removeSync(key);
      this.volatile.locks.removeSync(COMMAND);
      this.volatile.locks.putSync(GENERATION, ceiling);
    });
    this.tell();
  }

  private decideLock(box: string, user: string, note: string | undefined): { message: string; lock: UserLock } {
    const decision = decideUserLock(this.read(), user);
    if (!decision.ok) throw new LockRefusal("locked", messages.alreadyLocked(box, decision.holder), messages.waitingLocked(decision.holder));
    if (decision.kind === "already-yours") return { message: messages.locked(box, decision.holder), lock: decision.holder };
    const now = Date.now();
    const lock: UserLock = { user, since: isoSeconds(now), ...(note ? { note } : {}) };
    this.state.locks.putSync(USER, lock);
    this.record({ event: "locked", user, note }, now);
    return { message: messages.locked(box, lock), lock };
  }

  private decideUnlock(box: string, user: string, force: boolean): { message: string } {
    const decision = decideUnlock(this.read(), user, force);
    if (!decision.ok) throw new KegError("locked", messages.unlockNeedsForce(box, decision.holder));
    if (decision.kind === "not-locked") return { message: messages.notLocked(box) };
    this.state.locks.removeSync(USER);
    this.record({ event: decision.forced ? "forced-unlock" : "unlocked", user, holder: decision.holder.user, note: decision.holder.note });
    this.released = true;
    return { message: messages.unlocked(box) };
  }

  private released = false;

  /** One durable transaction of its own, synced before it returns (the waiting line's). */
  private durableNow<T>(decide: () => T): T {
    let moved: number[] = [];
    let result: T;
    try {
      result = this.state.root.transactionSync(() => {
        const value = decide();
        moved = this.copyVolatileHistory();
        return value;
      });
    } catch (error) {
      this.told = [];
      this.released = false;
      throw error;
    }
    this.forgetMoved(moved);
    this.afterDurable();
    return result;
  }

  private afterDurable(): void {
    this.tell();
    if (this.released) {
      this.released = false;
      queueMicrotask(() => this.onRelease());
    }
  }

  /** Takes the user lock now, in a transaction of its own (synced on return). */
  lockUser(box: string, user: string, note: string | undefined): { message: string; lock: UserLock } {
    return this.durableNow(() => this.decideLock(box, user, note));
  }

  /** Gives the user lock back now, in a transaction of its own (synced on return). */
  unlockUser(box: string, user: string, force: boolean): { message: string } {
    return this.durableNow(() => this.decideUnlock(box, user, force));
  }

  /** `lockUser` by group commit: resolves once the change (with the others that came with it) is synced. */
  lockUserGrouped(box: string, user: string, note: string | undefined): Promise<{ message: string; lock: UserLock }> {
    return this.enqueue(() => this.decideLock(box, user, note));
  }

  /** `unlockUser` by group commit. */
  unlockUserGrouped(box: string, user: string, force: boolean): Promise<{ message: string }> {
    return this.enqueue(() => this.decideUnlock(box, user, force));
  }

  private enqueue<T>(decide: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ decide, resolve, reject });
      // After the I/O of this turn: every request read in it joins the group.
      if (this.queue.length === 1) setImmediate(() => this.commitQueue());
    });
  }

  /**
   * Decides every queued change in order inside one durable transaction; a
   * refusal is that request's answer and writes nothing. One commit, one
   * sync; then every request is answered.
   */
  private commitQueue(): void {
    const group = this.queue;
    this.queue = [];
    if (!group.length) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    let moved: number[] = [];
    try {
      this.state.root.transactionSync(() => {
        for (const queued of group) {
          try {
            outcomes.push({ ok: true, value: queued.decide() });
          } catch (error) {
            // Refusals are decided before anything is written; anything else aborts the whole group.
            if (!(error instanceof KegError)) throw error;
            outcomes.push({ ok: false, error });
          }
        }
        moved = this.copyVolatileHistory();
      });
    } catch (error) {
      this.told = [];
      this.released = false;
      for (const queued of group) queued.reject(error);
      return;
    }
    this.stats.commits++;
    this.stats.requests += group.length;
    this.forgetMoved(moved);
    group.forEach((queued, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) queued.resolve(outcome.value);
      else queued.reject(outcome.error);
    });
    this.afterDurable();
  }

  /** The latest `limit` events of both histories, oldest first. */
  history(limit = 50): HistoryEvent[] {
    const events: [number, HistoryEvent][] = [];
    for (const history of [this.state.history, this.volatile.history])
      for (const { key, value } of history.getRange({ reverse: true, limit })) events.push([key, value]);
    events.sort((a, b) => a[0] - b[0]);
    return events.slice(-Math.min(limit, HISTORY_KEPT)).map(([, event]) => event);
  }
}

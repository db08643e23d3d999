/**
 * Lock state in LMDB. Every change is one synchronous write transaction that
 * reads, decides (src/lock/rules.ts) and writes together, so of N
 * simultaneous requests exactly one wins, across processes too.
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
/** Activity is written at most this often per lock; staleness is counted in seconds to minutes. */
const TOUCH_EVERY_MS = 1000;

/** The part of the agent's LMDB environment the locks live in. */
export type LockDb = { root: RootDatabase; locks: Database<any, string>; history: Database<any, number> };

export type Grant = { generation: number; forced: boolean };

/** Generations are positive integers; anything else (a missing one above all) matches no lock. */
const isGeneration = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 0;

/** Whether `lock` is the lock granted with `generation`: never when either is missing, since undefined === undefined. */
const isGrantOf = (lock: CommandLock | undefined, generation: number): lock is CommandLock => isGeneration(generation) && lock !== undefined && lock.generation === generation;

export class LockStore {
  private lastTouch = new Map<number, number>();
  /** called after a lock is released, so waiters can try again */
  onRelease: () => void = () => {};
  /** called with each history event once its transaction is done (the agent logs them) */
  onEvent: (event: HistoryEvent) => void = () => {};

  constructor(
    private readonly state: LockDb,
    private readonly ttlMs: number,
  ) {}

  read(): LockState {
    return { command: this.state.locks.get(COMMAND), user: this.state.locks.get(USER) };
  }

  private record(event: Omit<HistoryEvent, "time">, now = Date.now()): void {
    const history = this.state.history;
    let last = 0;
    for (const key of history.getKeys({ reverse: true, limit: 1 })) last = key;
    const next = last + 1;
    const recorded: HistoryEvent = { time: isoSeconds(now), ...event };
    history.putSync(next, recorded);
    queueMicrotask(() => this.onEvent(recorded));
    // Keep keys next-HISTORY_KEPT+1 … next (`end` is exclusive).
    if (next > HISTORY_KEPT) for (const key of history.getKeys({ end: next - HISTORY_KEPT + 1 })) history.removeSync(key);
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

  /** Takes the command lock (or, forced, records the bypass); throws the spec's refusal. */
  acquireCommand(box: string, user: string, command: CommandName, force: boolean, runId?: string): Grant {
    return this.state.root.transactionSync(() => {
      const now = Date.now();
      const state = this.read();
      const decision = decideCommand(state, { user, force, now, ttlMs: this.ttlMs });
      if (!decision.ok) throw this.refusal(box, decision);
      const generation = (this.state.locks.get(GENERATION) ?? 0) + 1;
      this.state.locks.putSync(GENERATION, generation);
      if (!decision.take) {
        this.record({ event: "forced-command", user, command, holder: state.command?.user ?? state.user?.user, generation }, now);
        return { generation, forced: true };
      }
      if (decision.staleHolder)
        this.record({ event: "command-stale", user, holder: decision.staleHolder.user, command: decision.staleHolder.command, generation: decision.staleHolder.generation }, now);
      const lock: CommandLock = { user, command, since: isoSeconds(now), activity: now, generation, runId };
      this.state.locks.putSync(COMMAND, lock);
      this.record({ event: "command-taken", user, command, generation }, now);
      return { generation, forced: false };
    });
  }

  isCurrent(generation: number): boolean {
    return isGrantOf(this.state.locks.get(COMMAND), generation);
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
    return this.state.root.transactionSync(() => {
      const lock = this.state.locks.get(COMMAND) as CommandLock | undefined;
      if (!isGrantOf(lock, generation)) {
        this.lastTouch.delete(generation); // fenced off for good
        return false;
      }
      this.state.locks.putSync(COMMAND, { ...lock, activity: now });
      return true;
    });
  }

  /** Releases the lock of `generation` only: a fenced-off holder cannot free the new holder's lock. */
  releaseCommand(generation: number): boolean {
    this.lastTouch.delete(generation);
    const released = this.state.root.transactionSync(() => {
      const lock = this.state.locks.get(COMMAND) as CommandLock | undefined;
      if (!isGrantOf(lock, generation)) return false;
      this.state.locks.removeSync(COMMAND);
      this.record({ event: "command-released", user: lock.user, command: lock.command, generation });
      return true;
    });
    if (released) this.onRelease();
    return released;
  }

  /** At start-up: command locks of a previous life are void (docs/locks.md "Restart"). */
  clearCommandLock(): void {
    this.state.root.transactionSync(() => {
      const lock = this.state.locks.get(COMMAND) as CommandLock | undefined;
      if (!lock) return;
      this.state.locks.removeSync(COMMAND);
      this.record({ event: "cleared-at-start", user: lock.user, command: lock.command, generation: lock.generation });
    });
  }

  lockUser(box: string, user: string, note: string | undefined): { message: string; lock: UserLock } {
    return this.state.root.transactionSync(() => {
      const decision = decideUserLock(this.read(), user);
      if (!decision.ok) throw new LockRefusal("locked", messages.alreadyLocked(box, decision.holder), messages.waitingLocked(decision.holder));
      if (decision.kind === "already-yours") return { message: messages.locked(box, decision.holder), lock: decision.holder };
      const now = Date.now();
      const lock: UserLock = { user, since: isoSeconds(now), ...(note ? { note } : {}) };
      this.state.locks.putSync(USER, lock);
      this.record({ event: "locked", user, note }, now);
      return { message: messages.locked(box, lock), lock };
    });
  }

  unlockUser(box: string, user: string, force: boolean): { message: string } {
    return this.state.root.transactionSync(() => {
      const decision = decideUnlock(this.read(), user, force);
      if (!decision.ok) throw new KegError("locked", messages.unlockNeedsForce(box, decision.holder));
      if (decision.kind === "not-locked") return { message: messages.notLocked(box) };
      this.state.locks.removeSync(USER);
      this.record({ event: decision.forced ? "forced-unlock" : "unlocked", user, holder: decision.holder.user, note: decision.holder.note });
      queueMicrotask(() => this.onRelease());
      return { message: messages.unlocked(box) };
    });
  }

  /** The latest `limit` events, oldest first. */
  history(limit = 50): HistoryEvent[] {
    const events: HistoryEvent[] = [];
    for (const { value } of this.state.history.getRange({ reverse: true, limit })) events.push(value);
    return events.reverse();
  }
}

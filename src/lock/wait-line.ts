/**
 * Waiting for a box (`--wait`, docs/locks.md): a first-come-first-served line held by
 * the agent. On every change of lock state (and once a second, since a lock
 * can go stale without an event) the line itself tries its waiters in order,
 * synchronously, so the earliest waiter that may go, goes, whatever its client
 * is doing at that moment. A waiter that leaves loses its place.
 * @module
 */
import { KegError, LockRefusal } from "../errors.ts";

type Place = {
  attempt: () => unknown;
  granted?: { value: unknown };
  failed?: { error: unknown };
  refusal?: LockRefusal;
  wake: () => void;
};

export type LineUpdate = { position: number; blocker: string };

const TICK_MS = 1000;

export class WaitLine {
  private readonly places: Place[] = [];
  private timer?: ReturnType<typeof setInterval>;

  /** Lock state changed: try every waiter, in line order. */
  changed = (): void => {
    for (const place of [...this.places]) this.tryPlace(place);
  };

  get length(): number {
    return this.places.length;
  }

  private tryPlace(place: Place): void {
    if (place.granted || place.failed) return;
    try {
      place.granted = { value: place.attempt() };
      this.remove(place);
    } catch (error) {
      if (error instanceof LockRefusal) place.refusal = error;
      else {
        place.failed = { error };
        this.remove(place);
      }
    }
    place.wake();
  }

  private remove(place: Place): void {
    const index = this.places.indexOf(place);
    if (index >= 0) this.places.splice(index, 1);
    if (!this.places.length && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Yields {position, blocker} whenever either changes, until `attempt`
   * succeeds (its value is returned) or the wait runs out (the latest refusal
   * is thrown). `attempt` throws a LockRefusal while the box is taken. A grant
   * whose waiter went away before taking it is handed to `abandon`.
   */
  async *wait<T>(attempt: () => T, waitSeconds: number, signal?: AbortSignal, abandon?: (value: T) => void): AsyncGenerator<LineUpdate, T> {
    const place: Place = { attempt, wake: () => {} };
    const deadline = waitSeconds > 0 ? Date.now() + waitSeconds * 1000 : Infinity;
    this.places.push(place);
    this.timer ??= setInterval(this.changed, TICK_MS);
    let taken = false;
    const onAbort = () => place.wake();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.tryPlace(place);
      let shown = "";
      for (;;) {
        if (place.granted) {
          taken = true;
          return place.granted.value as T;
        }
        if (place.failed) throw place.failed.error;
        if (Date.now() >= deadline) throw place.refusal!;
        if (signal?.aborted) throw new KegError("failed", "The waiter went away.");
        const update = { position: this.places.indexOf(place) + 1, blocker: place.refusal!.blocker };
        const key = JSON.stringify(update);
        if (key !== shown) {
          shown = key;
          yield update;
          continue; // the line may have moved while the update was delivered
        }
        await new Promise<void>((resolve) => {
          const timer = deadline === Infinity ? undefined : setTimeout(resolve, Math.max(0, deadline - Date.now()));
          place.wake = () => {
            if (timer) clearTimeout(timer);
            resolve();
          };
        });
        place.wake = () => {};
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.remove(place);
      if (place.granted && !taken) abandon?.(place.granted.value as T);
      // Whoever is next may be able to go now.
      queueMicrotask(this.changed);
    }
  }
}

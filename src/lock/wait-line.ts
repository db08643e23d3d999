/**
 * Waiting for a box (`--wait`, SPEC §5): a first-come-first-served line held by
 * the agent. On every change of lock state (and once a second, since a lock
 * can go stale without an event) the waiters try again in line order, so the
 * earliest waiter that may go, goes. A waiter that leaves loses its place.
 * @module
 */
import { KegError, LockRefusal } from "../errors.ts";

type Place = { wake: () => void };

const TICK_MS = 1000;

export class WaitLine {
  private readonly places: Place[] = [];
  private timer?: ReturnType<typeof setInterval>;

  /** Lock state changed: let every waiter try again, in line order. */
  changed = (): void => {
    for (const place of [...this.places]) place.wake();
  };

  get length(): number {
    return this.places.length;
  }

  private join(): Place {
    const place: Place = { wake: () => {} };
    this.places.push(place);
    this.timer ??= setInterval(this.changed, TICK_MS);
    return place;
  }

  private leave(place: Place): void {
    const index = this.places.indexOf(place);
    if (index >= 0) this.places.splice(index, 1);
    if (!this.places.length && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Yields {position, blocker} whenever either changes, until `attempt`
   * succeeds (its value is returned) or the wait runs out (the last refusal is
   * thrown). `attempt` throws a LockRefusal while the box is taken.
   */
  async *wait<T>(attempt: () => T, waitSeconds: number, signal?: AbortSignal): AsyncGenerator<{ position: number; blocker: string }, T> {
    const place = this.join();
    const deadline = waitSeconds > 0 ? Date.now() + waitSeconds * 1000 : Infinity;
    let shown = "";
    try {
      for (;;) {
        let refusal: LockRefusal;
        try {
          return attempt();
        } catch (error) {
          if (!(error instanceof LockRefusal)) throw error;
          refusal = error;
        }
        if (Date.now() >= deadline) throw refusal;
        if (signal?.aborted) throw new KegError("failed", "The waiter went away.");
        const update = { position: this.places.indexOf(place) + 1, blocker: refusal.blocker };
        const key = JSON.stringify(update);
        if (key !== shown) {
          shown = key;
          yield update;
        }
        await new Promise<void>((resolve) => {
          const timer = deadline === Infinity ? undefined : setTimeout(resolve, Math.max(0, deadline - Date.now()));
          place.wake = () => {
            if (timer) clearTimeout(timer);
            resolve();
          };
          signal?.addEventListener("abort", () => resolve(), { once: true });
        });
      }
    } finally {
      this.leave(place);
      // Whoever is next may be able to go now.
      queueMicrotask(this.changed);
    }
  }
}

/**
 * After too many different refused tokens from one address, the agent answers
 * 429 with Retry-After for a while (docs/security.md "Limits"): guessing
 * tokens is what it slows; a job retrying one revoked token is told 401 each
 * time. Pure bookkeeping: the caller says when a token was refused; a valid
 * token is never held back.
 * @module
 */
export const REFUSALS_ALLOWED = 20;
export const WINDOW_MS = 10_000;
/** How long an address stays held back once over the limit. */
export const HOLD_MS = 10_000;
/** Addresses tracked at most (an attacker with many addresses must not grow the agent's memory). */
const MAX_TRACKED = 10_000;

/** Per address: when each refused token (by a digest, never the token) was last seen. */
type Record = { refusals: Map<string, number>; heldUntil: number };

export class RefusalLimit {
  private readonly byAddress = new Map<string, Record>();

  /** Seconds to wait when `address` is held back now, else 0. */
  retryAfter(address: string, now = Date.now()): number {
    const record = this.byAddress.get(address);
    return record && record.heldUntil > now ? Math.ceil((record.heldUntil - now) / 1000) : 0;
  }

  /** Notes a refused token (`digest` tells tokens apart); true when this refusal puts the address over the limit. */
  refused(address: string, digest: string, now = Date.now()): boolean {
    let record = this.byAddress.get(address);
    if (!record) {
      if (this.byAddress.size >= MAX_TRACKED) this.forgetOldest();
      record = { refusals: new Map(), heldUntil: 0 };
      this.byAddress.set(address, record);
    }
    for (const [seen, at] of record.refusals) if (now - at >= WINDOW_MS) record.refusals.delete(seen);
    record.refusals.set(digest, now);
    if (record.refusals.size <= REFUSALS_ALLOWED || record.heldUntil > now) return false;
    record.heldUntil = now + HOLD_MS;
    return true;
  }

  private forgetOldest(): void {
    const oldest = this.byAddress.keys().next();
    if (!oldest.done) this.byAddress.delete(oldest.value);
  }
}

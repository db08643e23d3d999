/**
 * The reliability suite's two sizes (docs/reliability.md): short inside every
 * `npm test`, long with `npm run test:reliability` (KEG_RELIABILITY=long).
 * Every randomised part draws from a seeded generator and prints its seed, so
 * a failure replays with `KEG_SEED=N`.
 */
export const LONG = process.env.KEG_RELIABILITY === "long";

/** `short` in `npm test`, `long` in the long mode. */
export const size = (short: number, long: number) => (LONG ? long : short);

/** A small, fast, seeded generator (mulberry32). */
export class Rng {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** an integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** The seed of one part of the suite: KEG_SEED when given, else a fresh one; printed either way. */
export function seeded(part: string): Rng {
  const seed = process.env.KEG_SEED ? Number(process.env.KEG_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.error(`reliability ${part}: seed ${seed} (${LONG ? "long" : "short"} mode; replay with KEG_SEED=${seed})`);
  return new Rng(seed);
}

/** Byte-level mutations of a valid input: flips, overwrites, inserts, deletes, truncation, splices. */
export function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  let data: Uint8Array = new Uint8Array(input);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = data.length ? rng.int(data.length) : 0;
    switch (rng.int(7)) {
      case 0:
        if (data.length) data[at] = data[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        if (data.length) data[at] = rng.pick([0, 0xff, 0x7f, 0x80, rng.int(256)]);
        break;
      case 2: {
        const extra = rng.bytes(1 + rng.int(8));
        data = concat(data.subarray(0, at), extra, data.subarray(at));
        break;
      }
      case 3:
        data = concat(data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + rng.int(16))));
        break;
      case 4:
        data = data.slice(0, at);
        break;
      case 5: {
        // A 32-bit field set to an extreme (lengths, offsets, sizes)
        if (data.length >= 4) new DataView(data.buffer).setUint32(Math.min(at, data.length - 4), rng.pick([0, 0xffffffff, 0x7fffffff, 0x01000001, rng.int(2 ** 32)]), rng.next() < 0.5);
        break;
      }
      case 6: {
        const from = rng.int(Math.max(1, data.length));
        data = concat(data.subarray(0, at), data.subarray(from, from + rng.int(32)), data.subarray(at));
        break;
      }
    }
  }
  return data;
}

export const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** Runs `cases` cases of `one`, stopping early at `budgetMs`; returns how many ran. */
export async function bounded(cases: number, budgetMs: number, one: (i: number) => void | Promise<void>): Promise<number> {
  const deadline = Date.now() + budgetMs;
  let i = 0;
  for (; i < cases && Date.now() < deadline; i++) await one(i);
  return i;
}

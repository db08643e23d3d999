/**
 * On the compiled binaries: a stalled reader on either side of a forward
 * stalls the writer, and neither keg nor the agent buffers without bound
 * (docs/api.md "Tunnels"). Alone in its file: it measures memory.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { dial, FLOOD_BYTES, forwarded, type Forwarded } from "../../helpers/ports.ts";
import { readIfThere, rssBytes } from "../../helpers/run.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(120_000);

/** 150 MB, as the acceptance says it. */
const RSS_LIMIT = 150e6;
const MiB = 1024 * 1024;
/** No progress for this long counts as stalled (a flowing forward moves MiBs per ms). */
const STILL_MS = 500;

/** The highest RSS seen of the agent and of keg, sampled on demand and every 50 ms while `during` runs. */
class PeakRss {
  agent = 0;
  keg = 0;
  constructor(private readonly run: Forwarded) {}
  sample(): void {
    this.agent = Math.max(this.agent, rssBytes(this.run.box.agent.pid));
    this.keg = Math.max(this.keg, rssBytes(this.run.keg.pid));
  }
  async during<T>(work: Promise<T>): Promise<T> {
    const sampler = setInterval(() => this.sample(), 50);
    try {
      return await work;
    } finally {
      clearInterval(sampler);
      this.sample();
    }
  }
  expectBounded(stalledAt: number): void {
    console.log(`stalled at ${(stalledAt / MiB).toFixed(1)} MiB; peak RSS agent ${(this.agent / MiB).toFixed(0)} MiB, keg ${(this.keg / MiB).toFixed(0)} MiB`);
    expect(this.agent).toBeLessThan(RSS_LIMIT);
    expect(this.keg).toBeLessThan(RSS_LIMIT);
  }
}

/** Waits until `count()` is above 0 and has not changed for STILL_MS; returns it. */
async function untilStill(count: () => number, what: string): Promise<number> {
  let last = -1;
  let since = Date.now();
  return until(
    () => {
      const now = count();
      if (now !== last) [last, since] = [now, Date.now()];
      return now > 0 && Date.now() - since >= STILL_MS ? now : undefined;
    },
    { deadlineMs: 30_000, what },
  );
}

test("1 GiB from the box to a stalled local reader: the box's writer stalls, agent and keg RSS stay under 150 MB, every byte arrives", async () => {
  await using run = await forwarded("tcp-flood");
  const peak = new PeakRss(run);
  const reader = await dial(run.dst);
  reader.pause();
  const stalledAt = await untilStill(() => {
    peak.sample();
    return Number(readIfThere(run.gate.join("sent")) ?? 0);
  }, "the box's writer to stall");
  expect(stalledAt).toBeLessThan(256 * MiB);

  let received = 0;
  reader.on("data", (chunk: Buffer) => (received += chunk.length));
  const ended = new Promise<void>((resolve) => reader.once("end", () => resolve()));
  reader.resume();
  await peak.during(ended);
  reader.destroy();
  expect(received).toBe(FLOOD_BYTES);
  peak.expectBounded(stalledAt);
  expect(await run.stop()).toBe(0);
});

test("1 GiB from a local writer to a box server that does not read: keg stops taking bytes, RSS stays under 150 MB, every byte arrives", async () => {
  await using run = await forwarded("tcp-sink");
  const peak = new PeakRss(run);
  const writer = await dial(run.dst);
  const chunk = Buffer.alloc(MiB, "w");
  let written = 0;
  // Writes as fast as the forward takes: each write waits for the last to drain.
  const writing = (async () => {
    while (written < FLOOD_BYTES) {
      written += chunk.length;
      if (!writer.write(chunk)) await new Promise((resolve) => writer.once("drain", resolve));
    }
    writer.end();
  })();
  const stalledAt = await untilStill(() => {
    peak.sample();
    return written;
  }, "the local writer to stall");
  expect(stalledAt).toBeLessThan(256 * MiB);

  writeFileSync(run.gate.join("read"), "");
  const received = await peak.during(
    writing.then(() => until(() => readIfThere(run.gate.join("received")), { deadlineMs: 60_000, what: "the box to read everything" })),
  );
  writer.destroy();
  expect(Number(received)).toBe(FLOOD_BYTES);
  peak.expectBounded(stalledAt);
  expect(await run.stop()).toBe(0);
});

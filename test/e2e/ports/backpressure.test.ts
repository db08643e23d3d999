/**
 * On the compiled binaries: a stalled reader on either side of a forward
 * stalls the writer, and neither keg nor the agent buffers without bound
 * (docs/api.md "Tunnels"). Alone in its file: it measures memory.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { dial, FLOOD_BYTES, freePort, SERVE_PY } from "../../helpers/ports.ts";
import { readIfThere, rssBytes, runBox, StreamText } from "../../helpers/run.ts";
import { tempDir } from "../../helpers/tmp.ts";
import { until } from "../../helpers/until.ts";

setDefaultTimeout(120_000);

const RSS_LIMIT = 150 * 1024 * 1024;
const MiB = 1024 * 1024;
/** No progress for this long counts as stalled (a flowing forward moves MiBs per ms). */
const STILL_MS = 500;

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
  await using box = await runBox({ "serve.py": SERVE_PY });
  using gate = tempDir("keg-gate-");
  const [src, dst] = [await freePort(), await freePort()];
  const keg = box.spawn(["python", "run", "serve.py", "tcp-flood", String(src), gate.path, "-p", `${src}:${dst}`]);
  await new StreamText(keg.stdout).waitFor(/listening\n/, 15_000);
  let peak = { agent: 0, keg: 0 };
  const sample = () => {
    peak = { agent: Math.max(peak.agent, rssBytes(box.agent.pid)), keg: Math.max(peak.keg, rssBytes(keg.pid)) };
  };

  const reader = await dial(dst);
  reader.pause();
  const stalledAt = await untilStill(() => {
    sample();
    return Number(readIfThere(gate.join("sent")) ?? 0);
  }, "the box's writer to stall");
  expect(stalledAt).toBeLessThan(256 * MiB);

  let received = 0;
  const done = new Promise<void>((resolve) => reader.once("end", () => resolve()));
  reader.on("data", (chunk: Buffer) => (received += chunk.length));
  const sampler = setInterval(sample, 50);
  reader.resume();
  await done;
  clearInterval(sampler);
  sample();
  reader.destroy();
  expect(received).toBe(FLOOD_BYTES);
  console.log(`stalled at ${(stalledAt / MiB).toFixed(1)} MiB; peak RSS agent ${(peak.agent / MiB).toFixed(0)} MiB, keg ${(peak.keg / MiB).toFixed(0)} MiB`);
  expect(peak.agent).toBeLessThan(RSS_LIMIT);
  expect(peak.keg).toBeLessThan(RSS_LIMIT);
  writeFileSync(gate.join("stop"), "");
  expect(await keg.exited).toBe(0);
});

test("1 GiB from a local writer to a box server that does not read: keg stops taking bytes, RSS stays under 150 MB, every byte arrives", async () => {
  await using box = await runBox({ "serve.py": SERVE_PY });
  using gate = tempDir("keg-gate-");
  const [src, dst] = [await freePort(), await freePort()];
  const keg = box.spawn(["python", "run", "serve.py", "tcp-sink", String(src), gate.path, "-p", `${src}:${dst}`]);
  await new StreamText(keg.stdout).waitFor(/listening\n/, 15_000);
  let peak = { agent: 0, keg: 0 };
  const sample = () => {
    peak = { agent: Math.max(peak.agent, rssBytes(box.agent.pid)), keg: Math.max(peak.keg, rssBytes(keg.pid)) };
  };
  const writer = await dial(dst);
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
    sample();
    return written;
  }, "the local writer to stall");
  expect(stalledAt).toBeLessThan(256 * MiB);

  const sampler = setInterval(sample, 50);
  writeFileSync(gate.join("read"), "");
  await writing;
  const received = await until(() => readIfThere(gate.join("received")), { deadlineMs: 60_000, what: "the box to read everything" });
  clearInterval(sampler);
  sample();
  writer.destroy();
  expect(Number(received)).toBe(FLOOD_BYTES);
  console.log(`stalled at ${(stalledAt / MiB).toFixed(1)} MiB; peak RSS agent ${(peak.agent / MiB).toFixed(0)} MiB, keg ${(peak.keg / MiB).toFixed(0)} MiB`);
  expect(peak.agent).toBeLessThan(RSS_LIMIT);
  expect(peak.keg).toBeLessThan(RSS_LIMIT);
  writeFileSync(gate.join("stop"), "");
  expect(await keg.exited).toBe(0);
});

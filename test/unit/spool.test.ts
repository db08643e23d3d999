import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { SpoolReader, SpoolWriter, wholeFrames } from "../../src/agent/spool.ts";
import { decodeFrame, encodeFrame, encodeJsonFrame, Frame, FrameDecoder, type ExitInfo } from "../../src/wire/frames.ts";
import { tempDir } from "../helpers/tmp.ts";

const chunk = (n: number, fill: number) => new Uint8Array(n).fill(fill);

function readAll(reader: SpoolReader) {
  const decoder = new FrameDecoder();
  let dropped = 0;
  const frames = [];
  for (;;) {
    const { dropped: d, data } = reader.read(64 * 1024);
    dropped += d;
    if (!data) {
      if (d) continue;
      return { dropped, frames };
    }
    frames.push(...decoder.push(data));
  }
}

describe("spool", () => {
  test("a reader gets every frame written, whole, across segments", () => {
    using dir = tempDir();
    const writer = new SpoolWriter(dir.path, 4 * 1024 * 1024);
    for (let i = 0; i < 40; i++) writer.appendFrame(Frame.stdout, chunk(100_000, i));
    const exit: ExitInfo = { code: 0, signal: null, status: "exited", ended: new Date().toISOString() };
    writer.append(encodeJsonFrame(Frame.exit, exit));
    writer.close();
    expect(readdirSync(dir.path).length).toBeGreaterThan(1);
    const { dropped, frames } = readAll(new SpoolReader(dir.path));
    expect(dropped).toBe(0);
    expect(frames.length).toBe(41);
    expect(frames.slice(0, 40).every((f, i) => f.payload.length === 100_000 && f.payload[0] === i)).toBe(true);
    expect(decodeFrame(frames[40]!)).toEqual({ type: Frame.exit, payload: exit });
  });

  test("beyond the log limit the oldest output goes, and a late reader is told how many bytes it missed", () => {
    using dir = tempDir();
    const limit = 2 * 1024 * 1024;
    const writer = new SpoolWriter(dir.path, limit);
    const frame = encodeFrame(Frame.stdout, chunk(50_000, 7));
    for (let i = 0; i < 200; i++) writer.append(frame);
    writer.close();
    const { dropped, frames } = readAll(new SpoolReader(dir.path));
    expect(dropped).toBeGreaterThan(0);
    expect(dropped % frame.length).toBe(0); // the jump lands on a frame boundary
    expect(dropped + frames.length * frame.length).toBe(200 * frame.length);
    expect(frames.length * frame.length).toBeLessThanOrEqual(limit + 2 * (limit / 8) + frame.length);
  });

  test("a reader holding a segment the writer then drops reads it to its end, then jumps; close() lets it go", () => {
    using dir = tempDir();
    const limit = 2 * 1024 * 1024;
    const writer = new SpoolWriter(dir.path, limit);
    const frame = encodeFrame(Frame.stdout, chunk(50_000, 7));
    for (let i = 0; i < 4; i++) writer.append(frame);
    const openFds = () => readdirSync("/proc/self/fd").length;
    const fdsBefore = openFds();
    const reader = new SpoolReader(dir.path);
    const first = reader.read(frame.length);
    expect(first.data?.length).toBe(frame.length);
    // The writer moves the window far past the segment the reader has open.
    for (let i = 4; i < 200; i++) writer.append(frame);
    writer.close();
    expect(readdirSync(dir.path)).not.toContain("out.0000000000000000");
    // The rest of its segment (limit / 8 bytes, whole frames) comes before the jump.
    const decoder = new FrameDecoder();
    let [beforeJump, dropped, after] = [0, 0, 0];
    for (;;) {
      const read = reader.read(frame.length);
      dropped += read.dropped;
      if (!read.data) {
        if (read.dropped) continue;
        break;
      }
      const frames = decoder.push(read.data).length;
      if (dropped) after += frames;
      else beforeJump += frames;
    }
    reader.close();
    expect(openFds()).toBe(fdsBefore - 1); // the writer's own segment is closed too
    expect(beforeJump).toBe(Math.ceil(limit / 8 / frame.length) - 1);
    expect(dropped).toBeGreaterThan(0);
    expect(dropped % frame.length).toBe(0);
    expect((1 + beforeJump + after) * frame.length + dropped).toBe(200 * frame.length);
  });

  test("a reader that keeps up while writing loses nothing and never sees half a frame", () => {
    using dir = tempDir();
    const writer = new SpoolWriter(dir.path, 1024 * 1024);
    const reader = new SpoolReader(dir.path);
    const decoder = new FrameDecoder();
    let received = 0;
    for (let i = 0; i < 500; i++) {
      writer.appendFrame(Frame.stdout, chunk(10_000, i % 256));
      const { dropped, data } = reader.read();
      expect(dropped).toBe(0);
      if (data) {
        expect(wholeFrames(data)).toBe(data.length);
        received += decoder.push(data).length;
      }
    }
    writer.close();
    received += readAll(reader).frames.length;
    expect(received).toBe(500);
  });

  test("wholeFrames counts only complete frames", () => {
    const two = new Uint8Array([...encodeFrame(1, chunk(3, 1)), ...encodeFrame(2, chunk(2, 2))]);
    expect(wholeFrames(two)).toBe(two.length);
    expect(wholeFrames(two.subarray(0, two.length - 1))).toBe(8);
    expect(wholeFrames(two.subarray(0, 4))).toBe(0);
  });
});

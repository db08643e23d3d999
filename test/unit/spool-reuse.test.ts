import { describe, expect, test } from "bun:test";
import { SpoolReader, SpoolWriter, wholeFrames } from "../../src/agent/spool.ts";
import { encodeJsonFrame, Frame, FrameDecoder, type ExitInfo } from "../../src/wire/frames.ts";
import { tempDir } from "../helpers/tmp.ts";

describe("spool reader with one reused buffer", () => {
  test("every read is right when used before the next; the buffer is the same one", () => {
    using dir = tempDir();
    const writer = new SpoolWriter(dir.path, 4 * 1024 * 1024);
    for (let i = 0; i < 60; i++) writer.appendFrame(Frame.stdout, new Uint8Array(50_000).fill(i));
    const exit: ExitInfo = { code: 0, signal: null, status: "exited", ended: new Date().toISOString() };
    writer.append(encodeJsonFrame(Frame.exit, exit));
    writer.close();
    const reader = new SpoolReader(dir.path, 0, { reuseBuffer: true });
    const decoder = new FrameDecoder();
    const buffers = new Set<ArrayBufferLike>();
    let next = 0;
    let sawExit = false;
    for (let { data } = reader.read(128 * 1024); data; { data } = reader.read(128 * 1024)) {
      expect(wholeFrames(data)).toBe(data.length);
      buffers.add(data.buffer);
      // Used at once, as a response that copies it would.
      for (const frame of decoder.push(data)) {
        if (frame.type === Frame.exit) {
          sawExit = true;
          continue;
        }
        expect(frame.payload.length === 50_000 && frame.payload.every((byte) => byte === next)).toBe(true);
        next++;
      }
    }
    expect(next).toBe(60);
    expect(sawExit).toBe(true);
    expect(buffers.size).toBe(1);
  });

  test("without the option each read gets a buffer of its own (the default)", () => {
    using dir = tempDir();
    const writer = new SpoolWriter(dir.path, 4 * 1024 * 1024);
    for (let i = 0; i < 10; i++) writer.appendFrame(Frame.stdout, new Uint8Array(100_000).fill(i));
    writer.close();
    const reader = new SpoolReader(dir.path);
    const kept: Uint8Array[] = [];
    for (let { data } = reader.read(128 * 1024); data; { data } = reader.read(128 * 1024)) kept.push(data);
    expect(new Set(kept.map((d) => d.buffer)).size).toBe(kept.length);
  });
});

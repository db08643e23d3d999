import { describe, expect, test } from "bun:test";
import { decodeFrame, encodeFrame, encodeJsonFrame, Frame, FrameDecoder, FrameError, HEADER_BYTES, MAX_PAYLOAD, type ExitInfo } from "../../src/wire/frames.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const exit: ExitInfo = { code: 7, signal: null, status: "exited", ended: "2026-03-20T13:00:00.000Z" };

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe("frame codec", () => {
  test("a frame is type, 4-byte big-endian length, payload", () => {
    expect([...encodeFrame(Frame.stdout, bytes("hi"))]).toEqual([1, 0, 0, 0, 2, 104, 105]);
    expect([...encodeFrame(Frame.keepalive)]).toEqual([4, 0, 0, 0, 0]);
  });

  test("frames round-trip, JSON ones too", () => {
    const stream = concat(encodeFrame(Frame.stdout, bytes("out")), encodeFrame(Frame.stderr, bytes("err")), encodeJsonFrame(Frame.exit, exit));
    const frames = new FrameDecoder().push(stream);
    expect(frames.map((f) => f.type)).toEqual([Frame.stdout, Frame.stderr, Frame.exit]);
    expect(text(frames[0]!.payload)).toBe("out");
    expect(text(frames[1]!.payload)).toBe("err");
    expect(decodeFrame(frames[2]!)).toEqual({ type: Frame.exit, payload: exit });
  });

  test("decodeFrame parses JSON payloads and leaves byte payloads as they are", () => {
    const out = bytes("{not json");
    const frames = new FrameDecoder().push(
      concat(
        encodeFrame(Frame.stdout, out),
        encodeJsonFrame(Frame.file, { path: "out/data.csv.gz", size: 12, gzip: true }),
        encodeJsonFrame(Frame.queue, { position: 2, blocker: "alice's python" }),
        encodeJsonFrame(Frame.keepalive, {}),
      ),
    );
    const [stdout, file, queue, keepalive] = frames.map(decodeFrame);
    expect(stdout).toEqual({ type: Frame.stdout, payload: out });
    expect(file).toEqual({ type: Frame.file, payload: { path: "out/data.csv.gz", size: 12, gzip: true } });
    expect(queue).toEqual({ type: Frame.queue, payload: { position: 2, blocker: "alice's python" } });
    expect(keepalive).toEqual({ type: Frame.keepalive, payload: {} });
  });

  test("decodeFrame narrows the payload by the frame's type", () => {
    const frame = decodeFrame(new FrameDecoder().push(encodeJsonFrame(Frame.exit, exit))[0]!);
    // A compile-time check as much as a run-time one: only the exit branch has `code`.
    const code = frame.type === Frame.exit ? frame.payload.code : undefined;
    expect(code).toBe(7);
  });

  test("decodeFrame refuses an unknown type and a JSON frame that is not JSON", () => {
    expect(() => decodeFrame({ type: 99, payload: new Uint8Array(0) })).toThrow(/unknown frame type 99/);
    expect(() => decodeFrame({ type: Frame.exit, payload: bytes("{") })).toThrow(SyntaxError);
  });

  test("frames split at every byte boundary arrive whole and in order", () => {
    const stream = concat(encodeFrame(Frame.stdout, bytes("hello")), encodeFrame(Frame.record, bytes("\x03{}")), encodeFrame(Frame.keepalive));
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder();
      const frames = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))];
      expect(frames.map((f) => [f.type, text(f.payload)])).toEqual([
        [Frame.stdout, "hello"],
        [Frame.record, "\x03{}"],
        [Frame.keepalive, ""],
      ]);
      expect(decoder.pending).toBe(0);
    }
  });

  test("one byte at a time works and keeps the partial frame pending", () => {
    const stream = encodeFrame(Frame.stdout, bytes("abc"));
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < stream.length; i++) {
      frames.push(...decoder.push(stream.subarray(i, i + 1)));
      if (i < stream.length - 1) expect(decoder.pending).toBe(i + 1);
    }
    expect(frames.map((f) => text(f.payload))).toEqual(["abc"]);
  });

  test("1 MiB frames in 64 KiB chunks, cut anywhere, arrive whole and in order", () => {
    const payloads = [0, 1, 2].map((n) => new Uint8Array(1024 * 1024).map((_, i) => (i * 7 + n) % 251));
    const stream = concat(...payloads.map((p) => encodeFrame(Frame.stdout, p)), encodeJsonFrame(Frame.exit, exit));
    const decoder = new FrameDecoder();
    const frames = [];
    for (let at = 0; at < stream.length; at += 65_536 + 3) frames.push(...decoder.push(stream.subarray(at, at + 65_536 + 3)));
    expect(frames.length).toBe(4);
    for (const [i, payload] of payloads.entries()) expect(frames[i]!.payload).toEqual(payload);
    expect(decodeFrame(frames[3]!).payload).toEqual(exit);
    expect(decoder.pending).toBe(0);
  });

  describe("split types: output frames handed out in pieces as they arrive (docs/performance.md \"Streaming\")", () => {
    const split = () => new FrameDecoder({ splitTypes: new Set([Frame.stdout, Frame.stderr]) });
    /** Pushes `stream` cut at `cuts`; the pieces, and each frame's payload put back together. */
    function decodeCut(stream: Uint8Array, cuts: number[]) {
      const decoder = split();
      const pieces = [];
      let at = 0;
      for (const cut of [...cuts, stream.length]) {
        const chunk = stream.slice(at, cut); // a buffer of its own, as a fetch chunk is
        for (const piece of decoder.push(chunk)) pieces.push({ ...piece, chunk });
        at = cut;
      }
      const frames: { type: number; text: string }[] = [];
      let open: { type: number; parts: Uint8Array[] } | undefined;
      for (const piece of pieces) {
        open ??= { type: piece.type, parts: [] };
        expect(piece.type).toBe(open.type);
        open.parts.push(piece.payload);
        if (piece.rest === 0) {
          frames.push({ type: open.type, text: text(concat(...open.parts)) });
          open = undefined;
        }
      }
      return { pieces, frames, decoder, open };
    }

    const stream = concat(encodeFrame(Frame.stdout, bytes("hello")), encodeFrame(Frame.record, bytes("\x03{}")), encodeFrame(Frame.stderr, bytes("")), encodeFrame(Frame.stderr, bytes("world!")), encodeJsonFrame(Frame.exit, exit));
    const whole = [
      { type: Frame.stdout, text: "hello" },
      { type: Frame.record, text: "\x03{}" },
      { type: Frame.stderr, text: "" },
      { type: Frame.stderr, text: "world!" },
      { type: Frame.exit, text: JSON.stringify(exit) },
    ];

    test("cut at every pair of byte boundaries: every byte once, in order; the sizes add up to the stream; other types whole", () => {
      for (let a = 0; a <= stream.length; a++)
        for (let b = a; b <= stream.length; b++) {
          const { pieces, frames, decoder, open } = decodeCut(stream, [a, b]);
          expect(frames).toEqual(whole);
          expect(open).toBeUndefined();
          expect(decoder.pending).toBe(0);
          expect(pieces.reduce((sum, piece) => sum + piece.size, 0)).toBe(stream.length);
          for (const piece of pieces) if (piece.type !== Frame.stdout && piece.type !== Frame.stderr) expect(piece.rest).toBe(0);
          // rest counts down: each piece's rest is the next piece's rest plus its payload
          for (const [i, piece] of pieces.entries()) if (piece.rest > 0) expect(pieces[i + 1]!.rest).toBe(piece.rest - pieces[i + 1]!.payload.length);
        }
    });

    test("a 1 MiB stdout frame in 64 KiB chunks: views of the chunks, never a copy; nothing held but a header", () => {
      const payload = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 251);
      const frame = encodeFrame(Frame.stdout, payload);
      const { pieces, decoder } = decodeCut(frame, Array.from({ length: 16 }, (_, i) => (i + 1) * 65_536 - 2));
      expect(pieces.length).toBe(17);
      for (const piece of pieces) expect(piece.payload.buffer).toBe(piece.chunk.buffer);
      expect(concat(...pieces.map((p) => p.payload))).toEqual(payload);
      expect(decoder.pending).toBe(0);
      const first = split();
      expect(first.push(frame.subarray(0, 3))).toEqual([]);
      expect(first.pending).toBe(3);
      expect(first.push(frame.subarray(3, 10)).map((p) => [p.size, p.rest])).toEqual([[10, payload.length - 5]]);
      expect(first.pending).toBe(0);
    });
  });

  test("a garbage header cut across chunks is refused as soon as its five bytes are in", () => {
    const decoder = new FrameDecoder();
    expect(decoder.push(new Uint8Array([Frame.stdout, 0x7f]))).toEqual([]);
    expect(() => decoder.push(new Uint8Array([0xff, 0xff, 0xff]))).toThrow(/exceeds the limit/);
  });

  test("an oversized frame is rejected by the encoder and the decoder", () => {
    expect(() => encodeFrame(Frame.stdout, new Uint8Array(MAX_PAYLOAD + 1))).toThrow(FrameError);
    const header = new Uint8Array(HEADER_BYTES);
    header[0] = Frame.stdout;
    new DataView(header.buffer).setUint32(1, MAX_PAYLOAD + 1);
    expect(() => new FrameDecoder().push(header)).toThrow(FrameError);
    expect(() => new FrameDecoder({ maxPayload: 10 }).push(encodeFrame(Frame.stdout, new Uint8Array(11)))).toThrow(/exceeds the limit/);
  });

  test("garbage (an unknown type) is rejected, not mistaken for output", () => {
    expect(() => new FrameDecoder().push(bytes("GET / HTTP/1.1\r\n"))).toThrow(/unknown frame type/);
    expect(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 0, 0]))).toThrow(FrameError);
    expect(() => new FrameDecoder().push(new Uint8Array([255, 0, 0, 0, 1, 1]))).toThrow(FrameError);
  });

  test("a decoder for the record channel accepts only encoders 1 to 4", () => {
    const records = new FrameDecoder({ isKnownType: (t) => t >= 1 && t <= 4 });
    expect(records.push(encodeFrame(3, bytes("{}")))[0]!.type).toBe(3);
    expect(() => records.push(encodeFrame(9, bytes("x")))).toThrow(FrameError);
  });
});

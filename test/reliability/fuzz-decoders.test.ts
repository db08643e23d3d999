/**
 * Fuzzing the decoders of untrusted bytes (docs/reliability.md "Fuzzing"):
 * the frame decoder, the record decoders (pickle, YAML, JSON) and the zip
 * unpacker, each fed mutations of valid inputs. No crash (only the decoder's
 * own refusal), no hang, no file outside the run folder.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { strToU8, zipSync } from "fflate";
import { unpackUpload } from "../../src/agent/unpack.ts";
import { decodeRecord, Encoder } from "../../src/client/records.ts";
import { KegError } from "../../src/errors.ts";
import { decodeFrame, encodeFrame, encodeJsonFrame, Frame, FrameDecoder, FrameError } from "../../src/wire/frames.ts";
import { tempDir } from "../helpers/tmp.ts";
import { bounded, concat, mutate, seeded, size } from "./mode.ts";

const CASES = size(2_000, 100_000);
const BUDGET_MS = size(8_000, 600_000);

function report(part: string, ran: number, started: number) {
  console.error(`reliability fuzz ${part}: ${ran.toLocaleString("en-US")} cases in ${Math.round(performance.now() - started)} ms`);
}

/** A valid stream of every kind of frame. */
function validStream(): Uint8Array {
  const text = (s: string) => new TextEncoder().encode(s);
  return concat(
    encodeJsonFrame(Frame.started, { id: "x", generation: 1, keepalive: 20, forced: false, reconnect_grace: 15 }),
    encodeFrame(Frame.stdout, text("hello\n")),
    encodeFrame(Frame.stderr, text("oops\n")),
    encodeFrame(Frame.record, concat(new Uint8Array([Encoder.JSON]), text('{"v":3.3}'))),
    encodeJsonFrame(Frame.keepalive, {}),
    encodeJsonFrame(Frame.dropped, { bytes: 10 }),
    encodeJsonFrame(Frame.exit, { code: 0, signal: null, status: "exited", ended: "2026-01-01T00:00:00Z" }),
    encodeJsonFrame(Frame.file, { path: "a", size: 1, gzip: false }),
    encodeFrame(Frame.file_data, new Uint8Array([31, 139, 8])),
    encodeJsonFrame(Frame.file_end, { path: "a", ok: true }),
    encodeJsonFrame(Frame.end, { released: true }),
  );
}

describe("fuzzing", () => {
  test("the frame decoder: whole frames or FrameError/SyntaxError, in any chunking; valid streams decode the same in any chunking", async () => {
    const rng = seeded("frames");
    const valid = validStream();
    const reference = new FrameDecoder().push(valid).map(decodeFrame);
    const started = performance.now();
    const ran = await bounded(CASES, BUDGET_MS, (i) => {
      const input = i % 4 === 0 ? valid : mutate(rng, valid);
      const decoder = new FrameDecoder();
      const frames = [];
      try {
        for (let at = 0; at < input.length; ) {
          const next = at + 1 + rng.int(64);
          for (const frame of decoder.push(input.subarray(at, next))) frames.push(decodeFrame(frame));
          at = next;
        }
      } catch (error) {
        if (!(error instanceof FrameError || error instanceof SyntaxError)) throw new Error(`case ${i}: ${(error as Error).stack}`);
        return;
      }
      if (input === valid) expect(frames).toEqual(reference);
    });
    report("frames", ran, started);
    expect(ran).toBeGreaterThan(0);
  });

  test("the record decoders: any payload decodes to a record (maybe with an error), never a throw or a hang", async () => {
    const rng = seeded("records");
    const python = Bun.spawnSync(["python3", "-c", "import pickle,sys; sys.stdout.buffer.write(pickle.dumps({'a':[1,2.5,'x',None,True,(1,2)],'b':{'c':b'\\x00'}}, protocol=4))"]);
    const pickles = [python.stdout.length ? new Uint8Array(python.stdout) : new Uint8Array([0x80, 4, 0x4e, 0x2e])];
    const samples: [number, Uint8Array][] = [
      [Encoder.PICKLE, pickles[0]!],
      [Encoder.JSON, strToU8('{"a":[1,2,{"b":"c"}],"d":null,"e":1e300}')],
      [Encoder.YAML, strToU8("a: [1, 2]\nb: &x {c: d}\ne: *x\nf: !!str 3\n")],
      [Encoder.RAW, strToU8("raw")],
    ];
    const started = performance.now();
    const ran = await bounded(CASES, BUDGET_MS, async (i) => {
      const [encoder, sample] = rng.pick(samples);
      const record = await decodeRecord(rng.int(10) === 0 ? rng.int(256) : encoder, mutate(rng, sample));
      expect(typeof record.encoder).toBe("string");
      if (i === 0) expect(record.size).toBeGreaterThanOrEqual(0);
    });
    report("records", ran, started);
  });

  test("the zip unpacker: mutated zips unpack or are refused with a 400, and nothing lands outside the run folder", async () => {
    const rng = seeded("unpack");
    using dir = tempDir("keg-fuzz-unpack-");
    const zips = [
      zipSync({ "main.py": strToU8("print(1)\n"), "lib/util.py": strToU8("x = 2\n"), "data/": {} }, { level: 0 }),
      zipSync({ "main.py": strToU8("print(1)\n".repeat(50)), "a/b/c.txt": strToU8("deep") }, { level: 6 }),
    ];
    const zipPath = dir.join("upload.zip");
    const runs = dir.join("runs");
    const started = performance.now();
    // Each case touches the disk: a wider time bound than the pure decoders'.
    const ran = await bounded(CASES, size(20_000, 900_000), async (i) => {
      const work = join(runs, String(i % 8), "work");
      rmSync(join(runs, String(i % 8)), { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
      writeFileSync(zipPath, mutate(rng, rng.pick(zips)));
      try {
        await unpackUpload(zipPath, work, { maxBytes: 1024 * 1024, maxEntries: 100 });
      } catch (error) {
        if (!(error instanceof KegError && error.status === 400)) throw new Error(`case ${i}: not a 400: ${(error as Error).stack}`);
      }
      // Only the run folders exist beside the zip: nothing was written outside a work folder.
      const outside = readdirSync(dir.path).filter((name) => name !== "upload.zip" && name !== "runs");
      const strays = readdirSync(runs, { recursive: true, encoding: "utf8" }).filter((name) => !/^\d+(\/work(\/[\s\S]*)?)?$/.test(name));
      expect({ outside, strays }).toEqual({ outside: [], strays: [] });
    });
    report("unpack", ran, started);
  });
});

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 as zlibCrc32, deflateRawSync } from "node:zlib";
import { unzipSync } from "fflate";
import { unpackUpload } from "../../src/agent/unpack.ts";
import { crc32, ZipWriter } from "../../src/client/zip-writer.ts";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

describe("zip writer", () => {
  test("crc32 is zip's, and continues across pieces", () => {
    const data = bytes(10_000, 3);
    expect(crc32(data)).toBe(zlibCrc32(data));
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(data.subarray(5000), crc32(data.subarray(0, 5000)))).toBe(zlibCrc32(data));
  });

  test("stored, deflated, piece-fed and directory entries read back by fflate and by the agent's unpacker", async () => {
    const big = bytes(70_000, 1);
    const deflatedSource = new TextEncoder().encode("print('hi')\n".repeat(1000));
    const zip = new ZipWriter();
    zip.add({ name: "lib/", mode: 0o40755 }, new Uint8Array(0));
    zip.add({ name: "main.py", mode: 0o100644 }, new TextEncoder().encode("print('main')\n"));
    zip.add({ name: "lib/run.sh", mode: 0o100755 }, new TextEncoder().encode("#!/bin/sh\n"));
    zip.add({ name: "lib/ünïcode.txt", mode: 0o100644 }, new TextEncoder().encode("é"));
    zip.add({ name: "lib/code.py", mode: 0o100644 }, deflateRawSync(deflatedSource), { deflated: { crc: zlibCrc32(deflatedSource), size: deflatedSource.length } });
    const fed = zip.addPieces({ name: "big.bin", mode: 0o100644 }, [big.subarray(0, 30_000), big.subarray(30_000)]);
    expect(fed).toBe(big.length);
    const { parts, size } = zip.finish();
    const whole = concat(parts);
    expect(whole.length).toBe(size);

    const read = unzipSync(whole);
    expect(new TextDecoder().decode(read["main.py"])).toBe("print('main')\n");
    expect(new TextDecoder().decode(read["lib/ünïcode.txt"])).toBe("é");
    expect(read["lib/code.py"]).toEqual(deflatedSource);
    expect(read["big.bin"]).toEqual(big);

    const dir = mkdtempSync(join(tmpdir(), "keg-zip-writer-"));
    try {
      writeFileSync(join(dir, "upload.zip"), whole);
      await unpackUpload(join(dir, "upload.zip"), join(dir, "work"));
      const work = join(dir, "work");
      expect(readFileSync(join(work, "main.py"), "utf8")).toBe("print('main')\n");
      expect(readFileSync(join(work, "lib", "ünïcode.txt"), "utf8")).toBe("é");
      expect(readFileSync(join(work, "lib", "code.py"))).toEqual(Buffer.from(deflatedSource));
      expect(readFileSync(join(work, "big.bin"))).toEqual(Buffer.from(big));
      expect(statSync(join(work, "lib", "run.sh")).mode & 0o777).toBe(0o755);
      expect(statSync(join(work, "main.py")).mode & 0o777).toBe(0o644);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an empty zip is a valid one", () => {
    const { parts } = new ZipWriter().finish();
    expect(Object.keys(unzipSync(concat(parts)))).toEqual([]);
  });
});

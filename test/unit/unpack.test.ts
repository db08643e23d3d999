/** src/agent/unpack.ts: the run folder from an upload (a file, or a small one's bytes), and the zips it refuses (docs/usage.md "Runs"). */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { strToU8, zipSync, type Zippable } from "fflate";
import { unpackUpload } from "../../src/agent/unpack.ts";
import { packUpload } from "../../src/client/pack.ts";
import { KegError } from "../../src/errors.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";

let dir: TempDir;
let runDir: string;
let zipPath: string;
beforeEach(() => {
  dir = tempDir("keg-unpack-");
  runDir = dir.join("run");
  zipPath = dir.join("upload.zip");
  mkdirSync(runDir);
});
afterEach(() => dir[Symbol.dispose]());

/** Every path under `root` (folders with a trailing slash) with content and mode. */
function readTree(root: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const full = join(at, entry.name);
      const name = relative(root, full);
      if (entry.isDirectory()) {
        tree[`${name}/`] = "";
        walk(full);
      } else {
        tree[name] = `${(statSync(full).mode & 0o777).toString(8)} ${readFileSync(full).toString("base64")}`;
      }
    }
  };
  walk(root);
  return tree;
}

function writeFiles(root: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), content);
  }
}

// Every case both ways: the agent unpacks a small upload from memory, a big one from its file.
describe.each(["file", "memory"] as const)("from %s", (source) => {
  const unpack = (dest: string, limits?: { maxEntries?: number; maxBytes?: number }) =>
    unpackUpload(source === "memory" ? readFileSync(zipPath) : zipPath, dest, limits);

  async function refusal(limits?: { maxEntries?: number; maxBytes?: number }): Promise<KegError> {
    const error = await unpack(runDir, limits).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KegError);
    expect((error as KegError).code).toBe("bad_request");
    // Nothing in the run folder, nothing next to it.
    expect(readdirSync(runDir)).toEqual([]);
    expect(readdirSync(dir.path).sort()).toEqual(["run", "upload.zip"]);
    return error as KegError;
  }

  describe("round trip", () => {
    test("pack then unpack gives the same tree, modes included", async () => {
      const src = dir.join("src");
      const random = new Uint8Array(70_000).map(() => Math.floor(Math.random() * 256));
      writeFiles(src, {
        "main.py": "print('hi')\n",
        "lib/util.py": "x = 1\n".repeat(1000),
        "lib/deep/er/mod.py": "y = 2\n",
        "data/blob.bin": random,
        "data/empty.txt": "",
        "naïve é.py": "# unicode name\n",
        "tool.sh": "#!/bin/sh\necho hi\n",
      });
      chmodSync(join(src, "tool.sh"), 0o755);
      mkdirSync(join(src, "out"));
      const packed = await packUpload({ runnable: src, addFiles: [] });
      writeFileSync(zipPath, packed.zip);
      const result = await unpack(runDir);
      expect(result).toEqual({ files: 7, bytes: packed.bytes });
      expect(readTree(runDir)).toEqual(readTree(src));
      expect(statSync(join(runDir, "tool.sh")).mode & 0o777).toBe(0o755);
      expect(statSync(join(runDir, "main.py")).mode & 0o777).toBe(0o644);
    });

    test("a big file is streamed through and checked", async () => {
      const src = dir.join("src");
      const big = new Uint8Array(9 * 1024 * 1024).map((_, i) => (i * 7) % 251);
      writeFiles(src, { "main.py": "m", "big.bin": big });
      writeFileSync(zipPath, (await packUpload({ runnable: src, addFiles: [] })).zip);
      expect(await unpack(runDir)).toEqual({ files: 2, bytes: big.length + 1 });
      expect(readFileSync(join(runDir, "big.bin")).equals(big)).toBe(true);
    });

    test("2,000 files: timing", async () => {
      const src = dir.join("many");
      const files: Record<string, string> = { "main.py": "print(1)\n" };
      for (let i = 0; i < 2000; i++) files[`pkg${i % 20}/mod${i}.py`] = `def f${i}(x):\n    return x * ${i}\n`.repeat(30);
      writeFiles(src, files);
      let start = performance.now();
      const packed = await packUpload({ runnable: src, addFiles: [] });
      const packMs = performance.now() - start;
      writeFileSync(zipPath, packed.zip);
      start = performance.now();
      const result = await unpack(runDir);
      const unpackMs = performance.now() - start;
      console.log(`2,001 files, ${packed.bytes} bytes -> ${packed.zip.length} byte zip: pack ${packMs.toFixed(0)} ms, unpack ${unpackMs.toFixed(0)} ms`);
      expect(result.files).toBe(2001);
      expect(readTree(runDir)).toEqual(readTree(src));
    }, 60_000);
  });

  describe("hostile zips write nothing", () => {
    const names = ["../x", "/abs", "a/../../x", "C:/x", "c:x", "a\\..\\x", "a//b", "./x", "a/./b", "x\0y", "../", ".."];
    for (const name of names) {
      test(`entry ${JSON.stringify(name)} is refused`, async () => {
        // A good entry first: it must not be written either.
        writeFileSync(zipPath, zipSync({ "ok.txt": strToU8("fine"), [name]: strToU8("evil") }));
        const error = await refusal();
        expect(error.message).toStartWith("Upload refused: entry '");
        expect(error.message).toEndWith(". Nothing was unpacked.");
      });
    }

    test("the message names the entry", async () => {
      writeFileSync(zipPath, zipSync({ "ok.txt": strToU8("fine"), "a/../../x": strToU8("evil") }));
      expect((await refusal()).message).toBe("Upload refused: entry 'a/../../x' has a '..' segment. Nothing was unpacked.");
    });

    test("a symbolic link entry is refused", async () => {
      writeFileSync(zipPath, zipSync({ "ok.txt": strToU8("fine"), link: [strToU8("/etc/passwd"), { os: 3, attrs: 0o120777 << 16 }] }));
      expect((await refusal()).message).toBe("Upload refused: entry 'link' is a symbolic link. Nothing was unpacked.");
    });

    test("a file and a folder of the same name are refused", async () => {
      writeFileSync(zipPath, zipSync({ a: strToU8("file"), "a/b": strToU8("under a file") }));
      expect((await refusal()).message).toContain("collides with another entry");
    });

    test("the same name twice is refused", async () => {
      // fflate's object input cannot hold a name twice: rename one in the bytes.
      const zip = zipSync({ "aa.txt": strToU8("1"), "ab.txt": strToU8("2") });
      writeFileSync(zipPath, Buffer.from(zip).toString("latin1").replaceAll("ab.txt", "aa.txt"), "latin1");
      expect((await refusal()).message).toContain("collides with another entry");
    });

    test("more entries than the limit are refused", async () => {
      const entries: Zippable = {};
      for (let i = 0; i < 11; i++) entries[`f${i}`] = strToU8("x");
      writeFileSync(zipPath, zipSync(entries));
      expect((await refusal({ maxEntries: 10 })).message).toBe("Upload refused: it has 11 entries, over the limit of 10. Nothing was unpacked.");
    });

    test("more unpacked bytes than the limit are refused (zip bomb)", async () => {
      writeFileSync(zipPath, zipSync({ "bomb.bin": new Uint8Array(2_000_000) }));
      expect(statSync(zipPath).size).toBeLessThan(10_000);
      expect((await refusal({ maxBytes: 1_000_000 })).message).toBe("Upload refused: it unpacks to more than 1000000 bytes, the limit. Nothing was unpacked.");
    });
  });

  describe("corrupt zips", () => {
    test("not a zip at all", async () => {
      writeFileSync(zipPath, "hello, this is not a zip");
      expect((await refusal()).message).toStartWith("Upload refused: not a valid zip (");
    });

    test("a truncated zip", async () => {
      const zip = zipSync({ "a.txt": strToU8("a".repeat(1000)) });
      writeFileSync(zipPath, zip.subarray(0, zip.length - 30));
      expect((await refusal()).message).toStartWith("Upload refused: not a valid zip (");
    });

    test("a damaged entry leaves the run folder empty", async () => {
      const zip = zipSync({ "first.txt": strToU8("written first"), "second.txt": strToU8("DAMAGED-PAYLOAD") }, { level: 0 });
      writeFileSync(zipPath, Buffer.from(Buffer.from(zip).toString("latin1").replace("DAMAGED", "damaged"), "latin1"));
      expect((await refusal()).message).toBe("Upload refused: not a valid zip ('second.txt' does not match its size or checksum).");
    });

    test("a damaged big entry leaves the run folder empty", async () => {
      const zip = zipSync({ "a.txt": strToU8("a"), "big.bin": new Uint8Array(9 * 1024 * 1024) }, { level: 0 });
      zip[5_000_000] ^= 1;
      writeFileSync(zipPath, zip);
      expect((await refusal()).message).toBe("Upload refused: not a valid zip ('big.bin' does not match its size or checksum).");
    });

    test("a big deflated entry that does not inflate leaves the run folder empty", async () => {
      const zip = zipSync({ "a.txt": strToU8("a"), "big.bin": new Uint8Array(9 * 1024 * 1024).map((_, i) => (i * 7) % 251) }, { level: 1 });
      zip.fill(0xff, 1000, 2000);
      writeFileSync(zipPath, zip);
      expect((await refusal()).message).toStartWith("Upload refused: not a valid zip ('big.bin' does not ");
    });

    // Found by the reliability suite's zip fuzzing (docs/reliability.md): unzipper left the offset undefined, the read was at NaN, a 500.
    test("an entry whose offset or size says ZIP64 without a ZIP64 extra is refused with a 400, not an internal error", async () => {
      for (const field of [42, 20, 24]) {
        const zip = Buffer.from(zipSync({ "first.txt": strToU8("one"), "second.txt": strToU8("two") }, { level: 0 }));
        // The second central directory record: its local header offset (42), compressed (20) or uncompressed size (24).
        const central = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
        zip.writeUInt32LE(0xffffffff, central + field);
        writeFileSync(zipPath, zip);
        const error = await refusal();
        expect({ field, status: error.status, message: error.message }).toEqual({
          field,
          status: 400,
          message: "Upload refused: entry 'second.txt' has a damaged header (a size or offset that is not a number). Nothing was unpacked.",
        });
      }
    });

    test("an entry that lies about its size is cut off at the declared size", async () => {
      const zip = Buffer.from(zipSync({ "big.bin": new Uint8Array(100_000) }));
      // Central directory uncompressed size (offset 24 in the record) claims 10 bytes.
      const central = zip.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      zip.writeUInt32LE(10, central + 24);
      writeFileSync(zipPath, zip);
      expect((await refusal()).message).toStartWith("Upload refused: not a valid zip ('big.bin' does not inflate");
    });
  });
});

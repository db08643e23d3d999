/**
 * A big upload is sent in the pieces it was packed in: keg holds it about
 * once, not several times over (docs/usage.md "Runs"); one under 1 MiB, which
 * the box keeps in memory instead of a file, arrives whole just the same.
 */
import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { openSync, writeSync, closeSync } from "node:fs";
import { rssBytes, runBox, StreamText } from "../../helpers/run.ts";

setDefaultTimeout(120_000);

const MB = 1024 * 1024;

test("a 128 MiB --add-file arrives whole while keg's peak memory stays under 1.5 times its size", async () => {
  await using box = await runBox({ "size.py": "import hashlib, os\nprint(os.path.getsize('big.bin'), hashlib.sha256(open('big.bin', 'rb').read()).hexdigest())\n" }, { args: ["--max-upload", "512"] });
  const hash = new Bun.CryptoHasher("sha256");
  const fd = openSync(box.dir.join("big.bin"), "w");
  for (let i = 0; i < 128; i++) {
    const piece = randomBytes(MB);
    hash.update(piece);
    writeSync(fd, piece);
  }
  closeSync(fd);
  const proc = box.spawn(["python", "run", "size.py", "--add-file", "big.bin"]);
  const out = new StreamText(proc.stdout);
  let peak = 0;
  const sampling = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(proc.pid));
    } catch {} // exited
  }, 20);
  const code = await proc.exited;
  clearInterval(sampling);
  await out.done;
  expect({ code, stdout: out.text }).toEqual({ code: 0, stdout: `${128 * MB} ${hash.digest("hex")}\n` });
  expect(peak).toBeGreaterThan(0);
  expect(peak).toBeLessThan(1.5 * 128 * MB);
});

test("uploads just under and just over the 1 MiB the box keeps in memory arrive whole", async () => {
  await using box = await runBox({ "size.py": "import hashlib, os\nprint(os.path.getsize('blob.bin'), hashlib.sha256(open('blob.bin', 'rb').read()).hexdigest())\n" });
  for (const size of [MB - 4096, MB + 4096]) {
    // Random bytes do not deflate: the zip is about the file's size, sent in several chunks.
    const blob = randomBytes(size);
    await Bun.write(box.dir.join("blob.bin"), blob);
    const run = await box.run(["python", "run", "size.py", "--add-file", "blob.bin"]);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: `${size} ${new Bun.CryptoHasher("sha256").update(blob).digest("hex")}\n` });
  }
});

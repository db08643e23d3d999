/**
 * A big upload is sent in the pieces it was packed in: keg holds it about
 * once, not several times over (docs/usage.md "Runs").
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

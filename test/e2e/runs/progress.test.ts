/** A progress line on a terminal for uploads and downloads over a few MB; none off a terminal. */
import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { kegBin } from "../../helpers/bin.ts";
import { runBox } from "../../helpers/run.ts";

setDefaultTimeout(60_000);

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

test.skipIf(!Bun.which("script"))("uploading and downloading 6 MB shows progress on a terminal, and not on a pipe", async () => {
  await using box = await runBox({ "copy.py": "import shutil\nshutil.copy('blob.bin', 'back.bin')\n" });
  const blob = randomBytes(6 * 1024 * 1024);
  writeFileSync(box.dir.join("blob.bin"), blob);
  const args = ["python", "run", "copy.py", "--box", "lab", "--add-file", "blob.bin", "--download", "back.bin"];
  // `script` gives keg a real terminal (a pty) for stdout and stderr.
  const command = [kegBin(), ...args].map(quote).join(" ");
  const proc = Bun.spawn(["script", "-qec", command, "/dev/null"], { cwd: box.dir.path, env: { ...box.user.env, TERM: "xterm" }, stdout: "pipe", stderr: "pipe" });
  const [screen, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  expect(screen).toMatch(/uploading \d+\.\d\/\d+\.\d MB \d+%/);
  expect(screen).toMatch(/downloading back\.bin 6\.0\/6\.0 MB 100%/);
  expect(readFileSync(box.dir.join("back.bin")).equals(blob)).toBe(true);

  const piped = await box.run(["python", "run", "copy.py", "--add-file", "blob.bin", "--download", "back.bin", "--allow-overwrite"]);
  expect(piped.code).toBe(0);
  expect(piped.stderr).not.toContain("uploading");
  expect(piped.stderr).not.toContain("downloading");
});

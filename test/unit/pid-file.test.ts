/** Claims as pid files (src/files/pid-file.ts): whole when seen, and a stale one's takeover never drops a claim made meanwhile. */
import { expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createPidFile, readPidFile, removeStalePidFile } from "../../src/files/pid-file.ts";
import { tempDir } from "../helpers/tmp.ts";

/** A pid no process has: one that just exited. */
function deadPid(): number {
  const gone = Bun.spawnSync(["true"]);
  return gone.pid;
}

test("createPidFile makes the claim with our pid, once, and leaves no temp file beside it", () => {
  using dir = tempDir("keg-pid-");
  const path = dir.join("serve.pid");
  expect(createPidFile(path)).toBe(true);
  expect(readFileSync(path, "utf8")).toBe(String(process.pid));
  expect(createPidFile(path)).toBe(false);
  expect(readdirSync(dir.path)).toEqual(["serve.pid"]);
});

test("readPidFile: the pid, or 0 for a missing, empty or garbled claim", () => {
  using dir = tempDir("keg-pid-");
  expect(readPidFile(dir.join("none.pid"))).toBe(0);
  for (const [text, pid] of [["123", 123], ["", 0], ["x1", 0], ["-4", 0], ["1.5", 0]] as const) {
    writeFileSync(dir.join("a.pid"), text);
    expect(readPidFile(dir.join("a.pid"))).toBe(pid);
  }
});

test("removeStalePidFile removes the stale claim it judged, so it can be taken again", () => {
  using dir = tempDir("keg-pid-");
  const path = dir.join("users.pid");
  const stale = deadPid();
  writeFileSync(path, String(stale));
  removeStalePidFile(path, stale);
  expect(readdirSync(dir.path)).toEqual([]);
  expect(createPidFile(path)).toBe(true);
});

test("removeStalePidFile after another process took the stale claim over: the new claim stays, whole", () => {
  using dir = tempDir("keg-pid-");
  const path = dir.join("users.pid");
  const stale = deadPid();
  // Judged stale with `stale` in it, but by now it holds a live process's claim (ours, here).
  writeFileSync(path, String(process.pid));
  removeStalePidFile(path, stale);
  expect(readFileSync(path, "utf8")).toBe(String(process.pid));
  expect(readdirSync(dir.path)).toEqual(["users.pid"]);
});

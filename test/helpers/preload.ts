/**
 * Runs once per `bun test`: puts every temp dir of the run under one folder
 * (TMPDIR, inherited by the agents and keg processes too) removed at the end,
 * copies the compiled binaries out of the checkout there when they are built
 * (so a native module missing from them fails here, not on a box), and keeps
 * NODE_ENV=test away from the processes the tests start (see bin.ts). Without
 * a build the unit and in-process tests still run (`npm run test:unit`); the
 * e2e tests then fail, saying to build (bin.ts).
 */
import { afterAll } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARIES } from "./bin.ts";

const dist = join(import.meta.dir, "..", "..", "dist");

if (!process.env.KEG_TEST_BIN) {
  const root = mkdtempSync(join(tmpdir(), "keg-test-run-"));
  const bin = join(root, "bin");
  mkdirSync(bin);
  for (const name of BINARIES) {
    if (!existsSync(join(dist, name))) continue;
    copyFileSync(join(dist, name), join(bin, name));
    chmodSync(join(bin, name), 0o755);
  }
  process.env.KEG_TEST_BIN = bin;
  process.env.TMPDIR = root;
  // bun test fires no "exit" event for the preload; afterAll here runs once after every file.
  afterAll(() => rmSync(root, { recursive: true, force: true }));
}
